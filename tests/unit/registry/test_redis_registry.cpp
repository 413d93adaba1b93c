// SPDX-License-Identifier: LGPL-2.1-or-later
// What only the Redis backend does: several nodes on one cluster, surviving
// a Redis crash, passwords and databases, and an unreachable server.
#include <atomic>
#include <memory>

#include <gtest/gtest.h>

#include "redis_server.h"
#include "registry_test_util.h"

namespace mirror {
namespace {

using namespace mirror::test;
using Kind = RegistryEvent::Kind;

constexpr const char *kPrefix = "it:";

std::shared_ptr<StreamRegistry>
make_node (const std::string &uri, const std::string &node_id, int64_t heartbeat_timeout_ms = 15000,
           const std::string &password = "")
{
  RegistryOptions options;
  options.uri = uri;
  options.node_id = node_id;
  options.password = password;
  options.key_prefix = kPrefix;
  options.heartbeat_timeout_ms = heartbeat_timeout_ms;
  std::string error;
  auto registry = make_registry (options, &error);
  EXPECT_TRUE (registry) << error;
  return registry;
}

std::string
stream_key (const std::string &id)
{
  return std::string (kPrefix) + "stream:" + id;
}

class RedisRegistryTest : public ::testing::Test {
 protected:
  void SetUp () override { ASSERT_TRUE (server_.start ()); }

  std::shared_ptr<StreamRegistry> connected_node (const std::string &node_id,
                                                  int64_t heartbeat_timeout_ms = 15000)
  {
    auto registry = make_node (server_.uri (), node_id, heartbeat_timeout_ms);
    if (registry) {
      EXPECT_TRUE (registry->wait_connected (scaled (10000ms).count ())) << node_id;
    }
    return registry;
  }

