// SPDX-License-Identifier: LGPL-2.1-or-later
// The DVR recorder on a temporary directory: what it writes, what it
// indexes, and what a crash (a torn tail; a child killed with SIGKILL while
// it writes) leaves behind; a store publishing into it.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <thread>

#include <glib.h>
#include <gtest/gtest.h>

#include "../../common/wait_until.h"
#include "hls/stream_store.h"
#include "storage/recorder.h"
#include "storage/segment_index.h"
#include "storage_test_util.h"

namespace mirror::test {
namespace {

constexpr int64_t kSecond = 1000000000LL;
constexpr int64_t kT0 = 1796558400LL * kSecond; // 2026-12-06T12:00:00Z, a period start

RecordedSegment
segment (uint64_t msn, int64_t wallclock_ns, const std::string &init = "INIT-A")
{
  RecordedSegment s;
  s.stream = "cam/1";
  s.rendition = "360p";
  s.msn = msn;
  s.wallclock_ns = wallclock_ns;
  s.duration_ns = kSecond / 2;
  s.independent = true;
  s.init = Bytes::copy (init);
  for (int p = 0; p < 3; p++)
    s.parts.push_back (Bytes::copy ("seg" + std::to_string (msn) + "part" + std::to_string (p)));
  return s;
}

std::string
base_of (const std::string &dir, int64_t period_start_ns)
{
  return Recorder::rendition_dir (dir, "cam/1", "360p") + "/"
         + std::to_string (period_start_ns / kSecond);
}

RecorderOptions
options (const std::string &dir)
{
  RecorderOptions o;
  o.dir = dir;
  o.sync = false; // kill -9 keeps the page cache; the SIGKILL test syncs
  return o;
}

TEST (Recorder, SegmentsAreAppendedAfterTheirInitAndIndexed)
{
  TempDir dir;
  {
    Recorder recorder (options (dir.path ()));
    for (uint64_t msn = 7; msn < 10; msn++)
      ASSERT_TRUE (recorder.submit (segment (msn, kT0 + int64_t (msn - 7) * kSecond / 2)));
    recorder.flush ();
    EXPECT_EQ (recorder.counters ().segments, 3u);
  }
  const std::string base = base_of (dir.path (), kT0);
  EXPECT_NE (base.find ("/cam_1/360p/"), std::string::npos) << base;
  std::vector<IndexRecord> records;
  ASSERT_TRUE (read_index (base + ".idx", &records));
  ASSERT_EQ (records.size (), 4u);
  const std::string data = file_text (base + ".cmf");
  EXPECT_EQ (records[0].kind, IndexKind::kInit);
  EXPECT_EQ (data.substr (records[0].offset, records[0].length), "INIT-A");
  for (int i = 1; i < 4; i++) {
    const IndexRecord &r = records[i];
    EXPECT_EQ (r.kind, IndexKind::kSegment);
    EXPECT_EQ (r.msn, uint64_t (6 + i));
    EXPECT_EQ (r.parts, 3u);
    EXPECT_TRUE (r.independent);
    EXPECT_EQ (r.wallclock_ns, kT0 + (i - 1) * kSecond / 2);
    EXPECT_EQ (data.substr (r.offset, r.length), "seg" + std::to_string (r.msn) + "part0seg"
                                                     + std::to_string (r.msn) + "part1seg"
                                                     + std::to_string (r.msn) + "part2");
  }
  EXPECT_EQ (records[3].offset + records[3].length, data.size ());
}

TEST (Recorder, EachPeriodStartsWithTheInitAndANewInitIsADiscontinuity)
{
  TempDir dir;
  RecorderOptions o = options (dir.path ());
  o.period_ns = 2 * kSecond;
  Recorder recorder (o);
  ASSERT_TRUE (recorder.submit (segment (0, kT0)));
  ASSERT_TRUE (recorder.submit (segment (1, kT0 + kSecond / 2, "INIT-B")));
  ASSERT_TRUE (recorder.submit (segment (2, kT0 + 2 * kSecond, "INIT-B")));
  recorder.flush ();

  std::vector<IndexRecord> first, second;
  ASSERT_TRUE (read_index (base_of (dir.path (), kT0) + ".idx", &first));
  ASSERT_TRUE (read_index (base_of (dir.path (), kT0 + 2 * kSecond) + ".idx", &second));
  ASSERT_EQ (first.size (), 4u); // init A, segment 0, init B, segment 1
  EXPECT_EQ (first[2].kind, IndexKind::kInit);
  EXPECT_FALSE (first[1].discontinuity);
  EXPECT_TRUE (first[3].discontinuity);
  ASSERT_EQ (second.size (), 2u);
  EXPECT_EQ (second[0].kind, IndexKind::kInit);
  EXPECT_EQ (file_text (base_of (dir.path (), kT0 + 2 * kSecond) + ".cmf").substr (0, 6), "INIT-B");
  EXPECT_FALSE (second[1].discontinuity); // the same init as before, in a new file
  EXPECT_EQ (recorder.counters ().periods_opened, 2u);
}

TEST (Recorder, AnOutageIsMarkedAsAGap)
{
  TempDir dir;
  Recorder recorder (options (dir.path ()));
  ASSERT_TRUE (recorder.submit (segment (0, kT0)));
  ASSERT_TRUE (recorder.submit (segment (1, kT0 + kSecond / 2)));
  ASSERT_TRUE (recorder.submit (segment (2, kT0 + 10 * kSecond)));
  recorder.flush ();
  std::vector<IndexRecord> records;
  ASSERT_TRUE (read_index (base_of (dir.path (), kT0) + ".idx", &records));
  ASSERT_EQ (records.size (), 4u);
  EXPECT_FALSE (records[2].gap);
  EXPECT_TRUE (records[3].gap);
}

TEST (Recorder, APeriodOpenedAgainLosesOnlyItsTornTail)
{
  TempDir dir;
  const std::string base = base_of (dir.path (), kT0);
  {
    Recorder recorder (options (dir.path ()));
    ASSERT_TRUE (recorder.submit (segment (0, kT0)));
    ASSERT_TRUE (recorder.submit (segment (1, kT0 + kSecond / 2)));
    recorder.flush ();
  }
  // What a crash mid-batch leaves: data no record covers, half a record.
  std::ofstream (base + ".cmf", std::ios::app | std::ios::binary) << "unindexed bytes";
  std::ofstream (base + ".idx", std::ios::app | std::ios::binary) << std::string (30, 'x');

  Recorder recorder (options (dir.path ()));
  ASSERT_TRUE (recorder.submit (segment (2, kT0 + kSecond)));
  recorder.flush ();
  EXPECT_EQ (recorder.counters ().recovered_bytes_cut, 15u);
  std::vector<IndexRecord> records;
  uint64_t valid = 0;
  ASSERT_TRUE (read_index (base + ".idx", &records, &valid));
  ASSERT_EQ (records.size (), 4u); // the init is not written again: it is the same
  struct stat st;
  ASSERT_EQ (stat ((base + ".idx").c_str (), &st), 0);
  EXPECT_EQ (uint64_t (st.st_size), valid);
  const std::string data = file_text (base + ".cmf");
  EXPECT_EQ (records[3].msn, 2u);
  EXPECT_EQ (records[3].offset + records[3].length, data.size ());
  EXPECT_EQ (data.substr (records[3].offset, 9), "seg2part0");
}

// A recorder in a child process that syncs every batch is killed with
// SIGKILL while it writes: every record it left points at whole data, and
// a recorder opening the period again goes on from there.
TEST (Recorder, KilledMidWriteLeavesAValidIndex)
{
  TempDir dir;
  const std::string base = base_of (dir.path (), kT0);
  pid_t child = fork ();
  ASSERT_GE (child, 0);
  if (child == 0) {
    RecorderOptions o = options (dir.path ());
    o.sync = true;
    Recorder recorder (o);
    for (uint64_t msn = 0;; msn++) {
      RecordedSegment s = segment (msn, kT0 + int64_t (msn) * kSecond / 100);
      s.duration_ns = kSecond / 100;
      s.parts.push_back (Bytes::take (std::vector<uint8_t> (64 * 1024, uint8_t (msn))));
      recorder.submit (std::move (s));
      if (msn % 16 == 0)
        std::this_thread::sleep_for (std::chrono::milliseconds (1));
    }
  }
  // Until some hundred segments are indexed (or 30 s, scaled), then kill it.
  std::vector<IndexRecord> records;
  const auto deadline = std::chrono::steady_clock::now () + scaled (std::chrono::seconds (30));
  while (std::chrono::steady_clock::now () < deadline) {
    read_index (base + ".idx", &records);
    if (records.size () > 200)
      break;
    std::this_thread::sleep_for (std::chrono::milliseconds (10));
  }
  kill (child, SIGKILL);
  int status = 0;
  ASSERT_EQ (waitpid (child, &status, 0), child);
  ASSERT_TRUE (WIFSIGNALED (status));
  ASSERT_GT (records.size (), 200u);

  ASSERT_TRUE (read_index (base + ".idx", &records));
  const std::string data = file_text (base + ".cmf");
  for (const IndexRecord &r : records) {
    ASSERT_LE (r.offset + r.length, data.size ());
    if (r.kind == IndexKind::kSegment) {
      EXPECT_EQ (data.substr (r.offset, 4 + std::to_string (r.msn).size ()),
                 "seg" + std::to_string (r.msn) + "p");
    }
  }
  const uint64_t last_msn = records.back ().msn;

  Recorder recorder (options (dir.path ()));
  ASSERT_TRUE (
      recorder.submit (segment (last_msn + 1, kT0 + int64_t (last_msn + 1) * kSecond / 100)));
  recorder.flush ();
  std::vector<IndexRecord> after;
  ASSERT_TRUE (read_index (base + ".idx", &after));
  ASSERT_EQ (after.size (), records.size () + 1);
  EXPECT_EQ (after.back ().msn, last_msn + 1);
  EXPECT_EQ (after.back ().offset + after.back ().length, file_text (base + ".cmf").size ());
}

TEST (Recorder, IdleRenditionsCloseTheirFilesAndOpenThemAgain)
{
  TempDir dir;
  RecorderOptions o = options (dir.path ());
  // Long enough (and stretched by MIRROR_TEST_SLOWDOWN) that a busy box
  // cannot close the period between the flush and the count of open ones.
  o.idle_close_us = scaled (std::chrono::milliseconds (500)).count () * 1000;
  Recorder recorder (o);
  ASSERT_TRUE (recorder.submit (segment (0, kT0)));
  recorder.flush ();
  EXPECT_EQ (recorder.counters ().open_periods, 1u);
  const auto deadline = std::chrono::steady_clock::now () + scaled (std::chrono::seconds (10));
  while (recorder.counters ().open_periods > 0 && std::chrono::steady_clock::now () < deadline)
    std::this_thread::sleep_for (std::chrono::milliseconds (20));
  EXPECT_EQ (recorder.counters ().open_periods, 0u);
  ASSERT_TRUE (recorder.submit (segment (1, kT0 + kSecond / 2)));
  recorder.flush ();
  std::vector<IndexRecord> records;
  ASSERT_TRUE (read_index (base_of (dir.path (), kT0) + ".idx", &records));
  ASSERT_EQ (records.size (), 3u); // the same init, not written again
  EXPECT_EQ (records[2].msn, 1u);
}

TEST (Recorder, AFullQueueDropsAndCounts)
{
  TempDir dir;
  RecorderOptions o = options (dir.path ());
  o.queue_limit_bytes = 10;
  Recorder recorder (o);
  EXPECT_FALSE (recorder.submit (segment (0, kT0)));
  recorder.flush ();
  EXPECT_EQ (recorder.counters ().dropped_segments, 1u);
  EXPECT_EQ (recorder.counters ().segments, 0u);
}

TEST (Recorder, PeriodsPastTheRetentionTimeGo)
{
  TempDir dir;
  RecorderOptions o = options (dir.path ());
  o.period_ns = kSecond;
  o.retention_ns = 2 * kSecond;
  Recorder recorder (o);
  for (int t : { 0, 1, 2, 5 }) {
    ASSERT_TRUE (recorder.submit (segment (uint64_t (t), kT0 + t * kSecond)));
    recorder.flush ();
  }
  // At 5 s, what ended by 3 s goes: the periods from 0, 1 and 2 s.
  EXPECT_EQ (recorder.counters ().periods_removed, 3u);
  for (int t : { 0, 1, 2 }) {
    struct stat st;
    EXPECT_NE (stat ((base_of (dir.path (), kT0 + t * kSecond) + ".cmf").c_str (), &st), 0) << t;
  }
  std::vector<IndexRecord> records;
  EXPECT_TRUE (read_index (base_of (dir.path (), kT0 + 5 * kSecond) + ".idx", &records));
  EXPECT_EQ (records.size (), 2u);
}

TEST (Recorder, PackagedSegmentsAreMergedUpToTheSegmentLength)
{
  TempDir dir;
  RecorderOptions o = options (dir.path ());
  o.segment_length_ns = 2 * kSecond;
  {
    Recorder recorder (o);
    for (uint64_t i = 0; i < 10; i++)
      ASSERT_TRUE (recorder.submit (segment (i, kT0 + int64_t (i) * kSecond / 2)));
    recorder.flush ();
    std::vector<IndexRecord> records;
    ASSERT_TRUE (read_index (base_of (dir.path (), kT0) + ".idx", &records));
    // The init and two whole recorded segments; the last two packaged ones
    // are written but wait for more.
    ASSERT_EQ (records.size (), 3u);
    for (size_t i : { 1, 2 }) {
      EXPECT_EQ (records[i].segments, 4u);
      EXPECT_EQ (records[i].parts, 12u);
      EXPECT_EQ (records[i].duration_ns, 2 * kSecond);
      EXPECT_EQ (records[i].msn, (i - 1) * 4);
    }
    EXPECT_EQ (records[2].offset, records[1].offset + records[1].length);
  }
  // Stopping indexes what was being merged.
  std::vector<IndexRecord> records;
  ASSERT_TRUE (read_index (base_of (dir.path (), kT0) + ".idx", &records));
  ASSERT_EQ (records.size (), 4u);
  EXPECT_EQ (records[3].segments, 2u);
  EXPECT_EQ (records[3].msn, 8u);
  struct stat st;
  ASSERT_EQ (stat ((base_of (dir.path (), kT0) + ".cmf").c_str (), &st), 0);
  EXPECT_EQ (uint64_t (st.st_size), records[3].offset + records[3].length);
}

// Period files of 1 s: segment t goes to the period starting at t s.
void
record_periods (Recorder &recorder, std::initializer_list<int> seconds)
{
  for (int t : seconds) {
    ASSERT_TRUE (recorder.submit (segment (uint64_t (t), kT0 + t * kSecond)));
    recorder.flush ();
  }
}

bool
exists (const std::string &path)
{
  struct stat st;
  return stat (path.c_str (), &st) == 0;
}

TEST (Recorder, TheCacheCapRemovesTheOldestClosedPeriods)
{
  TempDir dir;
  RecorderOptions o = options (dir.path ());
  o.period_ns = kSecond;
  o.retention_ns = 0;
  o.space_check_us = 0; // after every batch
  // One period: init (6) + 3 parts (~11 each) and two 64-byte records.
  o.max_bytes = 3 * (6 + 3 * 11 + 2 * 64);
  Recorder recorder (o);
  record_periods (recorder, { 0, 1, 2, 3, 4, 5 });
  // The newest three fit; the one being written is never removed.
  for (int t : { 0, 1, 2 })
    EXPECT_FALSE (exists (base_of (dir.path (), kT0 + t * kSecond) + ".idx")) << t;
  for (int t : { 3, 4, 5 })
    EXPECT_TRUE (exists (base_of (dir.path (), kT0 + t * kSecond) + ".cmf")) << t;
  EXPECT_EQ (recorder.counters ().periods_removed, 3u);
  EXPECT_LE (recorder.counters ().cache_bytes, o.max_bytes);
}

TEST (Recorder, WithS3OnlyUploadedPeriodsLeaveAndTheirIndexStays)
{
  TempDir dir;
  RecorderOptions o = options (dir.path ());
  o.period_ns = kSecond;
  o.retention_ns = 0;
  o.space_check_us = 0;
  o.keep_until_uploaded = true;
  o.ttl_ns = 0;
  o.max_bytes = 1; // over it all along: the cap alone removes nothing
  Recorder recorder (o);
  record_periods (recorder, { 0, 1, 2 });
  auto size_of = [] (const std::string &path) {
    struct stat st;
    return stat (path.c_str (), &st) == 0 ? uint64_t (st.st_size) : 0;
  };
  std::string error;
  for (int t : { 0, 1 }) {
    const std::string base = base_of (dir.path (), kT0 + t * kSecond);
    // Period 1's marker is stale: its data file has grown since.
    ASSERT_TRUE (write_upload_marker (
        base, { size_of (base + ".cmf") - uint64_t (t), size_of (base + ".idx") }, &error));
  }
  EXPECT_TRUE (period_uploaded (base_of (dir.path (), kT0)));
  EXPECT_FALSE (period_uploaded (base_of (dir.path (), kT0 + kSecond)));
  record_periods (recorder, { 3 });
  const std::string first = base_of (dir.path (), kT0);
  EXPECT_FALSE (exists (first + ".cmf"));
  EXPECT_TRUE (exists (first + ".idx"));
  EXPECT_TRUE (period_uploaded (first)); // the index and marker still say it is in S3
  for (int t : { 1, 2, 3 })
    EXPECT_TRUE (exists (base_of (dir.path (), kT0 + t * kSecond) + ".cmf")) << t;
  EXPECT_EQ (recorder.counters ().periods_evicted, 1u);
  EXPECT_EQ (recorder.counters ().periods_removed, 0u);
}

TEST (Recorder, APeriodReopenedAfterItsUploadIsUploadedAgain)
{
  TempDir dir;
  RecorderOptions o = options (dir.path ());
  const std::string base = base_of (dir.path (), kT0);
  std::vector<std::string> closed;
  {
    Recorder recorder (o);
    record_periods (recorder, { 0 });
  }
  struct stat data, index;
  ASSERT_EQ (stat ((base + ".cmf").c_str (), &data), 0);
  ASSERT_EQ (stat ((base + ".idx").c_str (), &index), 0);
  std::string error;
  ASSERT_TRUE (
      write_upload_marker (base, { uint64_t (data.st_size), uint64_t (index.st_size) }, &error));
  EXPECT_TRUE (period_uploaded (base));
  // Long enough (and stretched by MIRROR_TEST_SLOWDOWN) that the period is
  // still open when the test looks right after the flush: 1 ms was often
  // gone by then on a busy box.
  o.idle_close_us = scaled (std::chrono::milliseconds (500)).count () * 1000;
  Recorder recorder (o);
  recorder.set_on_period_closed ([&] (const std::string &b) { closed.push_back (b); });
  ASSERT_TRUE (recorder.submit (segment (1, kT0 + kSecond / 2)));
  recorder.flush ();
  EXPECT_FALSE (exists (base + ".s3"));
  EXPECT_TRUE (recorder.is_open (base));
  // Closed when idle, and said so (the uploader takes it from there).
  const auto deadline = std::chrono::steady_clock::now () + scaled (std::chrono::seconds (10));
  while (recorder.is_open (base) && std::chrono::steady_clock::now () < deadline)
    std::this_thread::sleep_for (std::chrono::milliseconds (10));
  EXPECT_FALSE (recorder.is_open (base));
  recorder.flush ();
}

TEST (Recorder, AStoreRecordsEachSegmentOnceItIsComplete)
{
  TempDir dir;
  StreamConfig config;
  config.numbering_clock_ns = 0;
  config.recorder = std::make_shared<Recorder> (options (dir.path ()));
  StreamStore store ("cam/1", config);
  RenditionInfo info;
  info.name = "360p";
  ASSERT_TRUE (store.add_rendition (info));
  ASSERT_TRUE (store.set_init ("360p", Bytes::copy ("INIT")));
  for (uint64_t msn = 0; msn < 3; msn++)
    for (uint32_t p = 0; p < 5; p++) {
      PartInput in;
      in.msn = msn;
      in.part_index = p;
      in.duration_ns = kSecond / 10;
      in.independent = p == 0;
      in.last_in_segment = p == 4;
      in.wallclock_ns = kT0 + int64_t (msn * 5 + p) * kSecond / 10;
      in.bytes = Bytes::copy ("m" + std::to_string (msn) + "p" + std::to_string (p));
      ASSERT_TRUE (store.add_part ("360p", in));
    }
  store.finish ("360p");
  config.recorder->flush ();
  std::vector<IndexRecord> records;
  ASSERT_TRUE (read_index (base_of (dir.path (), kT0) + ".idx", &records));
  ASSERT_EQ (records.size (), 4u);
  for (uint64_t msn = 0; msn < 3; msn++) {
    EXPECT_EQ (records[msn + 1].msn, msn);
    EXPECT_EQ (records[msn + 1].parts, 5u);
    EXPECT_EQ (records[msn + 1].duration_ns, kSecond / 2);
    EXPECT_EQ (records[msn + 1].wallclock_ns, kT0 + int64_t (msn) * kSecond / 2);
  }
  EXPECT_TRUE (records[1].discontinuity == false);
  EXPECT_EQ (file_text (base_of (dir.path (), kT0) + ".cmf"),
             "INITm0p0m0p1m0p2m0p3m0p4m1p0m1p1m1p2m1p3m1p4m2p0m2p1m2p2m2p3m2p4");
}

} // namespace
} // namespace mirror::test
