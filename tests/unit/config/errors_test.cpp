// SPDX-License-Identifier: LGPL-2.1-or-later
// Every kind of bad configuration stops the load with one line naming the
// source, the key, the value and what is allowed.
#include "config.h"
#include "test_env.h"

#include <gtest/gtest.h>

using namespace mirror::daemon;
using mirror::daemon::config_test::Env;
using mirror::daemon::config_test::load_env;
using mirror::daemon::config_test::load_yaml;
using mirror::daemon::config_test::ScratchFile;

namespace {

ConfigError
error_of (const ConfigResult &result)
{
  EXPECT_FALSE (result.config);
  if (!result.error) {
    ADD_FAILURE () << "loaded without error";
    return ConfigError{};
  }
  std::string line = result.error->to_string ();
  EXPECT_EQ (line.find ('\n'), std::string::npos) << line;
  EXPECT_EQ (line.rfind ("config: ", 0), 0u) << line;
  return *result.error;
}

void
expect_allowed (const ConfigError &error, const std::string &part)
{
  EXPECT_NE (error.allowed.find (part), std::string::npos)
      << "allowed: " << error.allowed << " lacks " << part;
  EXPECT_NE (error.to_string ().find ("(allowed: " + error.allowed + ")"), std::string::npos);
}

} // namespace

TEST (ConfigErrors, OutOfRangeFromFile)
{
  ScratchFile file ("server:\n  admin_port: 70000\n");
  ConfigError e = error_of (load_config (file.path (), nullptr));
  EXPECT_EQ (e.source, file.path ());
  EXPECT_EQ (e.key, "server.admin_port");
  EXPECT_EQ (e.value, "70000");
  EXPECT_EQ (e.to_string (),
             "config: " + file.path ()
                 + ": server.admin_port: 70000 is out of range (allowed: 1..65535)");
}

TEST (ConfigErrors, NotHostPortFromEnvironment)
{
  ConfigError e = error_of (load_env ("MIRROR_REDIS_ADDR=nohost:"));
  EXPECT_EQ (e.source, "MIRROR_REDIS_ADDR");
  EXPECT_EQ (e.key, "redis.addr");
  EXPECT_EQ (e.value, "nohost:");
  expect_allowed (e, "host:port, e.g. 127.0.0.1:6379");
  EXPECT_EQ (
      e.to_string ().rfind (
          "config: MIRROR_REDIS_ADDR: redis.addr: \"nohost:\" is not host:port (allowed: ", 0),
      0u);
  for (const char *bad :
       { "host", ":6379", "host:0", "host:99999", "::1:6379", "h:p", "[::1]6379" })
    EXPECT_EQ (error_of (load_env (std::string ("MIRROR_REDIS_ADDR=") + bad)).key, "redis.addr")
        << bad;
}

TEST (ConfigErrors, UnknownKeyAnywhereInTheTree)
{
  ConfigError e = error_of (load_yaml ("server:\n  admn_port: 9090\n"));
  EXPECT_EQ (e.key, "server.admn_port");
  EXPECT_EQ (e.problem, "unknown key");
  expect_allowed (e, "admin_port");
  expect_allowed (e, "shutdown_timeout");
  EXPECT_NE (e.to_string ().find (": server.admn_port: unknown key (allowed: bind_address, "),
             std::string::npos);

  e = error_of (load_yaml ("servr:\n  admin_port: 9090\n"));
  EXPECT_EQ (e.key, "servr");
  expect_allowed (
      e, "server, ingestion, transcoding, packaging, storage, redis, registry, monitoring");

  e = error_of (load_yaml ("ingestion:\n  srt:\n    latncy: 100ms\n"));
  EXPECT_EQ (e.key, "ingestion.srt.latncy");
  expect_allowed (e, "latency");

  // The stored unit suffix is not part of the key name.
  e = error_of (load_yaml ("packaging:\n  segment_duration_ms: 500\n"));
  EXPECT_EQ (e.key, "packaging.segment_duration_ms");

  e = error_of (load_yaml ("ingestion:\n  routes:\n    - {match: \"*\", pipline: x}\n"));
  EXPECT_EQ (e.key, "ingestion.routes[0].pipline");
  expect_allowed (e, "match, pipeline");
}

