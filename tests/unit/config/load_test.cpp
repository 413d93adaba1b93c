// SPDX-License-Identifier: LGPL-2.1-or-later
// Loading: defaults, every key type through the file and the environment,
// and the environment's precedence.
#include "config.h"
#include "test_env.h"

#include <gtest/gtest.h>

using namespace mirror::daemon;
using mirror::daemon::config_test::Env;
using mirror::daemon::config_test::load_env;
using mirror::daemon::config_test::load_yaml;

namespace {

Config
loaded (const ConfigResult &result)
{
  EXPECT_FALSE (result.error) << result.error->to_string ();
  return result.config.value_or (Config{});
}

} // namespace

TEST (ConfigLoad, DefaultsWithoutFileOrEnvironment)
{
  ConfigResult result = load_config ("", nullptr);
  ASSERT_TRUE (result.config);
  EXPECT_TRUE (result.warnings.empty ());
  const Config &c = *result.config;
  EXPECT_EQ (c.server.http3_port, 8443);
  EXPECT_EQ (c.server.http_port, 8080);
  EXPECT_EQ (c.server.admin_port, 9090);
  EXPECT_EQ (c.ingestion.srt.port, 6000);
  EXPECT_EQ (c.ingestion.srt.latency_ms, 120);
  EXPECT_EQ (c.ingestion.srt.payload_size, 1316);
  EXPECT_EQ (c.ingestion.rtp.port, 5004);
  EXPECT_EQ (c.ingestion.rtp.payload_types,
             (std::map<int, std::string>{ { 96, "H265" }, { 97, "H264" }, { 98, "AAC" } }));
  EXPECT_EQ (c.ingestion.buffer.ring_size, 4u * 1024 * 1024);
  EXPECT_EQ (c.packaging.segment_duration_ms, 500);
  EXPECT_EQ (c.packaging.part_duration_ms, 100);
  EXPECT_EQ (c.transcoding.output_width, 640);
  EXPECT_EQ (c.transcoding.output_height, 360);
  EXPECT_EQ (c.transcoding.output_bitrate, 400000);
  EXPECT_EQ (c.transcoding.audio_bitrate, 64000);
  EXPECT_EQ (c.redis.addr, "");
  EXPECT_EQ (dump_config (c), dump_config (Config{}));
}

TEST (ConfigLoad, EmptyFileAndEmptySectionsAreDefaults)
{
  EXPECT_EQ (dump_config (loaded (load_yaml (""))), dump_config (Config{}));
  EXPECT_EQ (dump_config (loaded (load_yaml ("# only a comment\n"))), dump_config (Config{}));
  EXPECT_EQ (dump_config (loaded (load_yaml ("redis:\nserver:\n"))), dump_config (Config{}));
}

