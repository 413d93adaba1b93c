// SPDX-License-Identifier: LGPL-2.1-or-later
// mirrord: builds one pipeline per stream and owns what outlives them.
// Start-up: config, state directory, registry, pipeline descriptions (every
// routed one must build), stream manager, the Origin (LL-HLS front ends),
// ingest listeners (SRT and RTP hubs), REST, D-Bus. SIGINT/SIGTERM stop the
// listeners taking callers, drain every stream, then stop the Origin, D-Bus
// and REST, the reverse of start-up; a second signal exits at once.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <gst/gst.h>
#include <signal.h>
#include <unistd.h>

#include "api/rest_server.h"
#include "config/config.h"
#include "config/values.h"
#include "dbus/dbus_service.h"
#include "ingest/ingest_listeners.h"
#include "log.h"
#include "metrics/metrics.h"
#include "origin/origin.h"
#include "registry/stream_registry.h"
#include "streams/cluster_presence.h"
#include "streams/pipeline_library.h"
#include "streams/pipeline_variables.h"
#include "streams/stream_manager.h"
#include "streams/stream_pipeline.h"
#include "util/main_context.h"
#include "version.h"

extern char **environ;

namespace mirror::daemon {

namespace {

constexpr int kExitConfig = 2;
constexpr int kExitRuntime = 1;
constexpr int64_t kShutdownGraceMs = 5000;

void
print_usage (FILE *out)
{
  fprintf (
      out,
      "Usage: mirrord [--config FILE] [--log-level debug|info|warn|error]\n"
      "       mirrord version\n"
      "       mirrord check-config [--config FILE]   validate and print the effective config\n"
      "       mirrord render-pipeline NAME [VAR=VALUE...] [--config FILE]\n"
      "                                  print a pipelines/ description with its variables filled\n"
      "       mirrord sign-url STREAM [DURATION] [--config FILE]\n"
      "                                  print a playback token for STREAM valid for DURATION\n"
      "                                  (default 24h; needs server.playback_token_key)\n"
      "\n"
      "Every config key can be overridden by MIRROR_<SECTION>_<KEY> (e.g. MIRROR_REDIS_ADDR).\n");
}

// mirrord sign-url STREAM [DURATION]: the token, then the URL to give a viewer.
int
sign_url (const Config &config, const std::vector<std::string> &operands)
{
  if (operands.empty () || operands.size () > 2) {
    fprintf (stderr, "mirrord: sign-url needs a stream id and at most a duration (e.g. 1h)\n");
    return kExitConfig;
  }
  if (config.server.playback_token_key.empty ()) {
    fprintf (stderr, "mirrord: sign-url: server.playback_token_key is not set (signed playback "
                     "URLs are off)\n");
    return kExitConfig;
  }
  const std::string &stream = operands[0];
  const std::string ttl_text = operands.size () > 1 ? operands[1] : "24h";
  const std::optional<int64_t> ttl_ms = config_values::parse_duration_ms (ttl_text);
  if (!ttl_ms || *ttl_ms < 1000) {
    fprintf (stderr, "mirrord: sign-url: \"%s\" is not a duration of a second or more (e.g. "
                     "90s, 2h)\n",
             ttl_text.c_str ());
    return kExitConfig;
  }
  const int64_t expires = g_get_real_time () / G_USEC_PER_SEC + *ttl_ms / 1000;
  const std::string token = PlaybackTokens (config.server.playback_token_key).sign (stream, expires);
  printf ("%s\nhttps://<host>:%u/live/%s/index.m3u8?token=%s\n", token.c_str (),
          config.server.http3_port, stream.c_str (), token.c_str ());
  return 0;
}

struct Options {
  std::string command = "run";
  std::vector<std::string> operands; // render-pipeline NAME VAR=VALUE...
  std::string config_path;
  std::string log_level;
};

// Returns false (after printing why) on a usage error.
bool
parse_args (int argc, char **argv, Options *options)
{
  for (int i = 1; i < argc; i++) {
    std::string arg = argv[i];
    auto value = [&] (const char *name) -> const char * {
      size_t len = strlen (name);
      if (arg.size () > len && arg.compare (0, len, name) == 0 && arg[len] == '=')
        return argv[i] + len + 1;
      if (arg == name && i + 1 < argc)
        return argv[++i];
      return nullptr;
    };
    if (arg == "-h" || arg == "--help" || arg == "help") {
      options->command = "help";
    } else if (arg == "version" || arg == "--version") {
      options->command = "version";
    } else if (arg == "check-config") {
      options->command = "check-config";
    } else if (arg == "render-pipeline") {
      options->command = "render-pipeline";
    } else if (arg == "sign-url") {
      options->command = "sign-url";
    } else if ((options->command == "render-pipeline" || options->command == "sign-url")
               && arg[0] != '-') {
      options->operands.push_back (arg);
    } else if (arg.rfind ("--config", 0) == 0 || arg == "-c") {
      const char *v = arg == "-c" ? (i + 1 < argc ? argv[++i] : nullptr) : value ("--config");
      if (!v) {
        fprintf (stderr, "mirrord: --config needs a file name\n");
        return false;
      }
      options->config_path = v;
    } else if (arg.rfind ("--log-level", 0) == 0) {
      const char *v = value ("--log-level");
      if (!v || !log_level_from_string (v)) {
        fprintf (stderr,
                 "mirrord: --log-level: \"%s\" is not a level (allowed: debug, info, "
                 "warn, error)\n",
                 v ? v : "");
        return false;
      }
      options->log_level = v;
    } else {
      fprintf (stderr, "mirrord: unknown argument \"%s\"\n", arg.c_str ());
      print_usage (stderr);
      return false;
    }
  }
  return true;
}

std::string
default_node_id (const Config &config)
{
  // Stable across restarts, so a restarted node reclaims its own entries.
  return std::string (g_get_host_name ()) + ":" + std::to_string (config.server.admin_port);
}

class Daemon {
 public:
  explicit Daemon (Config config) : config_ (std::move (config)) {}

