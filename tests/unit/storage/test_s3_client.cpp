// SPDX-License-Identifier: LGPL-2.1-or-later
// The S3 client against a real S3 server: s3rver (web/node_modules, run by
// s3rver.mjs, which also checks every SigV4 signature and pages listings two
// at a time), directly and through s3_fault_proxy.py, which answers chosen
// requests with 503 SlowDown, 429, a stall or a reset mid-body. Both run as
// child processes on free ports for the whole program.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include <glib.h>
#include <gtest/gtest.h>

#include "../../common/wait_until.h"
#include "storage/recorder.h"
#include "storage/s3_client.h"
#include "storage/uploader.h"
#include "storage_test_util.h"

namespace mirror::test {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;
const char *const kBucket = "mirror-test";

using Clock = std::chrono::steady_clock;

int64_t
ms_left (Clock::time_point deadline)
{
  return std::max<int64_t> (
      0, std::chrono::duration_cast<std::chrono::milliseconds> (deadline - Clock::now ()).count ());
}

// Reads up to a newline from @fd until @deadline; false on EOF or time out.
bool
read_line (int fd, Clock::time_point deadline, std::string *line)
{
  line->clear ();
  for (;;) {
    struct pollfd p = { fd, POLLIN, 0 };
    int n = poll (&p, 1, int (ms_left (deadline)));
    if (n == 0)
      return false;
    if (n < 0 && errno == EINTR)
      continue;
    char c;
    ssize_t got = read (fd, &c, 1);
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      return false;
    if (c == '\n')
      return true;
    *line += c;
  }
}

// A helper program with its stdin and stdout on pipes: its first line is
// what it says when ready; it exits when stdin closes, else on SIGTERM.
class Child {
 public:
  ~Child () { stop (); }

  bool start (const std::vector<std::string> &args, std::string *first_line, std::string *error)
  {
    std::vector<gchar *> argv;
    for (const std::string &a : args)
      argv.push_back (const_cast<gchar *> (a.c_str ()));
    argv.push_back (nullptr);
    GError *e = nullptr;
    if (!g_spawn_async_with_pipes (nullptr, argv.data (), nullptr, G_SPAWN_DO_NOT_REAP_CHILD,
                                   nullptr, nullptr, &pid_, &stdin_, &stdout_, nullptr, &e)) {
      *error = e->message;
      g_error_free (e);
      return false;
    }
    // Node on two busy cores can take a few seconds.
    if (!read_line (stdout_, Clock::now () + std::chrono::seconds (30), first_line)) {
      *error = "nothing on stdout from";
      for (const std::string &a : args)
        *error += " " + a;
      return false;
    }
    return true;
  }

  void stop ()
  {
    if (stdin_ >= 0)
      close (stdin_);
    stdin_ = -1;
    if (pid_ > 0) {
      kill (pid_, SIGTERM);
      const Clock::time_point deadline = Clock::now () + std::chrono::seconds (5);
      int status;
      while (waitpid (pid_, &status, WNOHANG) == 0) {
        if (ms_left (deadline) == 0) {
          kill (pid_, SIGKILL);
          waitpid (pid_, &status, 0);
          break;
        }
        std::this_thread::sleep_for (std::chrono::milliseconds (10));
      }
      pid_ = 0;
    }
    if (stdout_ >= 0)
      close (stdout_);
    stdout_ = -1;
  }

 private:
  GPid pid_ = 0;
  int stdin_ = -1;
  int stdout_ = -1;
};

Child *g_s3rver;
Child *g_proxy;
int g_s3rver_port;
int g_proxy_port;
int g_control_port;

class Servers : public ::testing::Environment {
 public:
  void SetUp () override
  {
    const char *root = g_getenv ("MIRROR_SOURCE_ROOT");
    ASSERT_NE (root, nullptr) << "MIRROR_SOURCE_ROOT (the source tree) is not set";
    const std::string dir = std::string (root) + "/tests/unit/storage/";
    const std::string module = std::string (root) + "/web/node_modules/s3rver/package.json";
    ASSERT_TRUE (g_file_test (module.c_str (), G_FILE_TEST_EXISTS))
        << module << " is missing: npm ci --prefix web";
    gchar *node = g_find_program_in_path ("node");
    gchar *python = g_find_program_in_path ("python3");
    ASSERT_NE (node, nullptr) << "node is not on PATH";
    ASSERT_NE (python, nullptr) << "python3 is not on PATH";
    std::string line, error;
    g_s3rver = new Child;
    ASSERT_TRUE (g_s3rver->start ({ node, "--openssl-legacy-provider", dir + "s3rver.mjs",
                                    "--bucket", kBucket, "--port", "0", "--page-size", "2" },
                                  &line, &error))
        << error;
    g_s3rver_port = atoi (line.c_str ());
    ASSERT_GT (g_s3rver_port, 0) << line;
    g_proxy = new Child;
    ASSERT_TRUE (g_proxy->start (
        { python, dir + "s3_fault_proxy.py", std::to_string (g_s3rver_port) }, &line, &error))
        << error;
    ASSERT_EQ (sscanf (line.c_str (), "%d %d", &g_proxy_port, &g_control_port), 2) << line;
    g_free (node);
    g_free (python);
  }