TEST (ConfigErrors, WrongType)
{
  ConfigError e = error_of (load_yaml ("server:\n  admin_port: abc\n"));
  EXPECT_EQ (e.key, "server.admin_port");
  EXPECT_EQ (e.value, "abc");
  EXPECT_NE (
      e.to_string ().find ("server.admin_port: \"abc\" is not an integer (allowed: 1..65535)"),
      std::string::npos);

  e = error_of (load_yaml ("server:\n  admin_port:\n"));
  EXPECT_NE (e.to_string ().find ("server.admin_port: \"\" is not an integer"), std::string::npos);

  e = error_of (load_yaml ("server:\n  admin_port: [1, 2]\n"));
  EXPECT_EQ (e.key, "server.admin_port");
  EXPECT_EQ (e.problem, "is not a single value");

  e = error_of (load_yaml ("transcoding:\n  enabled: maybe\n"));
  EXPECT_EQ (e.key, "transcoding.enabled");
  EXPECT_EQ (e.problem, "is not a boolean");
  expect_allowed (e, "true, false, yes, no, 1, 0");

  e = error_of (load_env ("MIRROR_PACKAGING_SEGMENT_DURATION=half a second"));
  EXPECT_EQ (e.problem, "is not a duration");
  expect_allowed (e, "500ms, 5s, 1m");

  e = error_of (load_env ("MIRROR_TRANSCODING_OUTPUT_BITRATE=fast"));
  EXPECT_EQ (e.problem, "is not a bitrate");
  expect_allowed (e, "400k, 2.5M");

  e = error_of (load_env ("MIRROR_INGESTION_BUFFER_RING_SIZE=4M"));
  EXPECT_EQ (e.problem, "is not a size");
  expect_allowed (e, "4MiB");

  e = error_of (load_yaml ("ingestion:\n  srt:\n    allow_list: {a: b}\n"));
  EXPECT_EQ (e.key, "ingestion.srt.allow_list");
  EXPECT_EQ (e.problem, "is not a list");

  e = error_of (load_yaml ("ingestion:\n  rtp:\n    payload_types: [96]\n"));
  EXPECT_EQ (e.key, "ingestion.rtp.payload_types");
  EXPECT_EQ (e.problem, "is not a map");
}

TEST (ConfigErrors, EnumsAndChoices)
{
  ConfigError e = error_of (load_env ("MIRROR_MONITORING_LOG_LEVEL=loud"));
  EXPECT_EQ (e.key, "monitoring.log_level");
  EXPECT_EQ (e.value, "loud");
  EXPECT_EQ (e.allowed, "debug, info, warn, error");

  e = error_of (load_env ("MIRROR_TRANSCODING_HARDWARE=amd"));
  EXPECT_EQ (e.allowed, "auto, nvidia, cpu");

  e = error_of (load_env ("MIRROR_MONITORING_DBUS=user"));
  EXPECT_EQ (e.allowed, "session, system, off");

  e = error_of (load_env ("MIRROR_INGESTION_SRT_PBKEYLEN=20"));
  EXPECT_EQ (e.key, "ingestion.srt.pbkeylen");
  EXPECT_EQ (e.value, "20");
  EXPECT_EQ (e.allowed, "16, 24, 32");

  e = error_of (load_env ("MIRROR_TRANSCODING_X264_TUNE=film"));
  EXPECT_EQ (e.key, "transcoding.x264_tune");
  expect_allowed (e, "zerolatency");
}

TEST (ConfigErrors, OutOfRange)
{
  ConfigError e = error_of (load_env ("MIRROR_SERVER_HTTP_PORT=0"));
  EXPECT_EQ (e.key, "server.http_port");
  EXPECT_EQ (e.problem, "is out of range");

  e = error_of (load_env ("MIRROR_INGESTION_RTP_PORT=65535"));
  EXPECT_EQ (e.key, "ingestion.rtp.port");
  expect_allowed (e, "RTCP");

  e = error_of (load_env ("MIRROR_INGESTION_SRT_PAYLOAD_SIZE=1500"));
  EXPECT_EQ (e.allowed, "188..1456");

  e = error_of (load_env ("MIRROR_INGESTION_BUFFER_RING_SIZE=2GiB"));
  EXPECT_EQ (e.problem, "is above the maximum of 1GiB");

  e = error_of (load_env ("MIRROR_SERVER_SHUTDOWN_TIMEOUT=-1s"));
  EXPECT_EQ (e.problem, "is below the minimum of 0ms");
}

