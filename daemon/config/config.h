// SPDX-License-Identifier: LGPL-2.1-or-later
// mirrord's configuration: the seed's YAML layout, embedded defaults, and
// MIRROR_<SECTION>_<KEY> environment overrides. Durations are held in
// milliseconds, bitrates in bits per second, sizes in bytes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mirror::daemon {

struct ServerConfig {
  std::string bind_address = "0.0.0.0";
  uint16_t http3_port = 8443;       // HTTPS/TCP and HTTP/3/UDP
  uint16_t http_port = 8080;        // plain HTTP/1.1
  uint16_t admin_port = 9090;       // REST, /metrics, /health, web page
  // Empty: 127.0.0.1 without an admin_token, 0.0.0.0 with one
  // (effective_admin_bind_address). Anything but loopback without a token
  // needs admin_insecure.
  std::string admin_bind_address;
  std::string admin_token;          // empty: mutating calls need no token
  bool admin_insecure = false;      // an admin API open to the network, tokenless
  int64_t http_max_connections = 10000;       // HTTPS + HTTP viewer connections
  int64_t max_connections_per_address = 1000; // of them from one client IP; 0: no cap
  // HMAC key of signed playback URLs (origin/playback_token.h); empty: off.
  std::string playback_token_key;
  // Where viewers reach this node ("https://node-a.example.com:8443"): the
  // registry tells the cluster, and other nodes send viewers of this node's
  // streams there. Empty: they cannot (404).
  std::string public_url;
  // How a viewer of a stream another node owns is served: "redirect" (one
  // 302 to the owner's public_url) or "relay" (this node fetches the
  // owner's answers through one shared cache, single flight).
  std::string cluster_playback = "redirect";
  std::string cert_file;            // empty: self-signed in the state dir
  std::string key_file;
  // HTTP/3 (QUIC) limits: what one peer, or all of them, can make us keep.
  int http3_max_connections = 10000;
  int http3_max_streams = 100;       // concurrent request streams per connection
  int http3_max_held_requests = 32;  // held (blocking) requests per connection
  int64_t http3_idle_timeout_ms = 30000;
  // An HTTP/1.1 or HTTPS connection with no request in flight for this long
  // is closed (viewer and admin ports).
  int64_t http_idle_timeout_ms = 30000;
  int64_t shutdown_timeout_ms = 10000;
  // Threads serving viewers (HTTP/3, HTTP/2, HTTP/1.1), each on its own
  // SO_REUSEPORT sockets of the viewer ports; 0: one per core.
  int workers = 0;
};

struct SrtConfig {
  uint16_t port = 6000;
  int64_t latency_ms = 120;
  std::string passphrase;           // empty: no encryption; else 10..79 chars
  int pbkeylen = 16;                // 16, 24 or 32 (AES-128/192/256)
  std::vector<std::string> allow_list;  // empty: any stream id
  std::map<std::string, std::string> stream_passphrases;  // stream id -> passphrase
  int max_connections = 64;
  int receive_threads = 0;          // UDP sockets on the port; 0: per core, at most 4
  int payload_size = 1316;
  int flow_control_window = 25600;  // packets
  int64_t peer_idle_timeout_ms = 5000;
  int64_t input_bandwidth = 0;      // bytes/s, 0 = estimate
};

struct RtpConfig {
  uint16_t port = 5004;             // RTCP on port + 1
  std::map<int, std::string> payload_types = {{96, "H265"}, {97, "H264"}, {98, "AAC"}};
  std::map<std::string, std::string> stream_ids;  // "ssrc" or "source" -> stream id
  int64_t session_timeout_ms = 10000;
};

struct BufferConfig {
  uint64_t ring_size = 4 * 1024 * 1024;
};

struct IngestionConfig {
  SrtConfig srt;
  RtpConfig rtp;
  BufferConfig buffer;
  int64_t reconnect_window_ms = 5000;
  // Nice value of the ingest threads (the SRT and RTP hubs' and the
  // streaming threads taking their data); below 0 needs CAP_SYS_NICE.
  int thread_nice = -10;
  // How long an ended or failed stream stays listed (and its playlists,
  // ended, reachable) before it is removed.
  int64_t ended_retention_ms = 30000;
  // A pipeline whose input arrives but whose sinks get nothing for this
  // long is restarted (its caller stays connected); 0: never.
  int64_t pipeline_stall_timeout_ms = 15000;
  int max_streams = 64;
  // Stream id glob -> pipeline description name in pipelines/ (first match wins).
  std::vector<std::pair<std::string, std::string>> routes = {{"*", "default"}};
  std::string pipelines_dir;        // empty: the descriptions built into mirrord
};