  void TearDown () override
  {
    delete g_proxy;
    delete g_s3rver;
  }
};

// Started before the first test, stopped after the last.
::testing::Environment *const g_servers = ::testing::AddGlobalTestEnvironment (new Servers);

// One command to the fault proxy's control port, and its one-line answer.
std::string
proxy_command (const std::string &command)
{
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons (uint16_t (g_control_port));
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  std::string reply;
  if (connect (fd, reinterpret_cast<struct sockaddr *> (&addr), sizeof addr) == 0) {
    const std::string line = command + "\n";
    if (write (fd, line.data (), line.size ()) == ssize_t (line.size ()))
      read_line (fd, Clock::now () + std::chrono::seconds (10), &reply);
  }
  close (fd);
  return reply;
}

// "requests=3 forwarded=1 slowdown=2 ..." as a map.
std::map<std::string, int>
proxy_counts ()
{
  std::map<std::string, int> counts;
  std::istringstream in (proxy_command ("counts"));
  std::string word;
  while (in >> word) {
    size_t eq = word.find ('=');
    if (eq != std::string::npos)
      counts[word.substr (0, eq)] = atoi (word.c_str () + eq + 1);
  }
  return counts;
}

std::string
random_bytes (size_t size, uint32_t seed)
{
  std::mt19937 random (seed);
  std::string out (size, '\0');
  for (char &c : out)
    c = char (random ());
  return out;
}

std::string
write_file (const std::string &path, const std::string &data)
{
  std::ofstream out (path, std::ios::binary);
  out.write (data.data (), std::streamsize (data.size ()));
  return path;
}

class S3 : public ::testing::Test {
 protected:
  void SetUp () override
  {
    ASSERT_EQ (proxy_command ("clear"), "ok");
    prefix_ = std::string ("mirror/")
              + ::testing::UnitTest::GetInstance ()->current_test_info ()->name () + "/";
  }

  S3Config config (int port) const
  {
    S3Config c;
    c.endpoint = "http://127.0.0.1:" + std::to_string (port);
    c.bucket = kBucket;
    c.access_key_id = "S3RVER";
    c.secret_access_key = "S3RVER";
    c.prefix = prefix_;
    // Short, to keep the stall test short, but stretched by
    // MIRROR_TEST_SLOWDOWN: s3rver on a busy box may be slow to answer a
    // small request, and a spurious stall would be one more retry.
    c.connect_timeout_ms = scaled (std::chrono::milliseconds (2000)).count ();
    c.stall_timeout_s = scaled (std::chrono::milliseconds (2000)).count () / 1000;
    return c;
  }
  S3Config direct () const { return config (g_s3rver_port); }
  S3Config proxied () const { return config (g_proxy_port); }
  static S3RetryPolicy fast (int attempts = 5) { return { attempts, 10, 100 }; }

  // create, upload_part for each @part_size, complete: the parts' results.
  std::vector<S3Result> multipart (S3Client &client, const std::string &key,
                                   const std::string &file, uint64_t size, uint64_t part_size,
                                   S3Result *complete)
  {
    std::vector<S3Result> parts;
    std::string upload_id;
    S3Result created = client.create_multipart_upload (key, "video/mp4", &upload_id);
    EXPECT_TRUE (created.ok) << created.message;
    if (!created.ok)
      return parts;
    std::vector<std::string> etags;
    for (uint64_t offset = 0, n = 1; offset < size; offset += part_size, n++) {
      parts.push_back (client.upload_part (key, upload_id, int (n), file, offset,
                                           std::min (part_size, size - offset)));
      EXPECT_TRUE (parts.back ().ok) << parts.back ().message;
      etags.push_back (parts.back ().etag);
    }
    *complete = client.complete_multipart_upload (key, upload_id, etags);
    EXPECT_TRUE (complete->ok) << complete->message;
    return parts;
  }

  std::string fetch (S3Client &client, const std::string &key)
  {
    std::string out;
    S3Result r = client.get_object (key, 0, 0, &out);
    EXPECT_TRUE (r.ok) << r.message;
    return out;
  }