TEST (ConfigErrors, BitrateBelow100k)
{
  ConfigError e = error_of (load_yaml ("transcoding:\n  output_bitrate: 99k\n"));
  EXPECT_EQ (e.key, "transcoding.output_bitrate");
  EXPECT_EQ (e.value, "99k");
  EXPECT_EQ (e.problem, "is below the minimum of 100k");
  expect_allowed (e, "100k..");
}

TEST (ConfigErrors, SecretsAreNotEchoed)
{
  ConfigError e = error_of (load_env ("MIRROR_INGESTION_SRT_PASSPHRASE=short"));
  EXPECT_EQ (e.key, "ingestion.srt.passphrase");
  EXPECT_EQ (e.value, "");
  EXPECT_EQ (e.problem, "has 5 characters");
  EXPECT_EQ (e.to_string ().find ("short"), std::string::npos);
  expect_allowed (e, "10..79 characters");

  e = error_of (load_env ("MIRROR_INGESTION_SRT_PASSPHRASE=" + std::string (80, 'x')));
  EXPECT_EQ (e.problem, "has 80 characters");
}

TEST (ConfigErrors, BadEntriesOfListsAndMaps)
{
  ConfigError e = error_of (load_env ("MIRROR_INGESTION_RTP_PAYLOAD_TYPES=96=H265,97=VP8"));
  EXPECT_EQ (e.key, "ingestion.rtp.payload_types.97");
  EXPECT_EQ (e.value, "VP8");
  expect_allowed (e, "H265, H264, AAC");

  e = error_of (load_yaml ("ingestion:\n  rtp:\n    payload_types: {95: H264}\n"));
  EXPECT_EQ (e.key, "ingestion.rtp.payload_types");
  EXPECT_EQ (e.value, "95");
  expect_allowed (e, "96..127");

  e = error_of (load_env ("MIRROR_INGESTION_RTP_PAYLOAD_TYPES=96"));
  EXPECT_EQ (e.value, "96");
  EXPECT_EQ (e.problem, "is not name=value");

  e = error_of (load_env ("MIRROR_INGESTION_SRT_ALLOW_LIST=a,,b"));
  EXPECT_EQ (e.key, "ingestion.srt.allow_list[1]");

  e = error_of (load_env ("MIRROR_INGESTION_ROUTES=cam-*=../etc/passwd"));
  EXPECT_EQ (e.key, "ingestion.routes[0].pipeline");
  EXPECT_EQ (e.value, "../etc/passwd");

  e = error_of (load_yaml ("ingestion:\n  routes: []\n"));
  EXPECT_EQ (e.key, "ingestion.routes");
  EXPECT_EQ (e.problem, "is empty");

  e = error_of (load_yaml ("ingestion:\n  routes:\n    - {match: \"*\"}\n"));
  EXPECT_EQ (e.key, "ingestion.routes[0]");
}

TEST (ConfigErrors, SectionThatIsNotAMapping)
{
  ConfigError e = error_of (load_yaml ("server: 5\n"));
  EXPECT_EQ (e.key, "server");
  EXPECT_EQ (e.value, "5");
  EXPECT_EQ (e.problem, "is not a mapping");
  expect_allowed (e, "admin_port");

  e = error_of (load_yaml ("ingestion:\n  srt: [1, 2]\n"));
  EXPECT_EQ (e.key, "ingestion.srt");
  EXPECT_EQ (e.problem, "is not a mapping");

  e = error_of (load_yaml ("- server\n- redis\n"));
  EXPECT_EQ (e.key, "");
  EXPECT_EQ (e.problem, "is not a mapping");
  expect_allowed (e, "server");
}