struct TranscodingConfig {
  bool enabled = true;
  std::string hardware = "auto";    // auto | nvidia | cpu
  int output_width = 640;
  int output_height = 360;
  int64_t output_bitrate = 400000;  // bits/s, >= 100000
  int64_t audio_bitrate = 64000;    // bits/s
  std::string renditions;           // ladder, e.g. "360p:640x360@400k,source"
  std::string x264_preset = "veryfast";
  std::string x264_tune = "zerolatency";
  int max_sessions = 25;
  int gpu_max_sessions = 0;         // GPU decodes at once; 0: no limit
  // A new transcode while a running one sheds work (the box is past real
  // time): "refuse" it (CAPACITY_FULL) or serve it as "source" only.
  std::string when_overloaded = "refuse";
};

struct PackagingConfig {
  int64_t segment_duration_ms = 500;
  int64_t part_duration_ms = 100;
  int64_t playlist_length_ms = 10000;
};

struct S3Config {
  bool enabled = false;
  std::string bucket;
  std::string region;
  std::string endpoint;
  std::string access_key_id;     // best given as MIRROR_STORAGE_S3_ACCESS_KEY_ID
  std::string secret_access_key; // and MIRROR_STORAGE_S3_SECRET_ACCESS_KEY
  std::string prefix;            // put before every object key
  int upload_workers = 4;        // uploads in parallel
};

struct LocalStorageConfig {
  std::string cache_dir;            // empty: /var/lib/mirror as root, else $XDG_STATE_HOME/mirror
  int64_t max_cache_size = 10LL * 1024 * 1024 * 1024; // DVR periods on local disk; 0: no cap
  int64_t ttl_ms = 3600 * 1000; // with S3: how long an uploaded period stays on local disk
};

struct DvrConfig {
  bool enabled = true;                        // record every rendition under cache_dir/dvr
  int64_t retention_time_ms = 24 * 3600 * 1000; // periods older than this are removed
  int64_t segment_length_ms = 500; // the recorded segment: packaging segments, merged
  int64_t period_length_ms = 600 * 1000; // one data file (and index) per rendition and period
};

struct StorageConfig {
  DvrConfig dvr;
  LocalStorageConfig local;
  S3Config s3;
};

struct RedisConfig {
  std::string addr;                 // empty: in-process memory registry; "host:port"
  int db = 0;
  std::string password;
  std::string key_prefix = "mirror:";
  bool allow_degraded = false;      // start even when Redis is unreachable
  int64_t connect_timeout_ms = 2000;
};

struct RegistryConfig {
  std::string node_id;              // empty: "<hostname>:<admin_port>"
  int64_t heartbeat_timeout_ms = 15000;
  int64_t heartbeat_interval_ms = 2000;
};

struct MonitoringConfig {
  std::string log_level = "info";   // debug | info | warn | error
  bool metrics_enabled = true;
  int64_t stats_interval_ms = 1000;
  std::string dbus = "session";     // session | system | off
  std::string dbus_name = "io.mirror.Mirror1";
};

struct Config {
  ServerConfig server;
  IngestionConfig ingestion;
  TranscodingConfig transcoding;
  PackagingConfig packaging;
  StorageConfig storage;
  RedisConfig redis;
  RegistryConfig registry;
  MonitoringConfig monitoring;
};

// One line a user can act on:
// "config: <source>: <key>: <value> <problem> (allowed: <what>)".
struct ConfigError {
  std::string key;      // dotted, e.g. "server.admin_port"; "" for a file-level error
  std::string value;
  std::string allowed;
  std::string source;   // file path, "MIRROR_SERVER_ADMIN_PORT", or "" for defaults
  std::string problem;  // what is wrong: "is out of range", "unknown key"
  // value is printed (quoted unless it is a number) when non-empty or when
  // has_value says an empty value was really given ("" where a port belongs).
  bool has_value = false;
  std::string to_string () const;
};

// Loads the embedded defaults, then the YAML file (when path is non-empty),
// then every MIRROR_<SECTION>_<KEY> variable in env, and validates the result.
// env is a NULL-terminated array like environ.
struct ConfigResult {
  std::optional<Config> config;
  std::optional<ConfigError> error;
  std::vector<std::string> warnings;   // e.g. MIRROR_* variables naming no key
};
ConfigResult load_config (const std::string &path, const char *const *env);

// The effective configuration as YAML (for `mirrord check-config` and
// debugging). Secrets (tokens, passwords, passphrases, keys) that are set read
// "***" unless @reveal_secrets; an empty one reads "" (so "is it set?" is
// answered without the value).
std::string dump_config (const Config &config, bool reveal_secrets = false);

// Where the admin port listens: server.admin_bind_address, or when that is
// empty, 127.0.0.1 without an admin_token and 0.0.0.0 with one.
std::string effective_admin_bind_address (const ServerConfig &server);
// Whether @address reaches this host only (127.0.0.0/8, ::1, localhost).
bool is_loopback_address (std::string_view address);

}  // namespace mirror::daemon
