// SPDX-License-Identifier: LGPL-2.1-or-later
// The StreamRegistry contract, run against every backend: what one node sees
// of its own streams, the threading rules, and heartbeat expiry.
#include <atomic>
#include <memory>

#include <gtest/gtest.h>

#include "redis_server.h"
#include "registry_test_util.h"

namespace mirror {
namespace {

using namespace mirror::test;
using Kind = RegistryEvent::Kind;

struct MemoryBackend {
  static void start () {}
  static void stop () {}
  static std::string uri () { return "memory://"; }
};

struct RedisBackend {
  static inline RedisServer *server = nullptr;
  static void start ()
  {
    server = new RedisServer ();
    ASSERT_TRUE (server->start ());
  }
  static void stop ()
  {
    delete server;
    server = nullptr;
  }
  static std::string uri () { return server->uri (); }
};

template <typename Backend> class RegistryContract : public ::testing::Test {
 protected:
  static void SetUpTestSuite () { Backend::start (); }
  static void TearDownTestSuite () { Backend::stop (); }

  // Each test has its own key prefix, so tests sharing one server never see
  // each other's streams.
  std::shared_ptr<StreamRegistry> make (int64_t heartbeat_timeout_ms = 15000)
  {
    const auto *info = ::testing::UnitTest::GetInstance ()->current_test_info ();
    RegistryOptions options;
    options.uri = Backend::uri ();
    options.node_id = "node-a";
    options.key_prefix = std::string ("contract:") + info->name () + ":";
    options.heartbeat_timeout_ms = heartbeat_timeout_ms;
    std::string error;
    auto registry = make_registry (options, &error);
    EXPECT_TRUE (registry) << error;
    if (registry) {
      EXPECT_TRUE (registry->wait_connected (scaled (10000ms).count ())) << registry->describe ();
    }
    return registry;
  }
};

using Backends = ::testing::Types<MemoryBackend, RedisBackend>;
class BackendNames {
 public:
  template <typename T> static std::string GetName (int)
  {
    return std::is_same_v<T, MemoryBackend> ? "Memory" : "Redis";
  }
};
TYPED_TEST_SUITE (RegistryContract, Backends, BackendNames);

TYPED_TEST (RegistryContract, RegisterGetListUnregister)
{
  auto registry = this->make ();
  ASSERT_TRUE (registry);
  for (const char *id : { "cam-c", "cam-a", "cam-b" })
    ASSERT_TRUE (register_sync (*registry, id).status.ok ()) << id;

  auto got = get_sync (*registry, "cam-a");
  ASSERT_TRUE (got.status.ok ()) << got.status.message;
  ASSERT_TRUE (got.value);
  EXPECT_EQ (got.value->id, "cam-a");
  EXPECT_EQ (got.value->node_id, "node-a");
  EXPECT_EQ (got.value->source, "srt://peer-of-cam-a");
  EXPECT_EQ (got.value->state, StreamState::kStarting);
  EXPECT_GT (got.value->created_unix_ms, 0);
  EXPECT_EQ (got.value->updated_unix_ms, got.value->created_unix_ms);

  auto all = list_sync (*registry);
  ASSERT_TRUE (all.status.ok ()) << all.status.message;
  EXPECT_EQ (ids_of (all.value), (std::vector<std::string>{ "cam-a", "cam-b", "cam-c" }));

  ASSERT_TRUE (unregister_sync (*registry, "cam-b").status.ok ());
  got = get_sync (*registry, "cam-b");
  EXPECT_EQ (got.status.code, RegistryErrc::kNotFound);
  EXPECT_NE (got.status.message.find ("cam-b"), std::string::npos) << got.status.message;
  EXPECT_FALSE (got.value);
  EXPECT_EQ (ids_of (list_sync (*registry).value), (std::vector<std::string>{ "cam-a", "cam-c" }));

  EXPECT_EQ (unregister_sync (*registry, "cam-b").status.code, RegistryErrc::kNotFound);
}

TYPED_TEST (RegistryContract, DuplicateRegisterIsRefused)
{
  auto registry = this->make ();
  ASSERT_TRUE (registry);
  ASSERT_TRUE (register_sync (*registry, "dup").status.ok ());
  auto again = register_sync (*registry, "dup");
  EXPECT_EQ (again.status.code, RegistryErrc::kAlreadyExists);
  EXPECT_NE (again.status.message.find ("'dup'"), std::string::npos) << again.status.message;
  EXPECT_NE (again.status.message.find ("node-a"), std::string::npos) << again.status.message;

  // Free again after unregistering.
  ASSERT_TRUE (unregister_sync (*registry, "dup").status.ok ());
  EXPECT_TRUE (register_sync (*registry, "dup").status.ok ());
}

TYPED_TEST (RegistryContract, ConcurrentRegistersOfOneIdHaveOneWinner)
{
  auto registry = this->make ();
  ASSERT_TRUE (registry);
  std::atomic<int> ok{ 0 }, refused{ 0 }, answered{ 0 };
  for (int i = 0; i < 8; ++i) {
    StreamEntry entry;
    entry.id = "contended";
    registry->register_stream (entry, [&] (const RegistryStatus &status) {
      (status.ok () ? ok : refused)++;
      answered++;
    });
  }
  ASSERT_TRUE (wait_until ([&] { return answered == 8; }));
  EXPECT_EQ (ok, 1);
  EXPECT_EQ (refused, 7);
}

TYPED_TEST (RegistryContract, InvalidIdsAreRefused)
{
  auto registry = this->make ();
  ASSERT_TRUE (registry);
  EXPECT_EQ (register_sync (*registry, "").status.code, RegistryErrc::kInvalid);
  auto spaced = register_sync (*registry, "a b");
  EXPECT_EQ (spaced.status.code, RegistryErrc::kInvalid);
  EXPECT_NE (spaced.status.message.find ("'a b'"), std::string::npos) << spaced.status.message;
}

TYPED_TEST (RegistryContract, NodeIdIsTheRegistrys)
{
  auto registry = this->make ();
  ASSERT_TRUE (registry);
  StreamEntry entry;
  entry.id = "claimed";
  entry.node_id = "someone-else";
  ASSERT_TRUE (register_sync (*registry, entry).status.ok ());
  EXPECT_EQ (get_sync (*registry, "claimed").value->node_id, "node-a");
}

// The directory of cluster playback: each entry names its owner's public URL
// and load, and an epoch that grows with each ownership of the id.
TYPED_TEST (RegistryContract, EntriesNameTheOwnerItsLoadAndAnEpochPerOwnership)
{
  auto registry = this->make ();
  ASSERT_TRUE (registry);
  registry->set_node_info ({ "https://node-a.example:8443", { 3, 40, 0.5 }, "pin-of-a" });
  ASSERT_TRUE (register_sync (*registry, "dir").status.ok ());
  auto first = get_sync (*registry, "dir").value;
  ASSERT_TRUE (first);
  EXPECT_EQ (first->owner_url, "https://node-a.example:8443");
  EXPECT_EQ (first->owner_tls_pin, "pin-of-a");
  EXPECT_EQ (first->owner_load.streams, 3u);
  EXPECT_EQ (first->owner_load.viewers, 40u);
  EXPECT_DOUBLE_EQ (first->owner_load.cpu, 0.5);
  EXPECT_GE (first->epoch, 1u);

  // The load is written again with the next heartbeat.
  registry->set_node_info ({ "https://node-a.example:8443", { 4, 7, 1.25 } });
  registry->heartbeat ("dir");
  std::optional<StreamEntry> seen;
  ASSERT_TRUE (wait_until ([&] {
    registry->heartbeat ("dir");
    seen = get_sync (*registry, "dir").value;
    return seen && seen->owner_load.viewers == 7u;
  })) << (seen ? std::to_string (seen->owner_load.viewers) : "none");
  EXPECT_DOUBLE_EQ (seen->owner_load.cpu, 1.25);
  EXPECT_EQ (seen->epoch, first->epoch) << "a heartbeat is the same ownership";

  // Released and taken on again: the next epoch, in get and list alike.
  ASSERT_TRUE (unregister_sync (*registry, "dir").status.ok ());
  ASSERT_TRUE (register_sync (*registry, "dir").status.ok ());
  EXPECT_EQ (get_sync (*registry, "dir").value->epoch, first->epoch + 1);
  auto all = list_sync (*registry).value;
  ASSERT_EQ (all.size (), 1u);
  EXPECT_EQ (all[0].epoch, first->epoch + 1);
  EXPECT_EQ (all[0].owner_url, "https://node-a.example:8443");
}

// A stream's timeline outlives its entry: the next ownership's claim reads
// what the last one recorded, so its playlists start past it.
TYPED_TEST (RegistryContract, TheNextOwnershipReadsTheTimelineTheLastOneRecorded)
{
  auto registry = this->make ();
  ASSERT_TRUE (registry);
  ASSERT_TRUE (register_sync (*registry, "tl").status.ok ());
  EXPECT_EQ (registry->claimed_timeline ("tl"), 0u) << "a first ownership has no past";
  registry->record_timeline ("tl", 3);
  registry->record_timeline ("tl", 7);
  registry->record_timeline ("tl", 5); // never lowered
  registry->record_timeline ("elsewhere", 99); // not ours: ignored
  ASSERT_TRUE (unregister_sync (*registry, "tl").status.ok ());
  EXPECT_EQ (registry->claimed_timeline ("tl"), 0u) << "forgotten with the entry";

  ASSERT_TRUE (register_sync (*registry, "tl").status.ok ());
  EXPECT_EQ (registry->claimed_timeline ("tl"), 7u);
  ASSERT_TRUE (register_sync (*registry, "elsewhere").status.ok ());
  EXPECT_EQ (registry->claimed_timeline ("elsewhere"), 0u);
}

TYPED_TEST (RegistryContract, StateAndStatsUpdatesAreVisible)
{
  auto registry = this->make ();
  ASSERT_TRUE (registry);
  ASSERT_TRUE (register_sync (*registry, "upd").status.ok ());
  int64_t created = get_sync (*registry, "upd").value->created_unix_ms;

  StreamStats stats;
  stats.bytes = 1 << 20;
  stats.packets = 800;
  stats.packets_lost = 2;
  stats.bitrate_bps = 8e6;
  stats.codec = "h264";
  stats.width = 1280;
  stats.height = 720;
  stats.frame_rate = 25;
  registry->update_state ("upd", StreamState::kLive, "ingesting");
  registry->update_stats ("upd", stats);

  std::optional<StreamEntry> seen;
  ASSERT_TRUE (wait_until ([&] {
    seen = get_sync (*registry, "upd").value;
    return seen && seen->state == StreamState::kLive && seen->stats.bytes == stats.bytes;
  })) << "state "
      << (seen ? to_string (seen->state) : "none");
  EXPECT_EQ (seen->message, "ingesting");
  EXPECT_EQ (seen->stats.packets, 800u);
  EXPECT_EQ (seen->stats.packets_lost, 2u);
  EXPECT_EQ (seen->stats.codec, "h264");
  EXPECT_EQ (seen->stats.width, 1280);
  EXPECT_EQ (seen->stats.height, 720);
  EXPECT_DOUBLE_EQ (seen->stats.frame_rate, 25);
  EXPECT_EQ (seen->created_unix_ms, created);
  EXPECT_GE (seen->updated_unix_ms, created);

  // The list shows the same.
  auto all = list_sync (*registry);
  ASSERT_EQ (all.value.size (), 1u);
  EXPECT_EQ (all.value[0].state, StreamState::kLive);
}

TYPED_TEST (RegistryContract, UpdatesOfUnknownStreamsAreIgnored)
{
  auto registry = this->make ();
  ASSERT_TRUE (registry);
  registry->heartbeat ("ghost");
  registry->update_state ("ghost", StreamState::kLive, "");
  registry->update_stats ("ghost", {});
  // Calls are handled in order: once this answers, the updates were handled.
  EXPECT_EQ (get_sync (*registry, "ghost").status.code, RegistryErrc::kNotFound);
  EXPECT_TRUE (list_sync (*registry).value.empty ());
}

TYPED_TEST (RegistryContract, CallbacksRunOnTheWorkerThreadNeverInsideTheCall)
{
  EventLog log;
  auto registry = this->make ();
  ASSERT_TRUE (registry);
  log.attach (*registry);

  auto registered = register_sync (*registry, "thr");
  auto got = get_sync (*registry, "thr");
  auto all = list_sync (*registry);
  ASSERT_TRUE (registered.status.ok ());
  const std::thread::id worker = registered.thread;
  EXPECT_NE (worker, std::this_thread::get_id ());
  EXPECT_EQ (got.thread, worker);
  EXPECT_EQ (all.thread, worker);

  // A call made from a callback (so on the worker) answers later, not inside.
  std::atomic<bool> inner_answered{ false }, answered_inside{ true }, done{ false };
  registry->get_stream ("thr", [&] (const RegistryStatus &, const std::optional<StreamEntry> &) {
    registry->get_stream ("thr", [&] (const RegistryStatus &, const std::optional<StreamEntry> &) {
      inner_answered = true;
      done = true;
    });
    answered_inside = inner_answered.load ();
  });
  ASSERT_TRUE (wait_until ([&] { return done.load (); }));
  EXPECT_FALSE (answered_inside);

  registry->update_state ("thr", StreamState::kLive, "");
  ASSERT_TRUE (unregister_sync (*registry, "thr").status.ok ());
  ASSERT_TRUE (wait_until ([&] { return log.has (Kind::kRemoved, "thr"); }));
  auto events = log.events ();
  ASSERT_EQ (events.size (), 3u);
  EXPECT_EQ (events[0].event.kind, Kind::kAdded);
  EXPECT_EQ (events[1].event.kind, Kind::kStateChanged);
  EXPECT_EQ (events[1].event.entry.state, StreamState::kLive);
  EXPECT_EQ (events[2].event.kind, Kind::kRemoved);
  for (const auto &e : events) {
    EXPECT_EQ (e.thread, worker);
    EXPECT_EQ (e.event.entry.id, "thr");
  }
}

TYPED_TEST (RegistryContract, RemovedWatchIsQuiet)
{
  auto registry = this->make ();
  ASSERT_TRUE (registry);
  std::atomic<int> calls{ 0 };
  unsigned watch = registry->add_watch ([&] (const RegistryEvent &) { calls++; });
  ASSERT_TRUE (register_sync (*registry, "w1").status.ok ());
  ASSERT_TRUE (wait_until ([&] { return calls == 1; }));
  registry->remove_watch (watch);
  ASSERT_TRUE (register_sync (*registry, "w2").status.ok ());
  ASSERT_TRUE (unregister_sync (*registry, "w1").status.ok ());
  get_sync (*registry, "w2"); // past any event queued by the calls above
  EXPECT_EQ (calls, 1);
}

TYPED_TEST (RegistryContract, SilentStreamsExpireHeartbeatingOnesStay)
{
  EventLog log;
  // A timeout far above the loop's pace (and stretched by
  // MIRROR_TEST_SLOWDOWN), so that a busy box cannot make a heartbeat late;
  // what is asserted is which one goes, not when.
  const auto timeout = scaled (1000ms);
  auto registry = this->make (timeout.count ());
  ASSERT_TRUE (registry);
  log.attach (*registry);
  ASSERT_TRUE (register_sync (*registry, "silent").status.ok ());
  ASSERT_TRUE (register_sync (*registry, "beating").status.ok ());

  // Heartbeat one of them until the other has gone.
  bool beating_always_there = true;
  EXPECT_TRUE (wait_until ([&] {
    registry->heartbeat ("beating");
    if (get_sync (*registry, "beating").status.code != RegistryErrc::kOk)
      beating_always_there = false;
    return get_sync (*registry, "silent").status.code == RegistryErrc::kNotFound
           && !listed (*registry, "silent");
  }));
  EXPECT_TRUE (beating_always_there);
  EXPECT_TRUE (wait_until ([&] { return log.has (Kind::kExpired, "silent"); }));
  EXPECT_FALSE (log.has (Kind::kExpired, "beating"));
  EXPECT_TRUE (listed (*registry, "beating"));

  // Updates count as heartbeats too: for one and a half timeouts, only
  // updates keep it.
  auto until = std::chrono::steady_clock::now () + timeout * 3 / 2;
  int n = 0;
  while (std::chrono::steady_clock::now () < until) {
    if (n++ % 2)
      registry->update_state ("beating", n % 4 ? StreamState::kLive : StreamState::kPaused, "");
    else
      registry->update_stats ("beating", {});
    std::this_thread::sleep_for (20ms); // pacing, not waiting for anything
  }
  EXPECT_TRUE (get_sync (*registry, "beating").status.ok ());
  EXPECT_FALSE (log.has (Kind::kExpired, "beating"));

  // Then silence: it goes too.
  EXPECT_TRUE (wait_until (
      [&] { return get_sync (*registry, "beating").status.code == RegistryErrc::kNotFound; }));
}

TYPED_TEST (RegistryContract, DestroyingDropsPendingCallbacks)
{
  auto registry = this->make ();
  ASSERT_TRUE (registry);
  auto calls = std::make_shared<std::atomic<int>> (0);
  for (int i = 0; i < 200; ++i) {
    StreamEntry entry;
    entry.id = "bulk-" + std::to_string (i);
    registry->register_stream (entry, [calls] (const RegistryStatus &) { (*calls)++; });
    registry->list_streams (
        [calls] (const RegistryStatus &, const std::vector<StreamEntry> &) { (*calls)++; });
  }
  registry.reset (); // joins the worker
  int after_destruction = *calls;
  std::this_thread::sleep_for (200ms);
  EXPECT_EQ (*calls, after_destruction);
}

TYPED_TEST (RegistryContract, LastReferenceMayGoInsideACallback)
{
  auto registry = this->make ();
  ASSERT_TRUE (registry);
  std::atomic<bool> done{ false };
  StreamRegistry *raw = registry.get ();
  // The callback holds the only reference once registry is reset below.
  raw->list_streams (
      [keep = registry, &done] (const RegistryStatus &, const std::vector<StreamEntry> &) mutable {
        keep.reset ();
        done = true;
      });
  registry.reset ();
  EXPECT_TRUE (wait_until ([&] { return done.load (); }));
}

} // namespace
} // namespace mirror