TEST (ConfigErrors, SelfReferencingAliasIsReportedNotFollowed)
{
  ConfigError e = error_of (load_yaml ("server: &a [*a]\n"));
  EXPECT_EQ (e.key, "server");
  EXPECT_EQ (e.problem, "is not a mapping");

  e = error_of (load_yaml ("ingestion:\n  routes: &r\n    - *r\n"));
  EXPECT_EQ (e.key, "ingestion.routes[0]");
}

TEST (ConfigErrors, MissingS3Bucket)
{
  ConfigError e = error_of (load_yaml ("storage:\n  s3:\n    enabled: true\n"));
  EXPECT_EQ (e.key, "storage.s3.bucket");
  EXPECT_NE (e.problem.find ("missing S3 bucket"), std::string::npos);
  EXPECT_FALSE (e.source.empty ()); // points at the file that turned S3 on
  expect_allowed (e, "bucket");
}

TEST (ConfigErrors, StorageKeys)
{
  ConfigError e = error_of (load_env ("MIRROR_STORAGE_S3_ENDPOINT=ftp://s3.example"));
  EXPECT_EQ (e.key, "storage.s3.endpoint");
  EXPECT_NE (e.problem.find ("http:// or https://"), std::string::npos);
  e = error_of (load_env ("MIRROR_STORAGE_S3_PREFIX=/mirror/"));
  EXPECT_EQ (e.key, "storage.s3.prefix");
  EXPECT_NE (e.problem.find ("starts with '/'"), std::string::npos);
  e = error_of (load_env ("MIRROR_STORAGE_DVR_PERIOD_LENGTH=1s"));
  EXPECT_EQ (e.key, "storage.dvr.period_length");
  e = error_of (load_env ("MIRROR_STORAGE_LOCAL_MAX_CACHE_SIZE=lots"));
  EXPECT_EQ (e.key, "storage.local.max_cache_size");
  e = error_of (load_env ("MIRROR_STORAGE_S3_UPLOAD_WORKERS=0"));
  EXPECT_EQ (e.key, "storage.s3.upload_workers");
}

TEST (ConfigErrors, CrossKeyRules)
{
  // Part and segment durations: the error names the key the user set.
  ConfigError e = error_of (load_env ("MIRROR_PACKAGING_PART_DURATION=500ms"));
  EXPECT_EQ (e.key, "packaging.part_duration");
  EXPECT_EQ (e.value, "500ms");
  EXPECT_EQ (e.source, "MIRROR_PACKAGING_PART_DURATION");
  EXPECT_NE (e.problem.find ("packaging.segment_duration (500ms)"), std::string::npos);

  e = error_of (load_env ("MIRROR_PACKAGING_SEGMENT_DURATION=100ms"));
  EXPECT_EQ (e.key, "packaging.segment_duration");
  EXPECT_EQ (e.source, "MIRROR_PACKAGING_SEGMENT_DURATION");

  e = error_of (load_env ("MIRROR_PACKAGING_PART_DURATION=150ms"));
  EXPECT_EQ (e.key, "packaging.part_duration");
  EXPECT_NE (e.problem.find ("divide"), std::string::npos);

  e = error_of (load_env ("MIRROR_PACKAGING_PLAYLIST_LENGTH=1s"));
  EXPECT_EQ (e.key, "packaging.playlist_length");
  expect_allowed (e, "1500ms");

  e = error_of (load_env ("MIRROR_REGISTRY_HEARTBEAT_INTERVAL=15s"));
  EXPECT_EQ (e.key, "registry.heartbeat_interval");
  EXPECT_NE (e.problem.find ("registry.heartbeat_timeout (15s)"), std::string::npos);

  e = error_of (load_env ("MIRROR_SERVER_HTTP_PORT=9090"));
  EXPECT_EQ (e.key, "server.http_port");
  EXPECT_NE (e.problem.find ("server.admin_port"), std::string::npos);

  e = error_of (load_env ("MIRROR_SERVER_ADMIN_PORT=8443"));
  EXPECT_EQ (e.key, "server.admin_port");
  EXPECT_NE (e.problem.find ("server.http3_port"), std::string::npos);

  e = error_of (load_env ("MIRROR_INGESTION_SRT_PORT=8443"));
  EXPECT_EQ (e.key, "ingestion.srt.port");
  EXPECT_NE (e.problem.find ("UDP"), std::string::npos);

  e = error_of (load_env ("MIRROR_INGESTION_RTP_PORT=5999"));
  EXPECT_EQ (e.key, "ingestion.rtp.port");
  EXPECT_NE (e.problem.find ("RTCP"), std::string::npos);

  e = error_of (load_env ("MIRROR_SERVER_CERT_FILE=/etc/mirror/cert.pem"));
  EXPECT_EQ (e.key, "server.key_file");
  EXPECT_EQ (e.source, "MIRROR_SERVER_CERT_FILE");

  e = error_of (load_env ("MIRROR_TRANSCODING_OUTPUT_WIDTH=641"));
  EXPECT_EQ (e.key, "transcoding.output_width");
}