  TempDir dir_;
  std::string prefix_;
};

TEST_F (S3, PutFromAFileRangeAndFromMemoryThenGetWholeAndRanges)
{
  const std::string data = random_bytes (300000, 1);
  const std::string file = write_file (dir_.path () + "/data", data);
  S3Client client (direct (), fast ());

  S3Result put = client.put_object ("range.cmf", file, 1000, 200000, "video/mp4");
  ASSERT_TRUE (put.ok) << put.message;
  EXPECT_EQ (put.http_status, 200);
  EXPECT_EQ (put.attempts, 1);
  EXPECT_EQ (put.etag.front (), '"') << put.etag;
  EXPECT_NE (put.message.find ("PUT " + prefix_ + "range.cmf: 200"), std::string::npos)
      << put.message;

  EXPECT_EQ (fetch (client, "range.cmf"), data.substr (1000, 200000));
  std::string part;
  S3Result got = client.get_object ("range.cmf", 5000, 777, &part);
  ASSERT_TRUE (got.ok) << got.message;
  EXPECT_EQ (got.http_status, 206);
  EXPECT_EQ (part, data.substr (1000 + 5000, 777));
  got = client.get_object ("range.cmf", 199000, 0, &part); // to the end
  ASSERT_TRUE (got.ok) << got.message;
  EXPECT_EQ (part, data.substr (1000 + 199000, 1000));

  const std::string small = std::string ("{\"a\":\0\x01\xff}", 9) + random_bytes (5000, 2);
  put = client.put_object ("index.json", small, "application/json");
  ASSERT_TRUE (put.ok) << put.message;
  EXPECT_EQ (fetch (client, "index.json"), small);

  const S3Client::Counters c = client.counters ();
  EXPECT_EQ (c.requests, 6u);
  EXPECT_EQ (c.retries, 0u);
  EXPECT_EQ (c.failures, 0u);
  EXPECT_EQ (c.bytes_sent, 200000u + small.size ());

  ASSERT_TRUE (client.delete_object ("index.json").ok);
  got = client.get_object ("index.json", 0, 0, &part);
  EXPECT_FALSE (got.ok);
  EXPECT_EQ (got.http_status, 404);
  EXPECT_EQ (got.code, "NoSuchKey");
  EXPECT_FALSE (got.retryable);
  EXPECT_EQ (got.attempts, 1);
  EXPECT_NE (got.message.find ("GET " + prefix_ + "index.json: 404 NoSuchKey: "), std::string::npos)
      << got.message;
}

// Keys and prefixes with characters that S3 wants encoded, in the path and
// in the listing's query: the server checks that the signature covers them
// as S3 would canonicalise them.
TEST_F (S3, KeysAndPrefixesAreEncodedAsS3SignsThem)
{
  S3Config c = direct ();
  c.prefix = "odd prefix+=&/" + prefix_;
  S3Client client (c, fast ());
  const std::vector<std::string> keys
      = { "a b+c=d&e?f#g%h!'()*~;,:@$[]_-.bin", "\xc3\xbcnicode/\xc3\xa7/x.cmf", "plain/1.cmf" };
  for (size_t i = 0; i < keys.size (); i++) {
    const std::string body = "body " + std::to_string (i);
    S3Result put = client.put_object (keys[i], body, "text/plain");
    ASSERT_TRUE (put.ok) << put.message;
    EXPECT_EQ (fetch (client, keys[i]), body);
  }
  std::vector<S3Client::Object> objects;
  S3Result listed = client.list_objects ("a b+c=", &objects);
  ASSERT_TRUE (listed.ok) << listed.message;
  ASSERT_EQ (objects.size (), 1u);
  EXPECT_EQ (objects[0].key, keys[0]);
  listed = client.list_objects ("", &objects);
  ASSERT_TRUE (listed.ok) << listed.message;
  ASSERT_EQ (objects.size (), 3u); // two pages
  EXPECT_EQ (objects[0].key, keys[0]);
  EXPECT_EQ (objects[1].key, keys[2]);
  EXPECT_EQ (objects[2].key, keys[1]);
}

TEST_F (S3, ListObjectsFollowsEveryPage)
{
  S3Client client (direct (), fast ());
  for (int i = 0; i < 5; i++)
    ASSERT_TRUE (
        client.put_object ("cam/" + std::to_string (i), std::string (i * 100, 'x'), "").ok);
  ASSERT_TRUE (client.put_object ("other/0", "y", "").ok);
  std::vector<S3Client::Object> objects;
  S3Result listed = client.list_objects ("cam/", &objects);
  ASSERT_TRUE (listed.ok) << listed.message;
  EXPECT_EQ (listed.attempts, 3); // pages of two
  ASSERT_EQ (objects.size (), 5u);
  for (int i = 0; i < 5; i++) {
    EXPECT_EQ (objects[i].key, "cam/" + std::to_string (i));
    EXPECT_EQ (objects[i].size, uint64_t (i * 100));
  }
}

TEST_F (S3, MultipartUploadOf12MiBInThreeParts)
{
  const std::string data = random_bytes (12 * kMiB, 3);
  const std::string file = write_file (dir_.path () + "/big", data);
  S3Client client (direct (), fast ());

  std::string upload_id;
  S3Result r = client.create_multipart_upload ("1796566200.cmf", "video/mp4", &upload_id);
  ASSERT_TRUE (r.ok) << r.message;
  ASSERT_FALSE (upload_id.empty ());
  std::vector<std::string> etags;
  for (int n = 1; n <= 3; n++) {
    const uint64_t offset = uint64_t (n - 1) * 5 * kMiB;
    r = client.upload_part ("1796566200.cmf", upload_id, n, file, offset,
                            std::min (5 * kMiB, data.size () - offset));
    ASSERT_TRUE (r.ok) << r.message;
    EXPECT_NE (r.message.find ("part " + std::to_string (n) + ": 200"), std::string::npos)
        << r.message;
    etags.push_back (r.etag);
  }
  std::vector<S3Client::Upload> uploads;
  r = client.list_multipart_uploads ("", &uploads);
  ASSERT_TRUE (r.ok) << r.message;
  ASSERT_EQ (uploads.size (), 1u);
  EXPECT_EQ (uploads[0].key, "1796566200.cmf");
  EXPECT_EQ (uploads[0].upload_id, upload_id);
  EXPECT_NEAR (double (uploads[0].initiated_unix_s), double (time (nullptr)), 120);

  r = client.complete_multipart_upload ("1796566200.cmf", upload_id, etags);
  ASSERT_TRUE (r.ok) << r.message;
  // The parts, and CompleteMultipartUpload's XML.
  EXPECT_GT (client.counters ().bytes_sent, data.size ());
  EXPECT_LT (client.counters ().bytes_sent, data.size () + 1000);
  r = client.list_multipart_uploads ("", &uploads);
  ASSERT_TRUE (r.ok) << r.message;
  EXPECT_TRUE (uploads.empty ());

  std::vector<S3Client::Object> objects;
  r = client.list_objects ("", &objects);
  ASSERT_TRUE (r.ok) << r.message;
  ASSERT_EQ (objects.size (), 1u);
  EXPECT_EQ (objects[0].key, "1796566200.cmf");
  EXPECT_EQ (objects[0].size, data.size ());
  EXPECT_TRUE (fetch (client, "1796566200.cmf") == data);
}

TEST_F (S3, AnAbortedUploadIsNoLongerListed)
{
  S3Client client (direct (), fast ());
  std::vector<std::string> ids (3);
  for (int i = 0; i < 3; i++)
    ASSERT_TRUE (client.create_multipart_upload ("p/" + std::to_string (i), "", &ids[i]).ok);
  std::vector<S3Client::Upload> uploads;
  S3Result r = client.list_multipart_uploads ("p/", &uploads);
  ASSERT_TRUE (r.ok) << r.message;
  EXPECT_EQ (r.attempts, 2); // pages of two
  ASSERT_EQ (uploads.size (), 3u);
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ (uploads[i].key, "p/" + std::to_string (i));
    EXPECT_EQ (uploads[i].upload_id, ids[i]);
  }

