// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ingest/ingest_listeners.h"

#include <mutex>
#include <set>

#include <gio/gio.h>

#include "api/admin_context.h"
#include "config/config.h"
#include "ingest/rtp_hub.h"
#include "ingest/srt_hub.h"
#include "log.h"
#include "metrics/metrics.h"
#include "streams/stream_manager.h"
#include "util/main_context.h"

namespace mirror::daemon {

namespace {

// The stream ids refused callers named: the first kMaxIds get a series of
// their own in mirror_stream_ingestion_errors_total, the rest share
// "(other)", so that callers inventing ids cannot grow /metrics without end.
// Called on the hub's threads.
class RejectedIds {
 public:
  std::string label (const std::string &id)
  {
    std::lock_guard<std::mutex> guard (lock_);
    if (ids_.count (id) || ids_.size () < kMaxIds) {
      ids_.insert (id);
      return id;
    }
    return "(other)";
  }

 private:
  static constexpr size_t kMaxIds = 100;
  std::mutex lock_;
  std::set<std::string> ids_;
};

} // namespace

IngestListeners::IngestListeners (const Config &config, StreamManager &streams, Metrics &metrics,
                                  HealthBoard &health)
    : config_ (config), streams_ (streams), metrics_ (metrics), health_ (health)
{}

IngestListeners::~IngestListeners ()
{
  stop ();
}

bool
IngestListeners::start (std::string *error)
{
  const SrtConfig &srt = config_.ingestion.srt;
  SrtHubOptions srt_options;
  srt_options.bind_address = config_.server.bind_address;
  srt_options.port = srt.port;
  srt_options.latency_ms = srt.latency_ms;
  srt_options.passphrase = srt.passphrase;
  srt_options.pbkeylen = srt.pbkeylen;
  srt_options.stream_passphrases = srt.stream_passphrases;
  srt_options.allow_list = srt.allow_list;
  srt_options.max_connections = srt.max_connections;
  srt_options.receive_threads = srt.receive_threads;
  srt_options.thread_nice = config_.ingestion.thread_nice;
  srt_options.payload_size = srt.payload_size;
  srt_options.flow_control_window = srt.flow_control_window;
  srt_options.peer_idle_timeout_ms = srt.peer_idle_timeout_ms;
  srt_options.input_bandwidth = srt.input_bandwidth;
  srt_options.pending_limit_bytes = config_.ingestion.buffer.ring_size;
  std::string why;
  srt_ = SrtHub::acquire (srt_options, &why);
  if (!srt_) {
    *error = "ingestion.srt.port: cannot listen for SRT on UDP " + config_.server.bind_address + ":"
             + std::to_string (srt.port) + ": " + why;
    health_.set ("srt", false, why);
    return false;
  }

  std::weak_ptr<bool> alive = alive_;
  // A new caller is first only a question of room, kept for it from here
  // to its stream's creation; its pipeline starts once its handshake has
  // succeeded (a wrong passphrase never gets one, and gives the room back).
  srt_->set_new_stream_handler ([this, alive] (const SrtPeer &peer) {
    auto guard = alive.lock ();
    if (!guard || !*guard)
      return false;
    if (!streams_.reserve_room (peer.stream_id)) {
      log_warn ("SRT caller %s for stream %s refused: ingestion.max_streams (%d) reached",
                peer.address.c_str (), peer.stream_id.c_str (), config_.ingestion.max_streams);
      return false;
    }
    return true;
  });
  srt_->set_held_stream_handler ([this, alive] (const SrtPeer &peer) {
    auto guard = alive.lock ();
    if (guard && *guard)
      on_srt_caller (peer.stream_id, peer.address);
  });
  // A wedged pipeline restarted by the watchdog keeps its caller: the next
  // ingest bin of the stream takes it over.
  streams_.set_restart_hook ([hub = std::weak_ptr<SrtHub> (srt_)] (const std::string &id) {
    if (auto srt = hub.lock ())
      srt->keep_caller (id);
  });
  Metrics *metrics = &metrics_;
  auto labelled = std::make_shared<RejectedIds> ();
  srt_->set_reject_observer ([this, alive, metrics, labelled] (const SrtPeer &peer,
                                                               SrtRejectReason reason,
                                                               const std::string &message) {
    if (reason == SrtRejectReason::kBadPassphrase) {
      if (auto guard = alive.lock (); guard && *guard)
        streams_.release_room (peer.stream_id);
    }
    // The hub has logged it; here it is counted per stream and reason. The
    // ids come from callers, so only so many get series of their own.
    metrics->stream_ingestion_errors_total
        .Add ({ { "stream", labelled->label (peer.stream_id) }, { "reason", to_string (reason) } })
        .Increment ();
  });
  health_.set ("srt", true, config_.server.bind_address + ":" + std::to_string (srt.port) + "/udp");
  log_info ("SRT listener on %s:%u (latency %lld ms%s)", config_.server.bind_address.c_str (),
            srt.port, (long long)srt.latency_ms, srt.passphrase.empty () ? "" : ", encrypted");

  const RtpConfig &rtp = config_.ingestion.rtp;
  RtpHubOptions rtp_options;
  rtp_options.bind_address = config_.server.bind_address;
  rtp_options.port = rtp.port;
  rtp_options.payload_types = rtp.payload_types;
  rtp_options.session_timeout_ms = rtp.session_timeout_ms;
  rtp_options.pending_limit_bytes = config_.ingestion.buffer.ring_size;
  rtp_options.thread_nice = config_.ingestion.thread_nice;
  rtp_ = RtpHub::acquire (rtp_options, &why);
  if (!rtp_) {
    *error = "ingestion.rtp.port: cannot listen for RTP on UDP " + config_.server.bind_address + ":"
             + std::to_string (rtp.port) + "/" + std::to_string (rtp.port + 1) + ": " + why;
    health_.set ("rtp", false, why);
    return false;
  }
  rtp_->set_new_session_handler ([this, alive] (const RtpSessionInfo &info) {
    auto guard = alive.lock ();
    if (!guard || !*guard || !streams_.has_room ())
      return false;
    std::string id = rtp_stream_id (info.ssrc, info.source_address);
    std::string uri = "rtp://:" + std::to_string (config_.ingestion.rtp.port) + "?ssrc="
                      + std::to_string (info.ssrc) + "&encoding=" + info.encoding + "&pt="
                      + std::to_string (info.payload_type) + "&source=" + info.source_address;
    invoke_on (g_main_context_default (), [this, alive, id, uri, info] () {
      auto guard = alive.lock ();
      if (!guard || !*guard)
        return;
      log_info ("RTP session from %s, SSRC %u, %s: stream %s", info.source_address.c_str (),
                info.ssrc, info.encoding.c_str (), id.c_str ());
      streams_.create ({ id, "", uri, {} }, [this, id, info] (const ApiError &error) {
        if (!error.ok ()) {
          log_warn ("RTP session from %s, SSRC %u: %s", info.source_address.c_str (), info.ssrc,
                    error.message.c_str ());
          rtp_->detach (info.ssrc, nullptr);
        }
      });
    });
    return true;
  });
  health_.set ("rtp", true,
               config_.server.bind_address + ":" + std::to_string (rtp.port) + "/udp (RTCP "
                   + std::to_string (rtp.port + 1) + ")");
  rtp_counter_timer_ = g_timeout_add_seconds (
      1,
      [] (gpointer self) -> gboolean {
        static_cast<IngestListeners *> (self)->count_rtp_drops ();
        return G_SOURCE_CONTINUE;
      },
      this);
  log_info ("RTP listener on %s:%u (RTCP %u)", config_.server.bind_address.c_str (), rtp.port,
            rtp.port + 1);
  return true;
}

// The hub counts what it drops without a stream; Prometheus gets the growth.
void
IngestListeners::count_rtp_drops ()
{
  RtpHubCounters counters = rtp_->counters ();
  metrics_.rtp_packets_dropped_total.Add ({ { "reason", "not-rtp" } })
      .Increment (double (counters.not_rtp - counted_not_rtp_));
  metrics_.rtp_packets_dropped_total.Add ({ { "reason", "unmapped-payload-type" } })
      .Increment (double (counters.unmapped_payload_type - counted_unmapped_));
  counted_not_rtp_ = counters.not_rtp;
  counted_unmapped_ = counters.unmapped_payload_type;
}

std::optional<std::string>
IngestListeners::drop_srt_caller (const std::string &stream_id)
{
  if (!srt_)
    return std::nullopt;
  auto peer = srt_->drop_caller (stream_id);
  if (peer)
    log_info ("SRT: stream '%s': dropping caller %s (operator request)", stream_id.c_str (),
              peer->c_str ());
  return peer;
}

bool
IngestListeners::set_srt_passphrase (const std::string &stream_id,
                                     std::optional<std::string> passphrase)
{
  if (!srt_)
    return false;
  log_info ("SRT: stream '%s': %s for callers from now on", stream_id.c_str (),
            !passphrase            ? "the configured passphrase again"
            : passphrase->empty () ? "no encryption"
                                   : "a new passphrase");
  srt_->set_stream_passphrase (stream_id, std::move (passphrase));
  return true;
}

void
IngestListeners::stop ()
{
  *alive_ = false;
  if (rtp_counter_timer_)
    g_source_remove (rtp_counter_timer_);
  rtp_counter_timer_ = 0;
  if (srt_)
    srt_->set_new_stream_handler (nullptr);
  if (srt_)
    srt_->set_held_stream_handler (nullptr);
  streams_.set_restart_hook (nullptr);
  if (rtp_)
    rtp_->set_new_session_handler (nullptr);
}

// On the hub's receive thread: the pipeline starts on the main loop.
void
IngestListeners::on_srt_caller (const std::string &id, const std::string &peer)
{
  std::weak_ptr<bool> alive = alive_;
  std::string uri = "srt://:" + std::to_string (config_.ingestion.srt.port) + "?streamid=" + id;
  invoke_on (g_main_context_default (), [this, alive, id, peer, uri] () {
    auto guard = alive.lock ();
    if (!guard || !*guard)
      return;
    streams_.create ({ id, "", uri, {} }, [this, alive, id, peer] (const ApiError &error) {
      auto guard = alive.lock ();
      if (error.ok () || !guard || !*guard)
        return;
      // Its stream runs here, or is being registered, already (started for
      // an earlier caller of the id that left before the pipeline
      // attached): that pipeline takes this caller. Only a stream that is
      // stopping does not.
      auto local = streams_.local_stream (id);
      if (error.code == ApiErrc::kAlreadyExists
          && !(local && local->entry.state == StreamState::kStopping)) {
        log_info ("SRT caller %s for stream %s: the stream runs here already and takes it",
                  peer.c_str (), id.c_str ());
        return;
      }
      // Accepted at the handshake but refused here (e.g. the id is live on
      // another node): the held caller is closed.
      log_warn ("SRT caller %s for stream %s closed: %s", peer.c_str (), id.c_str (),
                error.message.c_str ());
      srt_->detach (id, nullptr);
    });
  });
}

std::string
IngestListeners::rtp_stream_id (uint32_t ssrc, const std::string &source) const
{
  const auto &map = config_.ingestion.rtp.stream_ids;
  char hex[16];
  g_snprintf (hex, sizeof hex, "0x%08x", ssrc);
  for (const std::string &key : { std::to_string (ssrc), std::string (hex), source }) {
    auto it = map.find (key);
    if (it != map.end ())
      return it->second;
  }
  return "rtp-" + std::to_string (ssrc);
}

} // namespace mirror::daemon