TEST (ConfigErrors, UnreadableFile)
{
  ConfigError e = error_of (load_config ("/nonexistent/mirror.yaml", nullptr));
  EXPECT_EQ (e.source, "/nonexistent/mirror.yaml");
  EXPECT_EQ (e.to_string (),
             "config: /nonexistent/mirror.yaml: cannot read the file: No such file or directory");

  // A directory opens but does not read (root can read any file, so a
  // permission test would not fail here).
  ScratchFile file ("");
  std::string dir = file.path ().substr (0, file.path ().rfind ('/'));
  e = error_of (load_config (dir, nullptr));
  EXPECT_NE (e.to_string ().find (dir + ": cannot read the file: Is a directory"),
             std::string::npos);
}

TEST (ConfigErrors, MalformedYamlNamesLineAndColumn)
{
  ScratchFile file ("server:\n  http_port: 8080\n  admin_port: [9090\nredis:\n  addr: x\n");
  ConfigError e = error_of (load_config (file.path (), nullptr));
  EXPECT_EQ (e.source, file.path ());
  EXPECT_EQ (e.key, "");
  std::string line = e.to_string ();
  EXPECT_NE (line.find (file.path () + ": malformed YAML at line "), std::string::npos) << line;

  e = error_of (load_yaml ("server:\n  http_port: 8080\n   admin_port: 9090\n"));
  EXPECT_NE (e.to_string ().find ("malformed YAML at line 3, column"), std::string::npos)
      << e.to_string ();
}

TEST (ConfigErrors, EnvironmentErrorNamesTheVariable)
{
  ScratchFile file ("server:\n  admin_port: 9191\n");
  Env env{ "MIRROR_SERVER_ADMIN_PORT=abc" };
  ConfigError e = error_of (load_config (file.path (), env.get ()));
  EXPECT_EQ (e.to_string (), "config: MIRROR_SERVER_ADMIN_PORT: server.admin_port: \"abc\" is not "
                             "an integer (allowed: 1..65535)");
}

// The admin API can delete every stream: off loopback it needs a token or
// the operator's explicit admin_insecure.
TEST (ConfigErrors, AdminApiOffLoopbackNeedsATokenOrAdminInsecure)
{
  ConfigError e = error_of (load_yaml ("server:\n  admin_bind_address: 0.0.0.0\n"));
  EXPECT_EQ (e.key, "server.admin_bind_address");
  EXPECT_EQ (e.value, "0.0.0.0");
  EXPECT_NE (e.problem.find ("without server.admin_token"), std::string::npos) << e.problem;
  EXPECT_NE (e.allowed.find ("admin_insecure"), std::string::npos) << e.allowed;

  auto bound = [] (const std::string &yaml) {
    ConfigResult r = load_yaml (yaml);
    EXPECT_FALSE (r.error) << yaml << ": " << r.error->to_string ();
    return r.config ? effective_admin_bind_address (r.config->server) : "";
  };
  EXPECT_EQ (bound (""), "127.0.0.1");
  EXPECT_EQ (bound ("server:\n  admin_token: t0ken\n"), "0.0.0.0");
  EXPECT_EQ (bound ("server:\n  admin_bind_address: ::1\n"), "::1");
  EXPECT_EQ (bound ("server:\n  admin_bind_address: 10.0.0.1\n  admin_token: t0ken\n"),
             "10.0.0.1");
  EXPECT_EQ (bound ("server:\n  admin_bind_address: 0.0.0.0\n  admin_insecure: true\n"),
             "0.0.0.0");
}