  r = client.abort_multipart_upload ("p/1", ids[1]);
  ASSERT_TRUE (r.ok) << r.message;
  EXPECT_EQ (r.http_status, 204);
  r = client.list_multipart_uploads ("p/", &uploads);
  ASSERT_TRUE (r.ok) << r.message;
  ASSERT_EQ (uploads.size (), 2u);
  EXPECT_EQ (uploads[0].upload_id, ids[0]);
  EXPECT_EQ (uploads[1].upload_id, ids[2]);

  r = client.abort_multipart_upload ("p/1", ids[1]);
  EXPECT_FALSE (r.ok);
  EXPECT_EQ (r.http_status, 404);
  EXPECT_EQ (r.code, "NoSuchUpload");
  EXPECT_FALSE (r.retryable);
  EXPECT_EQ (r.attempts, 1);
  for (int i : { 0, 2 })
    EXPECT_TRUE (client.abort_multipart_upload ("p/" + std::to_string (i), ids[i]).ok);
}

TEST_F (S3, AWrongSecretIs403AndNotRetried)
{
  S3Config c = direct ();
  c.secret_access_key = "not-S3RVER";
  S3Client client (c, fast ());
  S3Result r = client.put_object ("x", "body", "text/plain");
  EXPECT_FALSE (r.ok);
  EXPECT_EQ (r.http_status, 403);
  EXPECT_EQ (r.code, "SignatureDoesNotMatch");
  EXPECT_FALSE (r.retryable);
  EXPECT_EQ (r.attempts, 1);
  EXPECT_NE (r.message.find ("PUT " + prefix_
                             + "x: 403 SignatureDoesNotMatch: The request "
                               "signature we calculated does not match"),
             std::string::npos)
      << r.message;
  EXPECT_NE (r.message.find ("(attempt 1 of 5)"), std::string::npos) << r.message;
  const S3Client::Counters counters = client.counters ();
  EXPECT_EQ (counters.requests, 1u);
  EXPECT_EQ (counters.retries, 0u);
  EXPECT_EQ (counters.failures, 1u);
  EXPECT_EQ (counters.bytes_sent, 0u);

  c.access_key_id = "NOBODY";
  S3Client stranger (c, fast ());
  r = stranger.put_object ("x", "body", "text/plain");
  EXPECT_EQ (r.http_status, 403);
  EXPECT_EQ (r.code, "InvalidAccessKeyId");
  EXPECT_EQ (r.attempts, 1);
}

