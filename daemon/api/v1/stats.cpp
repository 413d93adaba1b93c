// SPDX-License-Identifier: LGPL-2.1-or-later
// /api/v1/stats: the node as a whole.
#include <fstream>
#include <iterator>
#include <sstream>

#include <unistd.h>

#include "api/rest_server.h"
#include "config/config.h"
#include "registry/stream_registry.h"
#include "streams/stream_manager.h"
#include "util/main_context.h"
#include "version.h"

namespace mirror::daemon {

namespace {

struct ProcessUsage {
  double cpu_seconds = 0;
  int64_t rss_bytes = 0;
  int threads = 0;
};

ProcessUsage
read_process_usage ()
{
  ProcessUsage usage;
  std::ifstream stat ("/proc/self/stat");
  std::string content ((std::istreambuf_iterator<char> (stat)), std::istreambuf_iterator<char> ());
  // Fields after the command name, which may itself hold spaces and parentheses.
  size_t close = content.rfind (')');
  if (close != std::string::npos) {
    std::istringstream fields (content.substr (close + 2));
    std::vector<std::string> f ((std::istream_iterator<std::string> (fields)),
                                std::istream_iterator<std::string> ());
    // f[0] is field 3 (state): utime is field 14, stime 15, threads 20, rss 24.
    if (f.size () > 21) {
      const double ticks = (double)sysconf (_SC_CLK_TCK);
      usage.cpu_seconds = (std::stod (f[11]) + std::stod (f[12])) / ticks;
      usage.threads = std::stoi (f[17]);
      usage.rss_bytes = std::stoll (f[21]) * sysconf (_SC_PAGESIZE);
    }
  }
  return usage;
}

} // namespace

void
add_stats_routes (Router &router, AdminContext &ctx)
{
  router.add ("GET", "/api/v1/stats", [&ctx] (Exchange ex) {
    ctx.streams.list ([&ctx, ex] (const ApiError &, const std::vector<StreamView> &views) {
      std::map<std::string, int> by_state;
      int local = 0;
      double bitrate = 0;
      uint64_t bytes = 0;
      for (const auto &view : views) {
        if (!view.local)
          continue;
        local++;
        by_state[to_string (view.entry.state)]++;
        bitrate += view.entry.stats.bitrate_bps;
        bytes += view.entry.stats.bytes;
      }
      ProcessUsage usage = read_process_usage ();

      JsonBuilder *b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "node_id");
      json_builder_add_string_value (b, ctx.registry->node_id ().c_str ());
      json_builder_set_member_name (b, "version");
      json_builder_add_string_value (b, mirror::version ());
      json_builder_set_member_name (b, "git_commit");
      json_builder_add_string_value (b, mirror::git_commit ());
      json_builder_set_member_name (b, "uptime_s");
      json_builder_add_double_value (b, (monotonic_ms () - ctx.started_monotonic_ms) / 1000.0);
      json_builder_set_member_name (b, "streams");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "local");
      json_builder_add_int_value (b, local);
      json_builder_set_member_name (b, "cluster");
      json_builder_add_int_value (b, (gint64)views.size ());
      json_builder_set_member_name (b, "max");
      json_builder_add_int_value (b, ctx.config.ingestion.max_streams);
      json_builder_set_member_name (b, "by_state");
      json_builder_begin_object (b);
      for (const auto &[state, n] : by_state) {
        json_builder_set_member_name (b, state.c_str ());
        json_builder_add_int_value (b, n);
      }
      json_builder_end_object (b);
      json_builder_set_member_name (b, "ingest_bitrate_bps");
      json_builder_add_double_value (b, bitrate);
      json_builder_set_member_name (b, "ingest_bytes");
      json_builder_add_int_value (b, (gint64)bytes);
      json_builder_end_object (b);
      json_builder_set_member_name (b, "registry");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "backend");
      json_builder_add_string_value (b, ctx.registry->describe ().c_str ());
      json_builder_set_member_name (b, "connected");
      json_builder_add_boolean_value (b, ctx.registry->is_connected ());
      json_builder_end_object (b);
      json_builder_set_member_name (b, "process");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "cpu_seconds");
      json_builder_add_double_value (b, usage.cpu_seconds);
      json_builder_set_member_name (b, "rss_bytes");
      json_builder_add_int_value (b, usage.rss_bytes);
      json_builder_set_member_name (b, "threads");
      json_builder_add_int_value (b, usage.threads);
      json_builder_end_object (b);
      json_builder_end_object (b);
      ex->send_json (200, json_to_string (json_builder_get_root (b)));
      g_object_unref (b);
    });
  });
}

} // namespace mirror::daemon