  RedisServer server_;
};

TEST_F (RedisRegistryTest, StoresJsonWithTtlAndAnIndex)
{
  auto a = connected_node ("node-a", 5000);
  ASSERT_TRUE (a);
  ASSERT_TRUE (register_sync (*a, "cam").status.ok ());
  auto stored = stream_entry_from_json (server_.command ({ "GET", stream_key ("cam") }));
  ASSERT_TRUE (stored);
  EXPECT_EQ (stored->node_id, "node-a");
  long ttl = std::stol (server_.command ({ "PTTL", stream_key ("cam") }));
  EXPECT_GT (ttl, 0);
  EXPECT_LE (ttl, 5000);
  EXPECT_EQ (server_.command ({ "SMEMBERS", "it:streams" }), "cam");
}

TEST_F (RedisRegistryTest, NodesShareOneClusterAndOnlyOwnersWrite)
{
  auto a = connected_node ("node-a");
  auto b = connected_node ("node-b");
  ASSERT_TRUE (a && b);
  ASSERT_TRUE (register_sync (*a, "from-a").status.ok ());
  ASSERT_TRUE (register_sync (*b, "from-b").status.ok ());

  for (auto *node : { a.get (), b.get () }) {
    auto all = list_sync (*node);
    ASSERT_TRUE (all.status.ok ()) << all.status.message;
    ASSERT_EQ (ids_of (all.value), (std::vector<std::string>{ "from-a", "from-b" }));
    EXPECT_EQ (all.value[0].node_id, "node-a");
    EXPECT_EQ (all.value[1].node_id, "node-b");
  }

  auto taken = register_sync (*b, "from-a");
  EXPECT_EQ (taken.status.code, RegistryErrc::kAlreadyExists);
  EXPECT_NE (taken.status.message.find ("'from-a'"), std::string::npos) << taken.status.message;
  EXPECT_NE (taken.status.message.find ("node-a"), std::string::npos) << taken.status.message;

  auto removed = unregister_sync (*b, "from-a");
  EXPECT_EQ (removed.status.code, RegistryErrc::kNotOwner);
  EXPECT_NE (removed.status.message.find ("node-a"), std::string::npos) << removed.status.message;

  a->update_state ("from-a", StreamState::kLive, "by a");
  ASSERT_TRUE (
      wait_until ([&] { return get_sync (*b, "from-a").value->state == StreamState::kLive; }));
  b->update_state ("from-a", StreamState::kError, "by b");
  b->update_stats ("from-a", {});
  b->heartbeat ("from-a");
  get_sync (*b, "from-b"); // b has handled its calls above
  auto seen = get_sync (*a, "from-a");
  EXPECT_EQ (seen.value->state, StreamState::kLive);
  EXPECT_EQ (seen.value->message, "by a");
  EXPECT_EQ (get_sync (*b, "from-a").value->message, "by a");

  EXPECT_EQ (unregister_sync (*b, "nowhere").status.code, RegistryErrc::kNotFound);
}

TEST_F (RedisRegistryTest, RacingNodesNeverBothOwnAnId)
{
  auto a = connected_node ("node-a");
  auto b = connected_node ("node-b");
  ASSERT_TRUE (a && b);
  constexpr int kIds = 30;
  std::atomic<int> wins_a{ 0 }, wins_b{ 0 }, refused{ 0 }, answered{ 0 };
  for (int i = 0; i < kIds; ++i) {
    StreamEntry entry;
    entry.id = "race-" + std::to_string (i);
    a->register_stream (entry, [&] (const RegistryStatus &s) {
      s.ok () ? wins_a++ : refused++;
      answered++;
    });
    b->register_stream (entry, [&] (const RegistryStatus &s) {
      s.ok () ? wins_b++ : refused++;
      answered++;
    });
  }
  ASSERT_TRUE (wait_until ([&] { return answered == 2 * kIds; }));
  EXPECT_EQ (wins_a + wins_b, kIds);
  EXPECT_EQ (refused, kIds);
  auto all = list_sync (*a);
  ASSERT_EQ (all.value.size (), size_t (kIds));
  int owned_by_a = 0;
  for (const auto &entry : all.value)
    owned_by_a += entry.node_id == "node-a";
  EXPECT_EQ (owned_by_a, wins_a);
}

TEST_F (RedisRegistryTest, RestartedNodeTakesItsStreamsBack)
{
  auto first_run = connected_node ("node-a");
  ASSERT_TRUE (first_run);
  ASSERT_TRUE (register_sync (*first_run, "kept").status.ok ());
  first_run.reset (); // a crash: the entry stays until its TTL

  auto other = connected_node ("node-b");
  ASSERT_TRUE (other);
  EXPECT_EQ (register_sync (*other, "kept").status.code, RegistryErrc::kAlreadyExists);

  auto second_run = connected_node ("node-a");
  ASSERT_TRUE (second_run);
  EXPECT_TRUE (register_sync (*second_run, "kept").status.ok ());
  second_run->update_state ("kept", StreamState::kLive, "second run");
  EXPECT_TRUE (
      wait_until ([&] { return get_sync (*other, "kept").value->message == "second run"; }));
}

TEST_F (RedisRegistryTest, ExpiredIdsLeaveTheIndex)
{
  auto a = connected_node ("node-a", 200);
  ASSERT_TRUE (a);
  ASSERT_TRUE (register_sync (*a, "brief").status.ok ());
  ASSERT_TRUE (wait_until ([&] {
    return server_.command ({ "EXISTS", stream_key ("brief") }) == "0";
  }));
  auto b = connected_node ("node-b");
  ASSERT_TRUE (b);
  auto all = list_sync (*b);
  EXPECT_TRUE (all.status.ok ());
  EXPECT_TRUE (all.value.empty ());
  EXPECT_TRUE (wait_until ([&] { return server_.command ({ "SCARD", "it:streams" }) == "0"; }));
}

TEST_F (RedisRegistryTest, SurvivesARedisCrash)
{
  EventLog log;
  auto a = connected_node ("node-a");
  auto b = connected_node ("node-b");
  ASSERT_TRUE (a && b);
  log.attach (*a);
  const std::vector<std::string> ids{ "s1", "s2", "s3" };
  for (const auto &id : ids)
    ASSERT_TRUE (register_sync (*a, id).status.ok ()) << id;
  ASSERT_TRUE (register_sync (*b, "from-b").status.ok ());

  const int port = server_.port ();
  server_.kill ();
  ASSERT_TRUE (wait_until ([&] { return !a->is_connected () && !b->is_connected (); }));

  // The streams keep working on their node.
  StreamStats stats;
  stats.bytes = 777;
  a->update_state ("s1", StreamState::kLive, "during the outage");
  a->update_stats ("s1", stats);
  for (const auto &id : ids)
    a->heartbeat (id);
  auto local = get_sync (*a, "s1");
  ASSERT_TRUE (local.status.ok ()) << local.status.message;
  EXPECT_EQ (local.value->state, StreamState::kLive);
  EXPECT_EQ (local.value->stats.bytes, 777u);
  auto partial = list_sync (*a);
  EXPECT_EQ (partial.status.code, RegistryErrc::kUnavailable);
  EXPECT_EQ (ids_of (partial.value), ids);
  EXPECT_EQ (get_sync (*b, "s1").status.code, RegistryErrc::kUnavailable);
  EXPECT_EQ (unregister_sync (*b, "s1").status.code, RegistryErrc::kUnavailable);

  EXPECT_EQ (register_sync (*b, "from-b").status.code, RegistryErrc::kAlreadyExists);

  ASSERT_TRUE (server_.start (port)); // empty: no persistence
  auto back = std::chrono::steady_clock::now ();
  auto all_back = [&] (StreamRegistry &reader) {
    auto all = list_sync (reader);
    if (!all.status.ok ())
      return false;
    int found = 0;
    for (const auto &entry : all.value)
      if (entry.node_id == "node-a")
        found++;
    return found == 3
           && ids_of (all.value) == std::vector<std::string>{ "from-b", "s1", "s2", "s3" };
  };
  EXPECT_TRUE (wait_until ([&] { return all_back (*a) && all_back (*b); }, 5s));
  EXPECT_LT (std::chrono::steady_clock::now () - back, scaled (5s));
  EXPECT_TRUE (a->is_connected ());

  // What was written during the outage reached Redis, for everyone.
  auto seen = get_sync (*b, "s1");
  ASSERT_TRUE (seen.status.ok ()) << seen.status.message;
  EXPECT_EQ (seen.value->state, StreamState::kLive);
  EXPECT_EQ (seen.value->message, "during the outage");
  EXPECT_EQ (seen.value->stats.bytes, 777u);
  EXPECT_FALSE (log.has (Kind::kStateChanged, "s1", StreamState::kError));
  EXPECT_FALSE (log.has (Kind::kExpired, "s1"));
}

TEST_F (RedisRegistryTest, UnregisterDuringOutageIsReplayed)
{
  auto a = connected_node ("node-a");
  ASSERT_TRUE (a);
  ASSERT_TRUE (register_sync (*a, "gone").status.ok ());
  ASSERT_TRUE (register_sync (*a, "stays").status.ok ());
  server_.lock_out ("outage");
  ASSERT_TRUE (wait_until ([&] { return !a->is_connected (); }));
  EXPECT_TRUE (unregister_sync (*a, "gone").status.ok ());
  EXPECT_EQ (server_.command ({ "EXISTS", stream_key ("gone") }), "1"); // Redis kept it
  server_.unlock ();
  EXPECT_TRUE (wait_until ([&] {
    auto all = list_sync (*a);
    return all.status.ok () && ids_of (all.value) == std::vector<std::string>{ "stays" };
  }));
  EXPECT_EQ (server_.command ({ "EXISTS", stream_key ("gone") }), "0");
}

TEST_F (RedisRegistryTest, RegisterWaitsForTheLinkThenSucceeds)
{
  auto a = connected_node ("node-a");
  ASSERT_TRUE (a);
  server_.lock_out ("outage");
  ASSERT_TRUE (wait_until ([&] { return !a->is_connected (); }));
  std::atomic<int> code{ -1 };
  StreamEntry entry;
  entry.id = "late";
  a->register_stream (entry, [&] (const RegistryStatus &s) { code = int (s.code); });
  server_.unlock ();
  ASSERT_TRUE (wait_until ([&] { return code != -1; }));
  EXPECT_EQ (code, int (RegistryErrc::kOk));
  EXPECT_TRUE (listed (*a, "late"));
}

TEST_F (RedisRegistryTest, AnIdTakenDuringAnOutageIsGivenUpWithAnError)
{
  EventLog log;
  auto a = connected_node ("node-a");
  ASSERT_TRUE (a);
  log.attach (*a);
  ASSERT_TRUE (register_sync (*a, "contested").status.ok ());
  ASSERT_TRUE (register_sync (*a, "mine").status.ok ());
  server_.lock_out ("outage");
  ASSERT_TRUE (wait_until ([&] { return !a->is_connected (); }));
  // Meanwhile a's key lapsed and node-z claimed the id.
  server_.command ({ "SET", stream_key ("contested"),
                     R"({"id":"contested","node_id":"node-z","state":"live"})" });
  a->update_state ("contested", StreamState::kLive, "still ingesting here");
  server_.unlock ();
  ASSERT_TRUE (
      wait_until ([&] { return log.has (Kind::kStateChanged, "contested", StreamState::kError); }));
  for (const auto &r : log.events ()) {
    if (r.event.kind != Kind::kStateChanged || r.event.entry.state != StreamState::kError)
      continue;
    EXPECT_NE (r.event.entry.message.find ("'contested'"), std::string::npos)
        << r.event.entry.message;
    EXPECT_NE (r.event.entry.message.find ("node-z"), std::string::npos) << r.event.entry.message;
  }
  EXPECT_EQ (get_sync (*a, "contested").value->node_id, "node-z");
  EXPECT_EQ (get_sync (*a, "mine").value->node_id, "node-a");
  EXPECT_FALSE (log.has (Kind::kStateChanged, "mine", StreamState::kError));
}

TEST_F (RedisRegistryTest, AnIdTakenByAnotherNodeIsGivenUpWithAnError)
{
  EventLog log;
  auto a = connected_node ("node-a");
  ASSERT_TRUE (a);
  log.attach (*a);
  ASSERT_TRUE (register_sync (*a, "contested").status.ok ());
  // What happens when a's key lapsed and node-z claimed the id meanwhile.
  server_.command ({ "SET", stream_key ("contested"),
                     R"({"id":"contested","node_id":"node-z","state":"live"})" });
  a->heartbeat ("contested");
  ASSERT_TRUE (
      wait_until ([&] { return log.has (Kind::kStateChanged, "contested", StreamState::kError); }));
  for (const auto &r : log.events ()) {
    if (r.event.kind != Kind::kStateChanged)
      continue;
    EXPECT_NE (r.event.entry.message.find ("'contested'"), std::string::npos)
        << r.event.entry.message;
    EXPECT_NE (r.event.entry.message.find ("node-z"), std::string::npos) << r.event.entry.message;
  }
  // a no longer writes it, and may not remove it.
  a->update_state ("contested", StreamState::kPaused, "a again");
  EXPECT_EQ (unregister_sync (*a, "contested").status.code, RegistryErrc::kNotOwner);
  EXPECT_EQ (get_sync (*a, "contested").value->node_id, "node-z");
}

TEST_F (RedisRegistryTest, SelectsTheDatabase)
{
  auto a = make_node (server_.uri (3), "node-a");
  ASSERT_TRUE (a && a->wait_connected (scaled (10000ms).count ()));
  EXPECT_EQ (a->describe (), "redis://127.0.0.1:" + std::to_string (server_.port ()) + "/3");
  ASSERT_TRUE (register_sync (*a, "in-db-3").status.ok ());
  EXPECT_EQ (server_.command ({ "EXISTS", stream_key ("in-db-3") }, 3), "1");
  EXPECT_EQ (server_.command ({ "EXISTS", stream_key ("in-db-3") }, 0), "0");
}

TEST (RedisRegistryAuth, PasswordFromUriOrOptions)
{
  RedisServer server ("s3cret");
  ASSERT_TRUE (server.start ());

  auto from_uri = make_node (server.uri (), "node-a");
  ASSERT_TRUE (from_uri);
  ASSERT_TRUE (from_uri->wait_connected (scaled (10000ms).count ()));
  EXPECT_EQ (from_uri->describe ().find ("s3cret"), std::string::npos);
  ASSERT_TRUE (register_sync (*from_uri, "authed").status.ok ());

  auto from_options = make_node (server.uri (0, false), "node-b", 15000, "s3cret");
  ASSERT_TRUE (from_options);
  ASSERT_TRUE (from_options->wait_connected (scaled (10000ms).count ()));
  EXPECT_TRUE (listed (*from_options, "authed"));
}

TEST (RedisRegistryAuth, WrongOrMissingPasswordNeverConnects)
{
  RedisServer server ("s3cret");
  ASSERT_TRUE (server.start ());
  auto wrong = make_node (server.uri (0, false), "node-a", 15000, "wrong");
  auto missing = make_node (server.uri (0, false), "node-b");
  ASSERT_TRUE (wrong && missing);
  EXPECT_FALSE (wrong->wait_connected (1500));
  EXPECT_FALSE (missing->wait_connected (10));
  EXPECT_FALSE (wrong->is_connected ());
  auto all = list_sync (*wrong);
  EXPECT_EQ (all.status.code, RegistryErrc::kUnavailable);
  EXPECT_NE (all.status.message.find (wrong->describe ()), std::string::npos) << all.status.message;
}

TEST (RedisRegistryUnreachable, FailsFastAndRegisterGivesUp)
{
  int port = free_loopback_port ();
  auto a = make_node ("redis://127.0.0.1:" + std::to_string (port), "node-a");
  ASSERT_TRUE (a);
  EXPECT_FALSE (a->wait_connected (300));
  EXPECT_FALSE (a->is_connected ());
  EXPECT_EQ (get_sync (*a, "x").status.code, RegistryErrc::kUnavailable);
  auto start = std::chrono::steady_clock::now ();
  auto registered = register_sync (*a, "x");
  EXPECT_EQ (registered.status.code, RegistryErrc::kUnavailable);
  EXPECT_NE (registered.status.message.find ("'x'"), std::string::npos)
      << registered.status.message;
  // It waits 3 s for the link (kRegisterWaitMs), then answers: the slack
  // after that stretched by MIRROR_TEST_SLOWDOWN.
  EXPECT_LT (std::chrono::steady_clock::now () - start, 3s + scaled (5s));
  a->heartbeat ("x"); // unknown: ignored, no crash
}

TEST (RedisRegistryUnreachable, ConnectsWhenTheServerAppearsLater)
{
  int port = free_loopback_port ();
  auto a = make_node ("redis://localhost:" + std::to_string (port), "node-a");
  ASSERT_TRUE (a);
  EXPECT_FALSE (a->wait_connected (200));
  RedisServer server;
  ASSERT_TRUE (server.start (port));
  EXPECT_TRUE (a->wait_connected (scaled (5000ms).count ()));
  EXPECT_TRUE (register_sync (*a, "late").status.ok ());
}

} // namespace
} // namespace mirror