TEST_F (S3, SlowDownIsRetriedUntilItPasses)
{
  const std::string data = random_bytes (6 * kMiB, 4);
  const std::string file = write_file (dir_.path () + "/data", data);
  ASSERT_EQ (proxy_command ("fault slowdown 2 PUT partNumber=2"), "ok");
  S3Client client (proxied (), fast ());
  S3Result complete;
  std::vector<S3Result> parts
      = multipart (client, "slow.cmf", file, data.size (), 5 * kMiB, &complete);
  ASSERT_EQ (parts.size (), 2u);
  EXPECT_EQ (parts[0].attempts, 1);
  EXPECT_EQ (parts[1].attempts, 3);
  EXPECT_TRUE (fetch (client, "slow.cmf") == data);
  EXPECT_EQ (proxy_counts ()["slowdown"], 2);
  EXPECT_EQ (client.counters ().retries, 2u);
  EXPECT_EQ (client.counters ().failures, 0u);
  // Only what got through: the parts once, and CompleteMultipartUpload's XML.
  EXPECT_GT (client.counters ().bytes_sent, data.size ());
  EXPECT_LT (client.counters ().bytes_sent, data.size () + 1000);
}

TEST_F (S3, SlowDownBeyondTheAttemptsFailsRetryable)
{
  ASSERT_EQ (proxy_command ("fault slowdown 3 PUT /index.json"), "ok");
  S3Client client (proxied (), fast (3));
  S3Result r = client.put_object ("index.json", "{}", "application/json");
  EXPECT_FALSE (r.ok);
  EXPECT_TRUE (r.retryable);
  EXPECT_EQ (r.attempts, 3);
  EXPECT_EQ (r.http_status, 503);
  EXPECT_EQ (r.code, "SlowDown");
  EXPECT_EQ (r.message, "PUT " + prefix_
                            + "index.json: 503 SlowDown: Please reduce your request rate. "
                              "(attempt 3 of 3)");
  EXPECT_EQ (client.counters ().requests, 3u);
  EXPECT_EQ (client.counters ().retries, 2u);
  EXPECT_EQ (client.counters ().failures, 1u);
}

TEST_F (S3, TooManyRequestsIsRetried)
{
  ASSERT_EQ (proxy_command ("fault throttle 1 PUT /small"), "ok");
  ASSERT_EQ (proxy_command ("fault throttle 1 GET /small"), "ok");
  S3Client client (proxied (), fast ());
  const std::string body = random_bytes (70000, 5);
  S3Result r = client.put_object ("small", body, "application/octet-stream");
  ASSERT_TRUE (r.ok) << r.message;
  EXPECT_EQ (r.attempts, 2);
  std::string out;
  r = client.get_object ("small", 100, 1000, &out);
  ASSERT_TRUE (r.ok) << r.message;
  EXPECT_EQ (r.attempts, 2);
  EXPECT_EQ (out, body.substr (100, 1000));
  std::map<std::string, int> counts = proxy_counts ();
  EXPECT_EQ (counts["throttle"], 2);
  EXPECT_EQ (counts["forwarded"], 2);
  EXPECT_EQ (client.counters ().retries, 2u);
  EXPECT_EQ (client.counters ().bytes_sent, body.size ());
}

