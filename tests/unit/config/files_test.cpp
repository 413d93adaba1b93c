// SPDX-License-Identifier: LGPL-2.1-or-later
// The shipped files: configs/mirror.yaml documents exactly the built-in
// defaults, the examples load, and dump_config() reads back as it was.
#include "config.h"
#include "test_env.h"

#include <gtest/gtest.h>

using namespace mirror::daemon;
using mirror::daemon::config_test::Env;
using mirror::daemon::config_test::load_yaml;
using mirror::daemon::config_test::source_path;

TEST (ConfigFiles, DocumentedFileEqualsDefaults)
{
  std::string path = source_path ("configs/mirror.yaml");
  ConfigResult result = load_config (path, nullptr);
  ASSERT_FALSE (result.error) << result.error->to_string ();
  // Compared through the dump: every key, in its unit, one per line, so a
  // drift shows as a readable diff.
  EXPECT_EQ (dump_config (*result.config), dump_config (Config{}));
}

TEST (ConfigFiles, ClusterExampleLoads)
{
  ConfigResult result = load_config (source_path ("configs/examples/cluster.yaml"), nullptr);
  ASSERT_FALSE (result.error) << result.error->to_string ();
  const Config &c = *result.config;
  EXPECT_FALSE (c.redis.addr.empty ());
  EXPECT_FALSE (c.server.admin_token.empty ());
  EXPECT_FALSE (c.ingestion.srt.allow_list.empty ());
}

TEST (ConfigFiles, DumpOfDefaultsRoundTrips)
{
  std::string dump = dump_config (Config{});
  ConfigResult result = load_yaml (dump);
  ASSERT_FALSE (result.error) << result.error->to_string () << "\n" << dump;
  EXPECT_EQ (dump_config (*result.config), dump);
}

TEST (ConfigFiles, DumpOfEveryChangedKeyRoundTrips)
{
  // Values chosen to need quoting, units that do not divide evenly, empty and
  // non-empty collections: whatever the dump writes must read back the same.
  Env env{ "MIRROR_SERVER_BIND_ADDRESS=::",
           "MIRROR_SERVER_ADMIN_TOKEN=yes",
           "MIRROR_SERVER_CERT_FILE=/etc/mirror/a cert.pem",
           "MIRROR_SERVER_KEY_FILE=#key.pem",
           "MIRROR_SERVER_SHUTDOWN_TIMEOUT=1500",
           "MIRROR_INGESTION_SRT_LATENCY=0",
           "MIRROR_INGESTION_SRT_PASSPHRASE=\"quoted\" pass: phrase",
           "MIRROR_INGESTION_SRT_ALLOW_LIST=cam-1,*,~,null",
           "MIRROR_INGESTION_SRT_INPUT_BANDWIDTH=1000",
           "MIRROR_INGESTION_RTP_PAYLOAD_TYPES=127=AAC",
           "MIRROR_INGESTION_RTP_STREAM_IDS=123=true,10.0.0.1:5004=cam: 2",
           "MIRROR_INGESTION_BUFFER_RING_SIZE=100000",
           "MIRROR_INGESTION_ROUTES=[a]*=x,*=default",
           "MIRROR_INGESTION_PIPELINES_DIR=/srv/pipelines",
           "MIRROR_TRANSCODING_OUTPUT_BITRATE=123456",
           "MIRROR_TRANSCODING_RENDITIONS=360p:640x360@400k,source",
           "MIRROR_TRANSCODING_X264_TUNE=",
           "MIRROR_PACKAGING_SEGMENT_DURATION=2s",
           "MIRROR_PACKAGING_PART_DURATION=250ms",
           "MIRROR_PACKAGING_PLAYLIST_LENGTH=1h",
           "MIRROR_STORAGE_S3_ENABLED=on",
           "MIRROR_STORAGE_S3_BUCKET=my-bucket",
           "MIRROR_REDIS_ADDR=[::1]:6379",
           "MIRROR_REDIS_KEY_PREFIX={x}:",
           "MIRROR_REGISTRY_NODE_ID=8080",
           "MIRROR_MONITORING_DBUS=off" };
  ConfigResult changed = load_config ("", env.get ());
  ASSERT_FALSE (changed.error) << changed.error->to_string ();
  const bool reveal = true; // the secrets too, to read them back
  std::string dump = dump_config (*changed.config, reveal);
  ASSERT_NE (dump, dump_config (Config{}, reveal));

  ConfigResult reloaded = load_yaml (dump);
  ASSERT_FALSE (reloaded.error) << reloaded.error->to_string () << "\n" << dump;
  EXPECT_EQ (dump_config (*reloaded.config, reveal), dump);
  const Config &c = *reloaded.config;
  EXPECT_EQ (c.server.admin_token, "yes");
  EXPECT_EQ (c.ingestion.srt.passphrase, "\"quoted\" pass: phrase");
  EXPECT_EQ (c.ingestion.srt.allow_list, (std::vector<std::string>{ "cam-1", "*", "~", "null" }));
  EXPECT_EQ (c.ingestion.rtp.stream_ids.at ("123"), "true");
  EXPECT_EQ (c.ingestion.routes.front ().first, "[a]*");
  EXPECT_EQ (c.transcoding.output_bitrate, 123456);
  EXPECT_EQ (c.server.shutdown_timeout_ms, 1500);
  EXPECT_EQ (c.registry.node_id, "8080");
  EXPECT_EQ (c.redis.key_prefix, "{x}:");
}

TEST (ConfigFiles, DumpHidesEverySecretThatIsSet)
{
  Env env{ "MIRROR_SERVER_ADMIN_TOKEN=admin-secret-1",
           "MIRROR_INGESTION_SRT_PASSPHRASE=srt-secret-22",
           "MIRROR_INGESTION_SRT_STREAM_PASSPHRASES=cam1=stream-secret-3",
           "MIRROR_STORAGE_S3_SECRET_ACCESS_KEY=s3-secret-44",
           "MIRROR_REDIS_PASSWORD=redis-secret-5" };
  ConfigResult result = load_config ("", env.get ());
  ASSERT_FALSE (result.error) << result.error->to_string ();
  const std::string dump = dump_config (*result.config);
  EXPECT_EQ (dump.find ("secret-"), std::string::npos) << dump;
  EXPECT_NE (dump.find ("admin_token: \"***\""), std::string::npos) << dump;
  EXPECT_NE (dump.find ("password: \"***\""), std::string::npos) << dump;
  EXPECT_NE (dump.find ("cam1: \"***\""), std::string::npos) << dump;
  // Unset ones read empty: whether a secret is set is not itself a secret.
  const std::string defaults = dump_config (Config{});
  EXPECT_NE (defaults.find ("admin_token: \"\""), std::string::npos) << defaults;
  EXPECT_EQ (defaults.find ("***"), std::string::npos) << defaults;
}