TEST (ConfigLoad, EveryTypeFromYaml)
{
  Config c = loaded (load_yaml (R"(
server:
  admin_port: 9191
  admin_token: s3cret
  shutdown_timeout: 1m
ingestion:
  srt:
    latency: 250
    passphrase: "0123456789"
    pbkeylen: 24
    allow_list: [cam-1, cam-2]
    input_bandwidth: 12.5MB
  rtp:
    payload_types: {100: h264, 101: AAC}
    stream_ids: {"0x1234abcd": cam-9, "10.0.0.5:5004": cam-10}
  buffer:
    ring_size: 512KiB
  routes:
    - {match: "cam-*", pipeline: hevc}
    - match: "*"
      pipeline: default
transcoding:
  enabled: no
  hardware: CPU
  output_bitrate: 2.5M
packaging:
  segment_duration: 1s
  part_duration: 200ms
storage:
  s3: {enabled: yes, bucket: media.example}
redis:
  addr: "[::1]:6379"
monitoring:
  log_level: debug
)"));
  EXPECT_EQ (c.server.admin_port, 9191);
  EXPECT_EQ (c.server.admin_token, "s3cret");
  EXPECT_EQ (c.server.shutdown_timeout_ms, 60000);
  EXPECT_EQ (c.ingestion.srt.latency_ms, 250);
  EXPECT_EQ (c.ingestion.srt.passphrase, "0123456789");
  EXPECT_EQ (c.ingestion.srt.pbkeylen, 24);
  EXPECT_EQ (c.ingestion.srt.allow_list, (std::vector<std::string>{ "cam-1", "cam-2" }));
  EXPECT_EQ (c.ingestion.srt.input_bandwidth, 12500000);
  EXPECT_EQ (c.ingestion.rtp.payload_types,
             (std::map<int, std::string>{ { 100, "H264" }, { 101, "AAC" } }));
  EXPECT_EQ (c.ingestion.rtp.stream_ids.at ("0x1234abcd"), "cam-9");
  EXPECT_EQ (c.ingestion.rtp.stream_ids.at ("10.0.0.5:5004"), "cam-10");
  EXPECT_EQ (c.ingestion.buffer.ring_size, 512u * 1024);
  ASSERT_EQ (c.ingestion.routes.size (), 2u);
  EXPECT_EQ (c.ingestion.routes[0], (std::pair<std::string, std::string>{ "cam-*", "hevc" }));
  EXPECT_EQ (c.ingestion.routes[1], (std::pair<std::string, std::string>{ "*", "default" }));
  EXPECT_FALSE (c.transcoding.enabled);
  EXPECT_EQ (c.transcoding.hardware, "cpu"); // enums are stored as spelled in the table
  EXPECT_EQ (c.transcoding.output_bitrate, 2500000);
  EXPECT_EQ (c.packaging.segment_duration_ms, 1000);
  EXPECT_EQ (c.packaging.part_duration_ms, 200);
  EXPECT_TRUE (c.storage.s3.enabled);
  EXPECT_EQ (c.storage.s3.bucket, "media.example");
  EXPECT_EQ (c.redis.addr, "[::1]:6379");
  EXPECT_EQ (c.monitoring.log_level, "debug");
}

TEST (ConfigLoad, RoutesAsAMapKeepTheirOrder)
{
  Config c = loaded (load_yaml ("ingestion:\n  routes: {\"studio-*\": studio, \"*\": default}\n"));
  ASSERT_EQ (c.ingestion.routes.size (), 2u);
  EXPECT_EQ (c.ingestion.routes[0].first, "studio-*");
  EXPECT_EQ (c.ingestion.routes[1].second, "default");
}

TEST (ConfigLoad, EveryTypeFromEnvironment)
{
  Env env{ "MIRROR_REDIS_ADDR=127.0.0.1:6379",
           "MIRROR_INGESTION_SRT_PORT=7000",
           "MIRROR_STORAGE_LOCAL_CACHE_DIR=/srv/mirror",
           "MIRROR_SERVER_SHUTDOWN_TIMEOUT=30s",
           "MIRROR_TRANSCODING_ENABLED=false",
           "MIRROR_TRANSCODING_OUTPUT_BITRATE=800k",
           "MIRROR_INGESTION_BUFFER_RING_SIZE=8MiB",
           "MIRROR_MONITORING_DBUS=off",
           "MIRROR_INGESTION_SRT_ALLOW_LIST=a, b,c",
           "MIRROR_INGESTION_RTP_PAYLOAD_TYPES=96=H264,99=AAC",
           "MIRROR_INGESTION_RTP_STREAM_IDS=0xbeef=cam-1",
           "MIRROR_INGESTION_ROUTES=cam-*=hevc,*=default",
           "PATH=/usr/bin" };
  ConfigResult result = load_config ("", env.get ());
  Config c = loaded (result);
  EXPECT_TRUE (result.warnings.empty ());
  EXPECT_EQ (c.redis.addr, "127.0.0.1:6379");
  EXPECT_EQ (c.ingestion.srt.port, 7000);
  EXPECT_EQ (c.storage.local.cache_dir, "/srv/mirror");
  EXPECT_EQ (c.server.shutdown_timeout_ms, 30000);
  EXPECT_FALSE (c.transcoding.enabled);
  EXPECT_EQ (c.transcoding.output_bitrate, 800000);
  EXPECT_EQ (c.ingestion.buffer.ring_size, 8u * 1024 * 1024);
  EXPECT_EQ (c.monitoring.dbus, "off");
  EXPECT_EQ (c.ingestion.srt.allow_list, (std::vector<std::string>{ "a", "b", "c" }));
  EXPECT_EQ (c.ingestion.rtp.payload_types,
             (std::map<int, std::string>{ { 96, "H264" }, { 99, "AAC" } }));
  EXPECT_EQ (c.ingestion.rtp.stream_ids.at ("0xbeef"), "cam-1");
  EXPECT_EQ (c.ingestion.routes, (std::vector<std::pair<std::string, std::string>>{
                                     { "cam-*", "hevc" }, { "*", "default" } }));
}

TEST (ConfigLoad, EnvironmentWinsOverFile)
{
  config_test::ScratchFile file ("redis:\n  addr: 10.0.0.1:6379\n  db: 3\n");
  Env env{ "MIRROR_REDIS_ADDR=10.0.0.2:6380" };
  Config c = loaded (load_config (file.path (), env.get ()));
  EXPECT_EQ (c.redis.addr, "10.0.0.2:6380");
  EXPECT_EQ (c.redis.db, 3); // the file still counts where the environment is silent
}

TEST (ConfigLoad, EmptyEnvironmentValueClearsText)
{
  config_test::ScratchFile file ("redis:\n  addr: 10.0.0.1:6379\n");
  Env env{ "MIRROR_REDIS_ADDR=" };
  EXPECT_EQ (loaded (load_config (file.path (), env.get ())).redis.addr, "");
}

TEST (ConfigLoad, UnknownVariableIsAWarning)
{
  Env env{ "MIRROR_REDIS_ADRR=127.0.0.1:6379", "MIRROR_SOURCE_ROOT=/src", "MIRROR_BUILD_ROOT=/b",
           "MIRROR_TEST_SLOW=1", "MIRRORED=1" };
  ConfigResult result = load_config ("", env.get ());
  ASSERT_TRUE (result.config);
  ASSERT_EQ (result.warnings.size (), 1u);
  EXPECT_NE (result.warnings[0].find ("MIRROR_REDIS_ADRR"), std::string::npos);
  EXPECT_EQ (result.config->redis.addr, "");
}

TEST (ConfigLoad, LastDuplicateVariableWins)
{
  Env env{ "MIRROR_SERVER_HTTP_PORT=8000", "MIRROR_SERVER_HTTP_PORT=8001" };
  EXPECT_EQ (loaded (load_config ("", env.get ())).server.http_port, 8001);
}

TEST (ConfigLoad, AcceptedEdgeValues)
{
  EXPECT_EQ (loaded (load_env ("MIRROR_SERVER_ADMIN_PORT=65535")).server.admin_port, 65535);
  EXPECT_EQ (loaded (load_env ("MIRROR_SERVER_ADMIN_PORT=1")).server.admin_port, 1);
  EXPECT_EQ (
      loaded (load_env ("MIRROR_TRANSCODING_OUTPUT_BITRATE=100k")).transcoding.output_bitrate,
      100000);
  EXPECT_EQ (loaded (load_env ("MIRROR_INGESTION_SRT_PASSPHRASE=" + std::string (79, 'x')))
                 .ingestion.srt.passphrase.size (),
             79u);
  EXPECT_EQ (
      loaded (load_env ("MIRROR_INGESTION_SRT_ALLOW_LIST=")).ingestion.srt.allow_list.size (), 0u);
  EXPECT_EQ (loaded (load_env ("MIRROR_TRANSCODING_X264_TUNE=zerolatency+fastdecode"))
                 .transcoding.x264_tune,
             "zerolatency+fastdecode");
}