TEST_F (S3, AStalledPartIsAbandonedAndRetried)
{
  const std::string data = random_bytes (6 * kMiB, 6);
  const std::string file = write_file (dir_.path () + "/data", data);
  ASSERT_EQ (proxy_command ("fault stall 1 PUT partNumber=2"), "ok");
  S3Client client (proxied (), fast ());
  const Clock::time_point start = Clock::now ();
  S3Result complete;
  std::vector<S3Result> parts
      = multipart (client, "stall.cmf", file, data.size (), 5 * kMiB, &complete);
  ASSERT_EQ (parts.size (), 2u);
  EXPECT_EQ (parts[1].attempts, 2);
  // Abandoned once curl's 5 s average fell below 1 KiB/s for stall_timeout_s.
  EXPECT_GE (Clock::now () - start, std::chrono::seconds (2));
  EXPECT_TRUE (fetch (client, "stall.cmf") == data);
  EXPECT_EQ (proxy_counts ()["stall"], 1);
  EXPECT_EQ (client.counters ().retries, 1u);
}

TEST_F (S3, AResetMidPartIsRetried)
{
  const std::string data = random_bytes (6 * kMiB, 7);
  const std::string file = write_file (dir_.path () + "/data", data);
  ASSERT_EQ (proxy_command ("fault reset 2 PUT partNumber=1"), "ok");
  S3Client client (proxied (), fast ());
  S3Result complete;
  std::vector<S3Result> parts
      = multipart (client, "reset.cmf", file, data.size (), 5 * kMiB, &complete);
  ASSERT_EQ (parts.size (), 2u);
  EXPECT_EQ (parts[0].attempts, 3);
  EXPECT_EQ (parts[1].attempts, 1);
  EXPECT_TRUE (fetch (client, "reset.cmf") == data);
  EXPECT_EQ (proxy_counts ()["reset"], 2);
  EXPECT_EQ (client.counters ().retries, 2u);
}

TEST_F (S3, AResetIsARetryableFailureWithoutAStatus)
{
  const std::string data = random_bytes (kMiB, 8);
  const std::string file = write_file (dir_.path () + "/data", data);
  ASSERT_EQ (proxy_command ("fault reset 1 PUT /once"), "ok");
  S3Client client (proxied (), fast (1));
  S3Result r = client.put_object ("once", file, 0, data.size (), "");
  EXPECT_FALSE (r.ok);
  EXPECT_TRUE (r.retryable);
  EXPECT_EQ (r.http_status, 0);
  EXPECT_TRUE (r.code == "CURLE_SEND_ERROR" || r.code == "CURLE_RECV_ERROR") << r.code;
  EXPECT_NE (r.message.find ("PUT " + prefix_ + "once: CURLE_"), std::string::npos) << r.message;
}

