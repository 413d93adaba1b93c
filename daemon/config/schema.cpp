// SPDX-License-Identifier: LGPL-2.1-or-later
#include "schema.h"

#include "checks.h"
#include "values.h"

#include <algorithm>
#include <cctype>

namespace mirror::daemon::config_schema {

namespace {

namespace checks = config_checks;

#define FIELD(member) [] (Config &c) -> Field { return &c.member; }

constexpr int64_t kSecond = 1000;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kKiB = 1024;
constexpr int64_t kMiB = 1024 * kKiB;
constexpr int64_t kGiB = 1024 * kMiB;

// Table order is dump order and the order of mirror.yaml; keep sections
// together.
const std::vector<Key> kKeys = {
  // server
  { .path = "server.bind_address",
    .kind = Kind::kString,
    .field = FIELD (server.bind_address),
    .check = checks::bind_address,
    .allowed = "an IP address or host name, e.g. 0.0.0.0 or ::" },
  { .path = "server.http3_port", .kind = Kind::kPort, .field = FIELD (server.http3_port) },
  { .path = "server.http_port", .kind = Kind::kPort, .field = FIELD (server.http_port) },
  { .path = "server.admin_port", .kind = Kind::kPort, .field = FIELD (server.admin_port) },
  { .path = "server.admin_bind_address",
    .kind = Kind::kString,
    .field = FIELD (server.admin_bind_address),
    .check = checks::optional_bind_address,
    .allowed = "an IP address or host name, e.g. 127.0.0.1 or 0.0.0.0; empty: 127.0.0.1 "
               "without server.admin_token, 0.0.0.0 with one" },
  { .path = "server.admin_token",
    .kind = Kind::kString,
    .field = FIELD (server.admin_token),
    .allowed = "any text; empty: mutating calls need no token",
    .secret = true },
  { .path = "server.admin_insecure",
    .kind = Kind::kBool,
    .field = FIELD (server.admin_insecure) },
  { .path = "server.playback_token_key",
    .kind = Kind::kString,
    .field = FIELD (server.playback_token_key),
    .check = checks::playback_token_key,
    .allowed = "empty (viewer URLs unsigned) or a key of 16 characters or more",
    .secret = true },
  { .path = "server.public_url",
    .kind = Kind::kString,
    .field = FIELD (server.public_url),
    .check = checks::http_url_or_empty,
    .allowed = "empty, or the http:// or https:// URL where viewers reach this node (cluster "
               "playback: other nodes redirect viewers of its streams there)" },
  { .path = "server.cluster_playback",
    .kind = Kind::kString,
    .field = FIELD (server.cluster_playback),
    .check = checks::cluster_playback,
    .allowed = "redirect (one 302 to the owner's server.public_url) or relay (this node "
               "fetches the owner's answers through one shared cache, one request per object)" },
  { .path = "server.cert_file",
    .kind = Kind::kString,
    .field = FIELD (server.cert_file),
    .allowed = "a PEM file; empty: self-signed in the state dir" },
  { .path = "server.key_file",
    .kind = Kind::kString,
    .field = FIELD (server.key_file),
    .allowed = "a PEM file; empty: self-signed in the state dir" },
  { .path = "server.http3_max_connections",
    .kind = Kind::kInteger,
    .field = FIELD (server.http3_max_connections),
    .min = 1,
    .max = 1000000 },
  { .path = "server.http_max_connections",
    .kind = Kind::kInteger,
    .field = FIELD (server.http_max_connections),
    .min = 1,
    .max = 1000000 },
  { .path = "server.max_connections_per_address",
    .kind = Kind::kInteger,
    .field = FIELD (server.max_connections_per_address),
    .min = 0,
    .max = 1000000 },
  { .path = "server.http3_max_streams",
    .kind = Kind::kInteger,
    .field = FIELD (server.http3_max_streams),
    .min = 1,
    .max = 10000 },
  { .path = "server.http3_max_held_requests",
    .kind = Kind::kInteger,
    .field = FIELD (server.http3_max_held_requests),
    .min = 1,
    .max = 10000 },
  { .path = "server.http3_idle_timeout",
    .kind = Kind::kDuration,
    .field = FIELD (server.http3_idle_timeout_ms),
    .min = kSecond,
    .max = 10 * kMinute },
  { .path = "server.http_idle_timeout",
    .kind = Kind::kDuration,
    .field = FIELD (server.http_idle_timeout_ms),
    .min = 100,
    .max = 10 * kMinute },
  { .path = "server.workers",
    .kind = Kind::kInteger,
    .field = FIELD (server.workers),
    .min = 0,
    .max = 256,
    .allowed = "0 (one per core) to 256" },
  { .path = "server.shutdown_timeout",
    .kind = Kind::kDuration,
    .field = FIELD (server.shutdown_timeout_ms),
    .min = 0,
    .max = 10 * kMinute },

  // ingestion.srt
  { .path = "ingestion.srt.port", .kind = Kind::kPort, .field = FIELD (ingestion.srt.port) },
  { .path = "ingestion.srt.latency",
    .kind = Kind::kDuration,
    .field = FIELD (ingestion.srt.latency_ms),
    .min = 0,
    .max = 60 * kSecond },
  { .path = "ingestion.srt.passphrase",
    .kind = Kind::kString,
    .field = FIELD (ingestion.srt.passphrase),
    .check = checks::srt_passphrase,
    .allowed = "empty (no encryption) or 10..79 characters",
    .secret = true },
  { .path = "ingestion.srt.pbkeylen",
    .kind = Kind::kInteger,
    .field = FIELD (ingestion.srt.pbkeylen),
    .min = 16,
    .max = 32,
    .choices = { "16", "24", "32" } },
  { .path = "ingestion.srt.allow_list",
    .kind = Kind::kStringList,
    .field = FIELD (ingestion.srt.allow_list),
    .check = checks::not_empty,
    .allowed = "a list of stream ids; empty: any stream id" },
  { .path = "ingestion.srt.stream_passphrases",
    .kind = Kind::kStringMap,
    .field = FIELD (ingestion.srt.stream_passphrases),
    .check = checks::srt_passphrase,
    .allowed = "a map of stream id to passphrase (10..79 characters); overrides passphrase",
    .secret = true },
  { .path = "ingestion.srt.max_connections",
    .kind = Kind::kInteger,
    .field = FIELD (ingestion.srt.max_connections),
    .min = 1,
    .max = 10000 },
  { .path = "ingestion.srt.receive_threads",
    .kind = Kind::kInteger,
    .field = FIELD (ingestion.srt.receive_threads),
    .min = 0,
    .max = 64,
    .allowed = "0 (one per CPU core, at most 4) or 1..64" },
  // 1316 = 7 MPEG-TS packets; 1456 is libsrt's live-mode maximum.
  { .path = "ingestion.srt.payload_size",
    .kind = Kind::kInteger,
    .field = FIELD (ingestion.srt.payload_size),
    .min = 188,
    .max = 1456 },
  { .path = "ingestion.srt.flow_control_window",
    .kind = Kind::kInteger,
    .field = FIELD (ingestion.srt.flow_control_window),
    .min = 32,
    .max = 10000000 },
  { .path = "ingestion.srt.peer_idle_timeout",
    .kind = Kind::kDuration,
    .field = FIELD (ingestion.srt.peer_idle_timeout_ms),
    .min = 100,
    .max = kHour },
  { .path = "ingestion.srt.input_bandwidth",
    .kind = Kind::kSize,
    .field = FIELD (ingestion.srt.input_bandwidth),
    .min = 0,
    .max = 1024 * kGiB,
    .allowed = "bytes per second, e.g. 12500000 or 12.5MB; 0: estimate from the stream" },

  // ingestion.rtp
  { .path = "ingestion.rtp.port",
    .kind = Kind::kPort,
    .field = FIELD (ingestion.rtp.port),
    .min = 1,
    .max = 65534,
    .allowed = "1..65534 (RTCP uses port + 1)" },
  { .path = "ingestion.rtp.payload_types",
    .kind = Kind::kPayloadTypes,
    .field = FIELD (ingestion.rtp.payload_types),
    .min = 96,
    .max = 127,
    .choices = { "H265", "H264", "AAC" } },
  { .path = "ingestion.rtp.stream_ids",
    .kind = Kind::kStringMap,
    .field = FIELD (ingestion.rtp.stream_ids),
    .check = checks::not_empty,
    .allowed = "a map of SSRC or source address to stream id" },
  { .path = "ingestion.rtp.session_timeout",
    .kind = Kind::kDuration,
    .field = FIELD (ingestion.rtp.session_timeout_ms),
    .min = 100,
    .max = kHour },

  // ingestion.buffer
  { .path = "ingestion.buffer.ring_size",
    .kind = Kind::kSize,
    .field = FIELD (ingestion.buffer.ring_size),
    .min = 64 * kKiB,
    .max = kGiB },

  // ingestion
  { .path = "ingestion.reconnect_window",
    .kind = Kind::kDuration,
    .field = FIELD (ingestion.reconnect_window_ms),
    .min = 0,
    .max = 10 * kMinute },
  { .path = "ingestion.ended_retention",
    .kind = Kind::kDuration,
    .field = FIELD (ingestion.ended_retention_ms),
    .min = 0,
    .max = 24 * kHour },
  { .path = "ingestion.pipeline_stall_timeout",
    .kind = Kind::kDuration,
    .field = FIELD (ingestion.pipeline_stall_timeout_ms),
    .min = 0,
    .max = 10 * kMinute },
  // Below the rest of mirrord: a box short of CPU delays demuxing and
  // transcoding, which have buffers, not the reading of UDP sockets.
  { .path = "ingestion.thread_nice",
    .kind = Kind::kInteger,
    .field = FIELD (ingestion.thread_nice),
    .min = -20,
    .max = 19,
    .allowed = "-20..19 (lower runs first; below 0 needs CAP_SYS_NICE or RLIMIT_NICE)" },
  { .path = "ingestion.max_streams",
    .kind = Kind::kInteger,
    .field = FIELD (ingestion.max_streams),
    .min = 1,
    .max = 10000 },
  { .path = "ingestion.routes",
    .kind = Kind::kRoutes,
    .field = FIELD (ingestion.routes),
    .check = checks::pipeline_name,
    .allowed = "a list of {match: <stream id glob>, pipeline: <name>}, first match wins" },
  { .path = "ingestion.pipelines_dir",
    .kind = Kind::kString,
    .field = FIELD (ingestion.pipelines_dir),
    .allowed = "a directory of *.pipeline files; empty: the built-in descriptions" },

  // transcoding
  { .path = "transcoding.enabled", .kind = Kind::kBool, .field = FIELD (transcoding.enabled) },
  { .path = "transcoding.hardware",
    .kind = Kind::kEnum,
    .field = FIELD (transcoding.hardware),
    .choices = { "auto", "nvidia", "cpu" } },
  { .path = "transcoding.output_width",
    .kind = Kind::kInteger,
    .field = FIELD (transcoding.output_width),
    .min = 16,
    .max = 7680 },
  { .path = "transcoding.output_height",
    .kind = Kind::kInteger,
    .field = FIELD (transcoding.output_height),
    .min = 16,
    .max = 4320 },
  { .path = "transcoding.output_bitrate",
    .kind = Kind::kBitrate,
    .field = FIELD (transcoding.output_bitrate),
    .min = 100 * 1000,
    .max = 1000 * 1000 * 1000 },
  { .path = "transcoding.audio_bitrate",
    .kind = Kind::kBitrate,
    .field = FIELD (transcoding.audio_bitrate),
    .min = 8 * 1000,
    .max = 1000 * 1000 },
  { .path = "transcoding.renditions",
    .kind = Kind::kString,
    .field = FIELD (transcoding.renditions),
    .check = checks::transcoding_ladder,
    .allowed = "a ladder such as \"360p:640x360@400k,source\"; empty: one output_* rendition" },
  { .path = "transcoding.x264_preset",
    .kind = Kind::kEnum,
    .field = FIELD (transcoding.x264_preset),
    .choices = { "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
                 "veryslow", "placebo" } },
  { .path = "transcoding.x264_tune",
    .kind = Kind::kString,
    .field = FIELD (transcoding.x264_tune),
    .check = checks::x264_tune,
    .allowed = "empty, or stillimage, fastdecode, zerolatency joined by +" },
  { .path = "transcoding.gpu_max_sessions",
    .kind = Kind::kInteger,
    .field = FIELD (transcoding.gpu_max_sessions),
    .min = 0,
    .max = 1000 },
  { .path = "transcoding.max_sessions",
    .kind = Kind::kInteger,
    .field = FIELD (transcoding.max_sessions),
    .min = 1,
    .max = 1000 },
  { .path = "transcoding.when_overloaded",
    .kind = Kind::kEnum,
    .field = FIELD (transcoding.when_overloaded),
    .choices = { "refuse", "source" } },

  // packaging
  { .path = "packaging.segment_duration",
    .kind = Kind::kDuration,
    .field = FIELD (packaging.segment_duration_ms),
    .min = 100,
    .max = 60 * kSecond },
  { .path = "packaging.part_duration",
    .kind = Kind::kDuration,
    .field = FIELD (packaging.part_duration_ms),
    .min = 10,
    .max = 10 * kSecond },
  { .path = "packaging.playlist_length",
    .kind = Kind::kDuration,
    .field = FIELD (packaging.playlist_length_ms),
    .min = kSecond,
    .max = kHour },

  // storage
  { .path = "storage.dvr.enabled", .kind = Kind::kBool, .field = FIELD (storage.dvr.enabled) },
  { .path = "storage.dvr.retention_time",
    .kind = Kind::kDuration,
    .field = FIELD (storage.dvr.retention_time_ms),
    .min = kMinute,
    .max = 31 * 24 * kHour },
  { .path = "storage.dvr.segment_length",
    .kind = Kind::kDuration,
    .field = FIELD (storage.dvr.segment_length_ms),
    .min = 100,
    .max = 60 * kSecond },
  { .path = "storage.dvr.period_length",
    .kind = Kind::kDuration,
    .field = FIELD (storage.dvr.period_length_ms),
    .min = 10 * kSecond,
    .max = 24 * kHour },
  { .path = "storage.local.cache_dir",
    .kind = Kind::kString,
    .field = FIELD (storage.local.cache_dir),
    .allowed = "a directory; empty: /var/lib/mirror as root, else $XDG_STATE_HOME/mirror" },
  { .path = "storage.local.max_cache_size",
    .kind = Kind::kSize,
    .field = FIELD (storage.local.max_cache_size),
    .min = 0,
    .max = 1024 * 1024 * kGiB },
  { .path = "storage.local.ttl",
    .kind = Kind::kDuration,
    .field = FIELD (storage.local.ttl_ms),
    .min = 0,
    .max = 31 * 24 * kHour },
  { .path = "storage.s3.enabled", .kind = Kind::kBool, .field = FIELD (storage.s3.enabled) },
  { .path = "storage.s3.bucket",
    .kind = Kind::kString,
    .field = FIELD (storage.s3.bucket),
    .check = checks::s3_bucket_or_empty,
    .allowed = "empty, or 3..63 of a-z, 0-9, '.', '-'" },
  { .path = "storage.s3.region", .kind = Kind::kString, .field = FIELD (storage.s3.region) },
  { .path = "storage.s3.endpoint",
    .kind = Kind::kString,
    .field = FIELD (storage.s3.endpoint),
    .check = checks::http_url_or_empty,
    .allowed = "an http:// or https:// URL; empty: AWS for the region" },
  { .path = "storage.s3.access_key_id",
    .kind = Kind::kString,
    .field = FIELD (storage.s3.access_key_id),
    .allowed = "an access key ID (best from MIRROR_STORAGE_S3_ACCESS_KEY_ID)" },
  { .path = "storage.s3.secret_access_key",
    .kind = Kind::kString,
    .field = FIELD (storage.s3.secret_access_key),
    .allowed = "a secret key (best from MIRROR_STORAGE_S3_SECRET_ACCESS_KEY)",
    .secret = true },
  { .path = "storage.s3.prefix",
    .kind = Kind::kString,
    .field = FIELD (storage.s3.prefix),
    .check = checks::s3_prefix,
    .allowed = "empty, or a key prefix such as mirror/ (no leading '/')" },
  { .path = "storage.s3.upload_workers",
    .kind = Kind::kInteger,
    .field = FIELD (storage.s3.upload_workers),
    .min = 1,
    .max = 64 },

  // redis
  { .path = "redis.addr",
    .kind = Kind::kString,
    .field = FIELD (redis.addr),
    .check = checks::host_port_or_empty,
    .allowed = "host:port, e.g. 127.0.0.1:6379; empty: in-process registry" },
  { .path = "redis.db", .kind = Kind::kInteger, .field = FIELD (redis.db), .min = 0, .max = 65535 },
  { .path = "redis.password",
    .kind = Kind::kString,
    .field = FIELD (redis.password),
    .allowed = "any text; empty: no AUTH",
    .secret = true },
  { .path = "redis.key_prefix", .kind = Kind::kString, .field = FIELD (redis.key_prefix) },
  { .path = "redis.allow_degraded", .kind = Kind::kBool, .field = FIELD (redis.allow_degraded) },
  { .path = "redis.connect_timeout",
    .kind = Kind::kDuration,
    .field = FIELD (redis.connect_timeout_ms),
    .min = 10,
    .max = kMinute },

  // registry
  { .path = "registry.node_id",
    .kind = Kind::kString,
    .field = FIELD (registry.node_id),
    .allowed = "any text; empty: <hostname>:<admin_port>" },
  { .path = "registry.heartbeat_timeout",
    .kind = Kind::kDuration,
    .field = FIELD (registry.heartbeat_timeout_ms),
    .min = 100,
    .max = kHour },
  { .path = "registry.heartbeat_interval",
    .kind = Kind::kDuration,
    .field = FIELD (registry.heartbeat_interval_ms),
    .min = 100,
    .max = kHour },

  // monitoring
  { .path = "monitoring.log_level",
    .kind = Kind::kEnum,
    .field = FIELD (monitoring.log_level),
    .choices = { "debug", "info", "warn", "error" } },
  { .path = "monitoring.metrics_enabled",
    .kind = Kind::kBool,
    .field = FIELD (monitoring.metrics_enabled) },
  { .path = "monitoring.stats_interval",
    .kind = Kind::kDuration,
    .field = FIELD (monitoring.stats_interval_ms),
    .min = 100,
    .max = kHour },
  { .path = "monitoring.dbus",
    .kind = Kind::kEnum,
    .field = FIELD (monitoring.dbus),
    .choices = { "session", "system", "off" } },
  { .path = "monitoring.dbus_name",
    .kind = Kind::kString,
    .field = FIELD (monitoring.dbus_name),
    .check = checks::dbus_name,
    .allowed = "a D-Bus well-known name, e.g. io.mirror.Mirror1" },
};

#undef FIELD

std::string
join (const std::vector<std::string_view> &items)
{
  std::string out;
  for (std::string_view item : items) {
    if (!out.empty ())
      out += ", ";
    out += item;
  }
  return out;
}

} // namespace

const std::vector<Key> &
keys ()
{
  return kKeys;
}

const Key *
find_key (std::string_view path)
{
  for (const Key &key : kKeys)
    if (key.path == path)
      return &key;
  return nullptr;
}

bool
is_section (std::string_view path)
{
  for (const Key &key : kKeys)
    if (key.path.size () > path.size () && key.path.starts_with (path)
        && key.path[path.size ()] == '.')
      return true;
  return false;
}

std::vector<std::string>
section_children (std::string_view section)
{
  std::vector<std::string> children;
  for (const Key &key : kKeys) {
    std::string_view rest = key.path;
    if (!section.empty ()) {
      if (!(rest.size () > section.size () && rest.starts_with (section)
            && rest[section.size ()] == '.'))
        continue;
      rest.remove_prefix (section.size () + 1);
    }
    std::string child (rest.substr (0, rest.find ('.')));
    if (std::find (children.begin (), children.end (), child) == children.end ())
      children.push_back (child);
  }
  return children;
}

std::string
env_name (const Key &key)
{
  std::string name = "MIRROR_";
  for (char c : key.path)
    name += c == '.' ? '_' : static_cast<char> (std::toupper (static_cast<unsigned char> (c)));
  return name;
}

std::string
allowed_text (const Key &key)
{
  if (!key.allowed.empty ())
    return std::string (key.allowed);
  std::string range;
  switch (key.kind) {
  case Kind::kBool:
    return "true, false, yes, no, 1, 0";
  case Kind::kEnum:
    return join (key.choices);
  case Kind::kInteger:
    if (!key.choices.empty ())
      return join (key.choices);
    return std::to_string (key.min) + ".." + std::to_string (key.max);
  case Kind::kPort:
    return "1..65535";
  case Kind::kDuration:
    return config_values::format_duration_ms (key.min) + ".."
           + config_values::format_duration_ms (key.max)
           + "; milliseconds, or with a unit: 500ms, 5s, 1m";
  case Kind::kBitrate:
    return config_values::format_bitrate (key.min) + ".." + config_values::format_bitrate (key.max)
           + " bits/s, e.g. 400k, 2.5M";
  case Kind::kSize:
    return config_values::format_size (key.min) + ".." + config_values::format_size (key.max)
           + " bytes, e.g. 512KiB, 4MiB";
  case Kind::kPayloadTypes:
    return "a map of payload type " + std::to_string (key.min) + ".." + std::to_string (key.max)
           + " to " + join (key.choices);
  case Kind::kString:
    return "any text";
  case Kind::kStringList:
    return "a list of text";
  case Kind::kStringMap:
    return "a map of text to text";
  case Kind::kRoutes:
    return "a list of {match, pipeline}";
  }
  return "";
}

} // namespace mirror::daemon::config_schema