  int run ();

 private:
  bool start (std::string *error, int *exit_code);
  void begin_shutdown (const char *why);
  void finish_shutdown ();

  Config config_;
  GMainLoop *loop_ = nullptr;
  Metrics metrics_;
  HealthBoard health_;
  std::shared_ptr<StreamRegistry> registry_;
  std::shared_ptr<Origin> origin_;
  std::unique_ptr<StreamManager> streams_;
  // Who owns the streams this node does not (cluster playback), and the
  // timer that keeps it and this node's entry up to date.
  std::shared_ptr<ClusterDirectory> directory_ = std::make_shared<ClusterDirectory> ();
  std::unique_ptr<ClusterPresence> presence_;
  std::unique_ptr<IngestListeners> ingest_;
  std::unique_ptr<RestServer> rest_;
  std::unique_ptr<DbusService> dbus_;
  guint signal_watch_ = 0;
  int exit_code_ = 0;
  int64_t started_ms_ = monotonic_ms ();
};

bool
Daemon::start (std::string *error, int *exit_code)
{
  *exit_code = kExitRuntime;

  if (config_.storage.local.cache_dir.empty ())
    config_.storage.local.cache_dir = mirror::default_state_dir ();
  if (g_mkdir_with_parents (config_.storage.local.cache_dir.c_str (), 0700) != 0) {
    *error = "storage.local.cache_dir: cannot create " + config_.storage.local.cache_dir + ": "
             + g_strerror (errno);
    return false;
  }
  if (config_.registry.node_id.empty ())
    config_.registry.node_id = default_node_id (config_);

  // Registry.
  RegistryOptions options;
  if (!config_.redis.addr.empty ())
    options.uri = "redis://" + config_.redis.addr + "/" + std::to_string (config_.redis.db);
  options.password = config_.redis.password;
  options.key_prefix = config_.redis.key_prefix;
  options.node_id = config_.registry.node_id;
  options.heartbeat_timeout_ms = config_.registry.heartbeat_timeout_ms;
  options.public_url = config_.server.public_url;
  registry_ = make_registry (options, error);
  if (!registry_) {
    *error = "redis.addr: " + *error;
    *exit_code = kExitConfig;
    return false;
  }
  if (!registry_->wait_connected (config_.redis.connect_timeout_ms)) {
    if (!config_.redis.allow_degraded) {
      *error = "registry: cannot reach Redis at " + config_.redis.addr + " within "
               + std::to_string (config_.redis.connect_timeout_ms)
               + " ms (start it, fix redis.addr, or set redis.allow_degraded: true to start "
                 "without it)";
      *exit_code = kExitConfig;
      return false;
    }
    log_warn ("registry: Redis at %s unreachable; starting degraded, reconnecting in the "
              "background",
              config_.redis.addr.c_str ());
  }
  log_info ("registry: %s, node %s", registry_->describe ().c_str (),
            registry_->node_id ().c_str ());
  metrics_.build_info
      .Add ({ { "version", mirror::version () }, { "commit", mirror::git_commit () } })
      .Set (1);

  // Stream manager.
  auto pipelines = PipelineLibrary::load (config_.ingestion.pipelines_dir, error);
  if (!pipelines) {
    *exit_code = kExitConfig;
    return false;
  }
  for (const auto &[glob, name] : config_.ingestion.routes) {
    if (!pipelines->contains (name)) {
      *error = "ingestion.routes: pipeline \"" + name + "\" (for \"" + glob
               + "\") does not exist (allowed: " +
               [&] {
                 std::string all;
                 for (const auto &n : pipelines->names ())
                   all += (all.empty () ? "" : ", ") + n;
                 return all;
               }()
               + ")";
      *exit_code = kExitConfig;
      return false;
    }
  }
  // Every routed pipeline must build here: its elements must exist (a
  // missing mirrorlive plugin would otherwise fail each stream later).
  std::set<std::string> routed = { "default" };
  for (const auto &[glob, name] : config_.ingestion.routes)
    routed.insert (name);
  for (const std::string &name : routed) {
    std::string why;
    auto text = pipelines->render (
        name,
        pipeline_variables (
            config_, "check",
            "srt://:" + std::to_string (config_.ingestion.srt.port) + "?streamid=check", {}),
        &why);
    std::string missing = text ? StreamPipeline::missing_element (*text) : "";
    if (!missing.empty ()) {
      *error = "pipeline \"" + name + "\" needs GStreamer element \"" + missing
               + "\", which is not installed"
               + (missing.rfind ("mirror", 0) == 0
                      ? " (mirrord's own plugin mirrorlive: point GST_PLUGIN_PATH_1_0 at the "
                        "build's gst-plugins folder, as tools/mirror-dev does, or install it "
                        "with meson install)"
                      : " (install the GStreamer plugin that provides it)");
      *exit_code = kExitConfig;
      return false;
    }
  }
  streams_ = std::make_unique<StreamManager> (
      config_, registry_, std::make_shared<PipelineLibrary> (std::move (*pipelines)), &metrics_);

  // The Origin: LL-HLS over HTTPS (TLS) and plain HTTP, before any stream
  // can publish into it.
  OriginConfig origin_config;
  origin_config.bind_address = config_.server.bind_address;
  origin_config.tls_port = (uint16_t)config_.server.http3_port;
  origin_config.http_port = (uint16_t)config_.server.http_port;
  origin_config.quic_limits.max_connections = (size_t)config_.server.http3_max_connections;
  origin_config.http_max_connections = size_t (config_.server.http_max_connections);
  origin_config.max_connections_per_address = size_t (config_.server.max_connections_per_address);
  origin_config.quic_limits.max_streams_bidi = (uint64_t)config_.server.http3_max_streams;
  origin_config.quic_limits.max_held_per_connection
      = (size_t)config_.server.http3_max_held_requests;
  origin_config.quic_limits.idle_timeout_ns = config_.server.http3_idle_timeout_ms * 1000000;
  origin_config.cert_file = config_.server.cert_file;
  origin_config.key_file = config_.server.key_file;
  origin_config.state_dir = config_.storage.local.cache_dir;
  origin_config.http_idle_timeout_ms = config_.server.http_idle_timeout_ms;
  origin_config.workers = unsigned (config_.server.workers);
  origin_config.playback_token_key = config_.server.playback_token_key;
  origin_config.directory = directory_;
  origin_config.public_url = config_.server.public_url;
  origin_config.relay = config_.server.cluster_playback == "relay";
  // An ended stream's playlists stay as long as the stream stays listed.
  origin_config.linger_ns = config_.ingestion.ended_retention_ms * 1000000;
  origin_config.stream_defaults.part_target_ns = config_.packaging.part_duration_ms * 1000000;
  origin_config.stream_defaults.segment_target_ns = config_.packaging.segment_duration_ms * 1000000;
  origin_config.stream_defaults.playlist_length_ns = config_.packaging.playlist_length_ms * 1000000;
  origin_config.stream_defaults.shared_timeline = std::make_shared<RegistryTimeline> (registry_);
  if (config_.storage.dvr.enabled) {
    RecorderOptions recording;
    recording.dir = (config_.storage.local.cache_dir.empty () ? default_state_dir ()
                                                              : config_.storage.local.cache_dir)
                    + "/dvr";
    recording.retention_ns = config_.storage.dvr.retention_time_ms * 1000000;
    recording.segment_length_ns = config_.storage.dvr.segment_length_ms * 1000000;
    recording.period_ns = config_.storage.dvr.period_length_ms * 1000000;
    recording.max_bytes = uint64_t (config_.storage.local.max_cache_size);
    recording.ttl_ns = config_.storage.local.ttl_ms * 1000000;
    recording.keep_until_uploaded = config_.storage.s3.enabled;
    auto recorder = std::make_shared<Recorder> (recording);
    origin_config.stream_defaults.recorder = recorder;
    log_info ("storage: recording every rendition under %s (kept %s)", recording.dir.c_str (),
              config_values::format_duration_ms (config_.storage.dvr.retention_time_ms).c_str ());
    if (config_.storage.s3.enabled) {
      const auto &c = config_.storage.s3;
      mirror::S3Config s3;
      s3.endpoint = c.endpoint;
      s3.region = c.region.empty () ? "us-east-1" : c.region;
      s3.bucket = c.bucket;
      s3.access_key_id = c.access_key_id;
      s3.secret_access_key = c.secret_access_key;
      s3.prefix = c.prefix;
      UploaderOptions uploading;
      uploading.dir = recording.dir;
      uploading.workers = c.upload_workers;
      uploading.retention_ns = recording.retention_ns;
      uploading.period_ns = recording.period_ns;
      auto uploader
          = std::make_shared<Uploader> (uploading, std::make_shared<S3Client> (s3), recorder);
      // Before anything is recorded: the recorder's thread reads it.
      recorder->set_on_period_closed (
          [weak = std::weak_ptr<Uploader> (uploader)] (const std::string &base) {
            if (auto u = weak.lock ())
              u->enqueue (base);
          });
      origin_config.archive = uploader;
      log_info ("storage: archiving closed periods to s3://%s/%s at %s (%d uploads at a time)",
                c.bucket.c_str (), c.prefix.c_str (),
                c.endpoint.empty () ? ("AWS " + s3.region).c_str () : c.endpoint.c_str (),
                c.upload_workers);
      if (c.access_key_id.empty () || c.secret_access_key.empty ())
        log_warn ("storage: storage.s3 has no credentials (MIRROR_STORAGE_S3_ACCESS_KEY_ID, "
                  "MIRROR_STORAGE_S3_SECRET_ACCESS_KEY): S3 will refuse the uploads");
    }
  } else if (config_.storage.s3.enabled) {
    log_warn ("storage: storage.s3 archives the DVR recording, which is off "
              "(storage.dvr.enabled): nothing will be uploaded");
  }
  std::string origin_error;
  origin_ = Origin::start (origin_config, &origin_error);
  if (!origin_) {
    *error = "origin: " + origin_error;
    health_.set ("origin", false, origin_error);
    return false;
  }
  const TlsIdentity &tls = origin_->identity ();
  log_info ("origin: LL-HLS on https://%s:%u/ (HTTP/3 on UDP %u) and http://%s:%u/ (player "
            "page at /)",
            config_.server.bind_address.c_str (), origin_->tls_port (), origin_->http3_port (),
            config_.server.bind_address.c_str (), origin_->http_port ());
  log_info ("origin: %s certificate %s, SPKI pin %s",
            tls.generated ? "generated self-signed" : "using", tls.cert_file.c_str (),
            tls.spki_pin.c_str ());
  health_.set ("origin", true,
               "https :" + std::to_string (origin_->tls_port ())
                   + ", http :" + std::to_string (origin_->http_port ()));
  streams_->set_origin (origin_);
  presence_ = std::make_unique<ClusterPresence> (registry_, directory_, config_.server.public_url,
                                                 *streams_, origin_);
  presence_->start ();
  if (!config_.redis.addr.empty () && config_.server.public_url.empty ())
    log_warn ("cluster: server.public_url is not set: other nodes cannot send viewers of this "
              "node's streams here (they answer 404); set it (MIRROR_SERVER_PUBLIC_URL) to the "
              "URL viewers reach this node at");

  // Ingest listeners: callers become streams from here on.
  ingest_ = std::make_unique<IngestListeners> (config_, *streams_, metrics_, health_);
  if (!ingest_->start (error))
    return false;

  // APIs.
  rest_ = std::make_unique<RestServer> (
      AdminContext{ config_, *streams_, registry_, metrics_, health_, started_ms_, origin_, {},
                    [this] (const std::string &id, std::optional<std::string> passphrase) {
                      return ingest_->set_srt_passphrase (id, std::move (passphrase));
                    },
                    [this] (const std::string &id) { return ingest_->drop_srt_caller (id); } });
  const ServerConfig &server = config_.server;
  const std::string admin_address = effective_admin_bind_address (server);
  if (!rest_->listen (admin_address, server.admin_port, error))
    return false;
  health_.set ("admin", true, admin_address + ":" + std::to_string (server.admin_port));
  log_info ("admin API on http://%s:%u/ (REST /api/v1, /health, /metrics)", admin_address.c_str (),
            server.admin_port);
  if (server.admin_token.empty () && is_loopback_address (admin_address))
    log_info ("admin API: this host only, as no server.admin_token is set; to reach it from "
              "others, set server.admin_token (MIRROR_SERVER_ADMIN_TOKEN) and "
              "server.admin_bind_address");
  else if (server.admin_token.empty ())
    log_warn ("admin API OPEN: %s:%u takes calls that change or delete every stream from any "
                 "host that reaches it, with no token (server.admin_insecure is true); set "
                 "server.admin_token",
                 admin_address.c_str (), server.admin_port);

  dbus_ = std::make_unique<DbusService> (config_.monitoring.dbus, config_.monitoring.dbus_name,
                                         *streams_);
  dbus_->start ();
  return true;
}

// SIGINT/SIGTERM: the first one wakes the main loop through a pipe to begin a
// graceful shutdown; the second exits at once, even if the main loop is stuck.
// Only async-signal-safe calls in here.
int signal_pipe[2] = { -1, -1 };
std::atomic<int> signals_seen{ 0 }; // lock-free, so safe in a handler

void
on_termination_signal (int)
{
  if (signals_seen.fetch_add (1) > 0) {
    static const char line[] = "mirrord: second signal: exiting now\n";
    ssize_t ignored = write (STDERR_FILENO, line, sizeof line - 1);
    (void)ignored;
    _exit (kExitRuntime);
  }
  char byte = 1;
  ssize_t ignored = write (signal_pipe[1], &byte, 1);
  (void)ignored;
}

void
Daemon::begin_shutdown (const char *why)
{
  log_info ("%s: shutting down (up to %lld ms; again to exit at once)", why,
            (long long)config_.server.shutdown_timeout_ms);
  // A pipeline stuck inside GStreamer can block the main loop itself; past
  // the timeout and a grace period, exit regardless.
  std::thread ([limit_ms = config_.server.shutdown_timeout_ms + kShutdownGraceMs] () {
    std::this_thread::sleep_for (std::chrono::milliseconds (limit_ms));
    static const char line[] = "mirrord: shutdown did not finish in time: exiting now\n";
    ssize_t ignored = write (STDERR_FILENO, line, sizeof line - 1);
    (void)ignored;
    _exit (kExitRuntime);
  }).detach ();
  // Stop taking new work, then drain the streams.
  ingest_->stop ();
  streams_->shutdown (config_.server.shutdown_timeout_ms, [this] () { finish_shutdown (); });
}

void
Daemon::finish_shutdown ()
{
  // The streams have ended their playlists; viewers on HTTP/3 get GOAWAY.
  if (origin_)
    origin_->shutdown ();
  if (dbus_)
    dbus_->stop ();
  if (rest_)
    rest_->close ();
  log_info ("shutdown complete");
  g_main_loop_quit (loop_);
}

int
Daemon::run ()
{
  std::string error;
  int exit_code = 0;
  loop_ = g_main_loop_new (nullptr, FALSE);
  if (!start (&error, &exit_code)) {
    log_error ("%s", error.c_str ());
    g_main_loop_unref (loop_);
    return exit_code;
  }
  if (!g_unix_open_pipe (signal_pipe, FD_CLOEXEC, nullptr)
      || !g_unix_set_fd_nonblocking (signal_pipe[0], TRUE, nullptr)
      || !g_unix_set_fd_nonblocking (signal_pipe[1], TRUE, nullptr)) {
    log_error ("cannot create the signal pipe: %s", g_strerror (errno));
    return kExitRuntime;
  }
  signal_watch_ = g_unix_fd_add (
      signal_pipe[0], G_IO_IN,
      [] (gint fd, GIOCondition, gpointer self) -> gboolean {
        char byte;
        while (read (fd, &byte, 1) > 0) {
        }
        auto *daemon = static_cast<Daemon *> (self);
        daemon->signal_watch_ = 0;
        daemon->begin_shutdown ("signal");
        return G_SOURCE_REMOVE;
      },
      this);
  struct sigaction action = {};
  action.sa_handler = on_termination_signal;
  sigemptyset (&action.sa_mask);
  sigaction (SIGINT, &action, nullptr);
  sigaction (SIGTERM, &action, nullptr);
  log_info ("mirrord %s (%s) ready", mirror::version (), mirror::git_commit ());

  g_main_loop_run (loop_);

  if (signal_watch_)
    g_source_remove (signal_watch_);
  // Reverse of start-up.
  dbus_.reset ();
  rest_.reset ();
  ingest_.reset ();
  presence_.reset ();
  streams_.reset ();
  registry_.reset ();
  g_main_loop_unref (loop_);
  return exit_code_;
}

// For tools/mirror-dev launch: the exact text mirrord would give gst_parse_launch.
int
render_pipeline (const Config &config, const std::vector<std::string> &operands)
{
  if (operands.empty ()) {
    fprintf (stderr, "mirrord: render-pipeline needs a pipeline name\n");
    return kExitConfig;
  }
  std::string error;
  auto library = PipelineLibrary::load (config.ingestion.pipelines_dir, &error);
  if (!library) {
    fprintf (stderr, "mirrord: %s\n", error.c_str ());
    return kExitConfig;
  }
  std::map<std::string, std::string> extra;
  for (size_t i = 1; i < operands.size (); i++) {
    size_t eq = operands[i].find ('=');
    if (eq == std::string::npos || eq == 0) {
      fprintf (stderr, "mirrord: render-pipeline: \"%s\" is not VAR=VALUE\n", operands[i].c_str ());
      return kExitConfig;
    }
    extra[operands[i].substr (0, eq)] = operands[i].substr (eq + 1);
  }
  std::string stream_id = extra.count ("stream_id") ? extra["stream_id"] : "test";
  std::string uri = extra.count ("uri") ? extra["uri"] : "";
  auto text
      = library->render (operands[0], pipeline_variables (config, stream_id, uri, extra), &error);
  if (!text) {
    fprintf (stderr, "mirrord: %s\n", error.c_str ());
    return kExitConfig;
  }
  // As gst-launch-1.0 takes it: a branch linked when its pad appears.
  fputs (PipelineLibrary::launch_text (*text).c_str (), stdout);
  return 0;
}

} // namespace

int
main_entry (int argc, char **argv)
{
  Options options;
  if (!parse_args (argc, argv, &options))
    return kExitConfig;
  if (options.command == "help") {
    print_usage (stdout);
    return 0;
  }
  if (options.command == "version") {
    gst_init (nullptr, nullptr);
    g_autofree gchar *gst_version = gst_version_string (); // the caller's to free
    printf ("mirrord %s\ngit commit: %s\nbuilt: %s\nGStreamer: %s\n", mirror::version (),
            mirror::git_commit (), mirror::build_time (), gst_version);
    return 0;
  }

  ConfigResult loaded = load_config (options.config_path, environ);
  if (loaded.error) {
    fprintf (stderr, "mirrord: %s\n", loaded.error->to_string ().c_str ());
    return kExitConfig;
  }
  Config config = std::move (*loaded.config);
  if (!options.log_level.empty ())
    config.monitoring.log_level = options.log_level;
  install_log_writer (*log_level_from_string (config.monitoring.log_level));
  for (const auto &warning : loaded.warnings)
    log_warn ("config: %s", warning.c_str ());

  if (options.command == "check-config") {
    fputs (dump_config (config).c_str (), stdout);
    return 0;
  }
  if (options.command == "render-pipeline")
    return render_pipeline (config, options.operands);
  if (options.command == "sign-url")
    return sign_url (config, options.operands);

  gst_init (nullptr, nullptr);
  Daemon daemon (std::move (config));
  return daemon.run ();
}

} // namespace mirror::daemon

int
main (int argc, char **argv)
{
  return mirror::daemon::main_entry (argc, argv);
}