TEST_F (S3, AServerThatIsDownFailsRetryableAfterEveryAttempt)
{
  // A port bound but not listening: connections to it are refused, and no
  // one else can take it meanwhile.
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  ASSERT_EQ (bind (fd, reinterpret_cast<struct sockaddr *> (&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  getsockname (fd, reinterpret_cast<struct sockaddr *> (&addr), &len);
  S3Client client (config (ntohs (addr.sin_port)), { 3, 10, 1000 });
  S3Result r = client.put_object ("down", "body", "");
  close (fd);
  EXPECT_FALSE (r.ok);
  EXPECT_TRUE (r.retryable);
  EXPECT_EQ (r.attempts, 3);
  EXPECT_EQ (r.http_status, 0);
  EXPECT_EQ (r.code, "CURLE_COULDNT_CONNECT");
  EXPECT_NE (r.message.find ("PUT " + prefix_ + "down: CURLE_COULDNT_CONNECT: "), std::string::npos)
      << r.message;
  EXPECT_NE (r.message.find ("(attempt 3 of 3)"), std::string::npos) << r.message;
  const S3Client::Counters c = client.counters ();
  EXPECT_EQ (c.requests, 3u);
  EXPECT_EQ (c.retries, 2u);
  EXPECT_EQ (c.failures, 1u);
}

TEST_F (S3, ManyThreadsShareOneClient)
{
  S3Client client (direct (), fast ());
  std::vector<std::thread> threads;
  std::atomic<int> good{ 0 };
  for (int t = 0; t < 4; t++)
    threads.emplace_back ([&, t] {
      for (int i = 0; i < 5; i++) {
        const std::string key = std::to_string (t) + "/" + std::to_string (i);
        const std::string body = random_bytes (1000 + size_t (t * 100 + i), uint32_t (t * 10 + i));
        std::string out;
        if (client.put_object (key, body, "").ok && client.get_object (key, 0, 0, &out).ok
            && out == body)
          good++;
      }
    });
  for (std::thread &t : threads)
    t.join ();
  EXPECT_EQ (good.load (), 20);
  EXPECT_EQ (client.counters ().requests, 40u);
}

// -- the uploader: closed DVR periods to S3 ------------------------------

constexpr int64_t kSecond = 1000000000LL;
constexpr int64_t kT0 = 1796558400LL * kSecond; // 2026-12-06T12:00:00Z

RecordedSegment
recorded (uint64_t msn, int64_t wallclock_ns, size_t part_bytes = 3000)
{
  RecordedSegment s;
  s.stream = "cam1";
  s.rendition = "360p";
  s.msn = msn;
  s.wallclock_ns = wallclock_ns;
  s.duration_ns = kSecond / 2;
  s.independent = true;
  s.init = Bytes::copy ("INIT");
  s.info.name = "360p";
  s.info.codecs = "avc1.64001e";
  s.info.bandwidth = 400000;
  std::string part (part_bytes, char ('a' + msn % 26));
  for (int p = 0; p < 2; p++)
    s.parts.push_back (Bytes::copy (part));
  return s;
}

bool
file_exists (const std::string &path)
{
  return g_file_test (path.c_str (), G_FILE_TEST_EXISTS);
}

class Archive : public S3 {
 protected:
  RecorderOptions recording () const
  {
    RecorderOptions o;
    o.dir = dir_.path () + "/dvr";
    o.sync = false;
    o.period_ns = kSecond; // segment t goes to the period of second t
    o.retention_ns = 0;
    o.space_check_us = 0;
    o.keep_until_uploaded = true;
    o.ttl_ns = 0;
    return o;
  }
  UploaderOptions uploading () const
  {
    UploaderOptions o;
    o.dir = dir_.path () + "/dvr";
    o.workers = 2;
    o.part_size = 5 * 1024 * 1024;
    o.rescan_us = 200 * 1000;
    o.retry_base_us = 100 * 1000;
    o.retry_max_us = 400 * 1000;
    o.retention_ns = 0;
    o.period_ns = kSecond;
    return o;
  }
  std::string base (int second) const
  {
    return Recorder::rendition_dir (dir_.path () + "/dvr", "cam1", "360p") + "/"
           + std::to_string (kT0 / kSecond + second);
  }
  // Objects under the test's prefix: key -> size.
  std::map<std::string, uint64_t> objects (S3Client &client)
  {
    std::vector<S3Client::Object> list;
    S3Result r = client.list_objects ("", &list);
    EXPECT_TRUE (r.ok) << r.message;
    std::map<std::string, uint64_t> out;
    for (const auto &o : list)
      out[o.key] = o.size;
    return out;
  }
};

TEST_F (Archive, ClosedPeriodsAreUploadedMarkedAndThenLeftToS3)
{
  auto recorder = std::make_shared<Recorder> (recording ());
  auto client = std::make_shared<S3Client> (proxied (), fast ());
  auto uploader = std::make_shared<Uploader> (uploading (), client, recorder);
  recorder->set_on_period_closed ([uploader] (const std::string &b) { uploader->enqueue (b); });
  std::string first_data;
  for (int t : { 0, 1, 2 }) {
    ASSERT_TRUE (recorder->submit (recorded (uint64_t (t), kT0 + t * kSecond)));
    recorder->flush ();
    // Period 0's data is all written once its one segment is flushed
    // (later segments go to later periods), and nothing can take it away
    // while it is still open. Read it now: once period 1 begins it is
    // closed, uploaded, and the space check after any later batch may leave
    // it to S3 (ttl 0), before or after the flush returns.
    if (t == 0)
      first_data = file_text (base (0) + ".cmf");
  }
  ASSERT_FALSE (first_data.empty ());
  // Periods 0 and 1 are closed; 2 is being written and stays out of it.
  ASSERT_TRUE (uploader->wait_idle (scaled (std::chrono::seconds (30)).count () * 1000));
  for (int t : { 0, 1 })
    EXPECT_TRUE (period_uploaded (base (t))) << t;
  EXPECT_FALSE (file_exists (base (2) + ".s3"));
  auto listed = objects (*client);
  const std::string key0 = "cam1/360p/" + std::to_string (kT0 / kSecond);
  EXPECT_EQ (listed[key0 + ".cmf"], first_data.size ());
  EXPECT_EQ (listed[key0 + ".idx"], file_text (base (0) + ".idx").size ());
  EXPECT_EQ (listed.count ("cam1/360p/rendition.json"), 1u);
  EXPECT_EQ (listed.count ("cam1/360p/" + std::to_string (kT0 / kSecond + 2) + ".cmf"), 0u);
  EXPECT_EQ (fetch (*client, key0 + ".cmf"), first_data);
  EXPECT_EQ (uploader->counters ().uploads_ok, 2u);
  EXPECT_EQ (uploader->counters ().backlog, 0u);

  // The next batch's space check leaves what S3 has (ttl 0) to S3: the
  // data files go, the indexes stay.
  ASSERT_TRUE (recorder->submit (recorded (3, kT0 + 3 * kSecond)));
  recorder->flush ();
  for (int t : { 0, 1 }) {
    EXPECT_FALSE (file_exists (base (t) + ".cmf")) << t;
    EXPECT_TRUE (file_exists (base (t) + ".idx")) << t;
    EXPECT_TRUE (period_uploaded (base (t))) << t;
  }
  ASSERT_TRUE (uploader->wait_idle (scaled (std::chrono::seconds (30)).count () * 1000));
  EXPECT_TRUE (period_uploaded (base (2)));
}

TEST_F (Archive, AFailingUploadIsAbortedRetriedAndFinallyArchived)
{
  RecorderOptions r = recording ();
  r.keep_until_uploaded = false; // nothing leaves here
  auto recorder = std::make_shared<Recorder> (r);
  auto client = std::make_shared<S3Client> (proxied (), fast (2));
  auto uploader_options = uploading ();
  uploader_options.workers = 1;
  // Two 3.5 MiB segments: one 7 MiB period, uploaded in two parts.
  ASSERT_TRUE (recorder->submit (recorded (0, kT0, 1750 * 1024)));
  ASSERT_TRUE (recorder->submit (recorded (1, kT0 + kSecond / 2, 1750 * 1024)));
  recorder->flush ();
  // Part 2 fails more often than the client retries: the upload fails and
  // is aborted, the alarm is up, and the period waits.
  ASSERT_EQ (proxy_command ("fault slowdown 4 PUT partNumber=2"), "ok");
  auto uploader = std::make_shared<Uploader> (uploader_options, client, recorder);
  recorder->set_on_period_closed ([uploader] (const std::string &b) { uploader->enqueue (b); });
  ASSERT_TRUE (recorder->submit (recorded (2, kT0 + kSecond)));
  recorder->flush ();
  const auto deadline = std::chrono::steady_clock::now () + scaled (std::chrono::seconds (30));
  while (uploader->counters ().uploads_failed == 0 && std::chrono::steady_clock::now () < deadline)
    std::this_thread::sleep_for (std::chrono::milliseconds (20));
  UploaderCounters c = uploader->counters ();
  EXPECT_GE (c.uploads_failed, 1u);
  EXPECT_NE (c.last_error.find ("SlowDown"), std::string::npos) << c.last_error;
  // Then S3 recovers (the fault runs out) and the backlog drains.
  ASSERT_TRUE (uploader->wait_idle (scaled (std::chrono::seconds (60)).count () * 1000));
  c = uploader->counters ();
  EXPECT_FALSE (c.failing);
  EXPECT_EQ (c.uploads_ok, 1u);
  EXPECT_TRUE (period_uploaded (base (0)));
  const std::string key = "cam1/360p/" + std::to_string (kT0 / kSecond) + ".cmf";
  EXPECT_EQ (fetch (*client, key), file_text (base (0) + ".cmf"));
  // No multipart upload is left open.
  std::vector<S3Client::Upload> open;
  ASSERT_TRUE (client->list_multipart_uploads ("", &open).ok);
  EXPECT_TRUE (open.empty ());
  EXPECT_EQ (proxy_counts ()["slowdown"], 4);
}

TEST_F (Archive, UnsentPeriodsSurviveARestartAndStaleUploadsAreSwept)
{
  RecorderOptions r = recording ();
  r.keep_until_uploaded = false;
  {
    Recorder recorder (r);
    for (int t : { 0, 1 }) {
      ASSERT_TRUE (recorder.submit (recorded (uint64_t (t), kT0 + t * kSecond)));
      recorder.flush ();
    }
  }
  // A crash left a multipart upload open.
  auto client = std::make_shared<S3Client> (direct (), fast ());
  std::string upload_id;
  ASSERT_TRUE (client->create_multipart_upload ("cam1/360p/left.cmf", "video/mp4", &upload_id).ok);
  // A new process: the rescan finds both periods (none is open), the sweep
  // aborts the leftover.
  auto options = uploading ();
  options.stale_upload_s = -60; // anything started before a minute from now
  Uploader uploader (options, client, nullptr);
  ASSERT_TRUE (uploader.wait_idle (scaled (std::chrono::seconds (30)).count () * 1000));
  for (int t : { 0, 1 })
    EXPECT_TRUE (period_uploaded (base (t))) << t;
  const auto deadline = std::chrono::steady_clock::now () + scaled (std::chrono::seconds (30));
  while (uploader.counters ().stale_aborted == 0 && std::chrono::steady_clock::now () < deadline)
    std::this_thread::sleep_for (std::chrono::milliseconds (20));
  EXPECT_EQ (uploader.counters ().stale_aborted, 1u);
  std::vector<S3Client::Upload> open;
  ASSERT_TRUE (client->list_multipart_uploads ("", &open).ok);
  EXPECT_TRUE (open.empty ());
}

} // namespace
} // namespace mirror::test
