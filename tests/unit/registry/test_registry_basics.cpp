// SPDX-License-Identifier: LGPL-2.1-or-later
// The backend-independent pieces: state names, JSON, URIs, make_registry,
// and the boxed handle that carries a registry through a GstContext.
#include <unistd.h>

#include <glib-object.h>
#include <gtest/gtest.h>

#include "registry/registry_handle.h"
#include "registry/registry_uri.h"
#include "registry/stream_registry.h"

namespace mirror {
namespace {

TEST (StreamState, NamesRoundTrip)
{
  const StreamState all[]
      = { StreamState::kStarting,     StreamState::kLive,  StreamState::kPaused,
          StreamState::kStalled,      StreamState::kError, StreamState::kStopping,
          StreamState::kReconnecting, StreamState::kEnded, StreamState::kDegraded };
  const char *names[] = { "starting", "live",         "paused", "stalled", "error",
                          "stopping", "reconnecting", "ended",  "degraded" };
  for (size_t i = 0; i < G_N_ELEMENTS (all); ++i) {
    EXPECT_STREQ (to_string (all[i]), names[i]);
    EXPECT_EQ (stream_state_from_string (names[i]), all[i]);
  }
}

TEST (StreamState, RejectsOtherSpellings)
{
  EXPECT_FALSE (stream_state_from_string ("Live"));
  EXPECT_FALSE (stream_state_from_string (""));
  EXPECT_FALSE (stream_state_from_string ("live "));
  EXPECT_FALSE (stream_state_from_string ("running"));
}

StreamEntry
full_entry ()
{
  StreamEntry e;
  e.id = "cam-1";
  e.node_id = "node-a";
  e.state = StreamState::kStalled;
  e.source = "srt://10.0.0.5:6000?streamid=cam-1";
  e.message = "no packets for 2 s \"quoted\"";
  e.stats.bytes = 123456789012ULL;
  e.stats.packets = 42;
  e.stats.packets_lost = 3;
  e.stats.bitrate_bps = 49.5e6;
  e.stats.codec = "h265";
  e.stats.width = 1920;
  e.stats.height = 1080;
  e.stats.frame_rate = 59.94;
  e.created_unix_ms = 1700000000123;
  e.updated_unix_ms = 1700000005456;
  return e;
}

TEST (StreamEntryJson, RoundTripsEveryField)
{
  StreamEntry in = full_entry ();
  auto out = stream_entry_from_json (to_json (in));
  ASSERT_TRUE (out);
  EXPECT_EQ (out->id, in.id);
  EXPECT_EQ (out->node_id, in.node_id);
  EXPECT_EQ (out->state, in.state);
  EXPECT_EQ (out->source, in.source);
  EXPECT_EQ (out->message, in.message);
  EXPECT_EQ (out->stats.bytes, in.stats.bytes);
  EXPECT_EQ (out->stats.packets, in.stats.packets);
  EXPECT_EQ (out->stats.packets_lost, in.stats.packets_lost);
  EXPECT_DOUBLE_EQ (out->stats.bitrate_bps, in.stats.bitrate_bps);
  EXPECT_EQ (out->stats.codec, in.stats.codec);
  EXPECT_EQ (out->stats.width, in.stats.width);
  EXPECT_EQ (out->stats.height, in.stats.height);
  EXPECT_DOUBLE_EQ (out->stats.frame_rate, in.stats.frame_rate);
  EXPECT_EQ (out->created_unix_ms, in.created_unix_ms);
  EXPECT_EQ (out->updated_unix_ms, in.updated_unix_ms);
}

TEST (StreamEntryJson, UsesTheDocumentedFieldNames)
{
  std::string json = to_json (full_entry ());
  for (const char *field :
       { "\"id\"", "\"node_id\"", "\"state\":\"stalled\"", "\"source\"", "\"message\"", "\"stats\"",
         "\"bytes\"", "\"packets\"", "\"packets_lost\"", "\"bitrate_bps\"", "\"codec\"",
         "\"width\"", "\"height\"", "\"frame_rate\"", "\"created_unix_ms\"",
         "\"updated_unix_ms\"" })
    EXPECT_NE (json.find (field), std::string::npos) << field << " missing in " << json;
}

TEST (StreamEntryJson, MissingOptionalFieldsTakeDefaults)
{
  auto entry = stream_entry_from_json (R"({"id":"a","state":"live"})");
  ASSERT_TRUE (entry);
  EXPECT_EQ (entry->id, "a");
  EXPECT_EQ (entry->state, StreamState::kLive);
  EXPECT_EQ (entry->stats.bytes, 0u);
  EXPECT_TRUE (entry->node_id.empty ());
}

TEST (StreamEntryJson, RejectsMalformedDocuments)
{
  for (const char *bad :
       { "", "nope", "[]", "{}", R"({"id":""})", R"({"id":"a","state":"Live"})", R"({"id":7})",
         R"({"id":"a","stats":[]})", R"({"id":"a","stats":{"bytes":"x"}})",
         R"({"id":"a","stats":{"bytes":-1}})", R"({"id":"a","created_unix_ms":"now"})" })
    EXPECT_FALSE (stream_entry_from_json (bad)) << bad;
}

TEST (RegistryUri, ParsesRedisForms)
{
  std::string why;
  auto uri = parse_registry_uri ("redis://cache.internal", &why);
  ASSERT_TRUE (uri) << why;
  EXPECT_EQ (uri->backend, RegistryUri::Backend::kRedis);
  EXPECT_EQ (uri->host, "cache.internal");
  EXPECT_EQ (uri->port, 6379);
  EXPECT_EQ (uri->db, 0);
  EXPECT_TRUE (uri->password.empty ());

  uri = parse_registry_uri ("redis://:p%40ss@10.1.2.3:6380/4", &why);
  ASSERT_TRUE (uri) << why;
  EXPECT_EQ (uri->host, "10.1.2.3");
  EXPECT_EQ (uri->port, 6380);
  EXPECT_EQ (uri->db, 4);
  EXPECT_EQ (uri->password, "p@ss");
  EXPECT_EQ (describe_registry_uri (*uri), "redis://10.1.2.3:6380/4");

  uri = parse_registry_uri ("redis://mirror:secret@[::1]:7000/", &why);
  ASSERT_TRUE (uri) << why;
  EXPECT_EQ (uri->host, "::1");
  EXPECT_EQ (uri->username, "mirror");
  EXPECT_EQ (uri->password, "secret");
  EXPECT_EQ (describe_registry_uri (*uri), "redis://[::1]:7000/0");
}

TEST (RegistryUri, MemoryTakesNothingElse)
{
  std::string why;
  EXPECT_TRUE (parse_registry_uri ("memory://", &why));
  EXPECT_FALSE (parse_registry_uri ("memory://x", &why));
  EXPECT_NE (why.find ("'x'"), std::string::npos) << why;
}

TEST (RegistryUri, RedactsPasswords)
{
  EXPECT_EQ (redact_registry_uri ("redis://:secret@h:1/2"), "redis://:***@h:1/2");
  EXPECT_EQ (redact_registry_uri ("redis://u:secret@h"), "redis://u:***@h");
  EXPECT_EQ (redact_registry_uri ("redis://h:1/2"), "redis://h:1/2");
}

struct BadUri {
  const char *uri;
  const char *complaint; // a piece of the error that says what is wrong
};

TEST (MakeRegistry, BadUriNamesTheUriAndTheProblem)
{
  const BadUri cases[] = {
    { "", "scheme" },
    { "http://localhost", "scheme" },
    { "redis://", "host is missing" },
    { "redis://:pw@", "host is missing" },
    { "redis://localhost:", "port" },
    { "redis://localhost:abc", "'abc'" },
    { "redis://localhost:70000", "'70000'" },
    { "redis://localhost:0", "'0'" },
    { "redis://localhost/db1", "'db1'" },
    { "redis://localhost/-1", "'-1'" },
    { "redis://[::1", "']'" },
    { "memory://extra", "'extra'" },
  };
  for (const auto &c : cases) {
    RegistryOptions options;
    options.uri = c.uri;
    std::string error;
    EXPECT_EQ (make_registry (options, &error), nullptr) << c.uri;
    EXPECT_NE (error.find (std::string ("'") + redact_registry_uri (c.uri) + "'"),
               std::string::npos)
        << "error does not name the URI: " << error;
    EXPECT_NE (error.find (c.complaint), std::string::npos)
        << "error for " << c.uri << " does not say '" << c.complaint << "': " << error;
  }
}

TEST (MakeRegistry, ErrorsNeverShowThePassword)
{
  RegistryOptions options;
  options.uri = "redis://:hunter2@:99999";
  std::string error;
  EXPECT_EQ (make_registry (options, &error), nullptr);
  EXPECT_EQ (error.find ("hunter2"), std::string::npos) << error;
}

TEST (MakeRegistry, RejectsNonPositiveHeartbeatTimeout)
{
  RegistryOptions options;
  options.heartbeat_timeout_ms = 0;
  std::string error;
  EXPECT_EQ (make_registry (options, &error), nullptr);
  EXPECT_NE (error.find ("heartbeat"), std::string::npos) << error;
}

TEST (MakeRegistry, DefaultNodeIdIsHostnameDashPid)
{
  RegistryOptions options;
  std::string error;
  auto registry = make_registry (options, &error);
  ASSERT_TRUE (registry) << error;
  EXPECT_EQ (registry->node_id (),
             std::string (g_get_host_name ()) + "-" + std::to_string (getpid ()));
  EXPECT_EQ (registry->describe (), "memory://");
  EXPECT_TRUE (registry->is_connected ());
  EXPECT_TRUE (registry->wait_connected (0));
}

TEST (MakeRegistry, RedisDescribeHidesThePassword)
{
  RegistryOptions options;
  options.uri = "redis://:hunter2@127.0.0.1:1/2";
  options.node_id = "n1";
  std::string error;
  auto registry = make_registry (options, &error);
  ASSERT_TRUE (registry) << error;
  EXPECT_EQ (registry->describe (), "redis://127.0.0.1:1/2");
  EXPECT_EQ (registry->node_id (), "n1");
}

TEST (RegistryHandle, BoxedCopiesShareTheRegistry)
{
  auto registry = make_registry ({}, nullptr);
  ASSERT_TRUE (registry);
  GType type = MIRROR_TYPE_REGISTRY_HANDLE;
  EXPECT_TRUE (G_TYPE_IS_BOXED (type));
  EXPECT_STREQ (g_type_name (type), "MirrorRegistryHandle");

  RegistryHandle *handle = registry_handle_new (registry);
  EXPECT_EQ (registry.use_count (), 2);
  auto *copy = static_cast<RegistryHandle *> (g_boxed_copy (type, handle));
  EXPECT_EQ (copy->registry, registry);
  EXPECT_EQ (registry.use_count (), 3);

  GValue value = G_VALUE_INIT;
  g_value_init (&value, type);
  g_value_take_boxed (&value, copy);
  EXPECT_EQ (static_cast<RegistryHandle *> (g_value_get_boxed (&value))->registry, registry);
  g_value_unset (&value);
  EXPECT_EQ (registry.use_count (), 2);

  g_boxed_free (type, handle);
  EXPECT_EQ (registry.use_count (), 1);
}

} // namespace
} // namespace mirror
