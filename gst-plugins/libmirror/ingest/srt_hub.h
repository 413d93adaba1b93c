// SPDX-License-Identifier: LGPL-2.1-or-later
// The SRT hub: one libsrt listener per port, shared by every element and
// stream in the process, routing each caller by its streamid. Decisions
// (malformed id, allow-list, passphrase, duplicate live id, connection limit)
// are taken in srt_listen_callback, before the connection is accepted.
//
// Threading: the hub owns its threads (libsrt's, plus a receive thread that
// waits on an SRT epoll for every connection of the port). Consumer and
// observer callbacks run on those threads: they must be quick and never block.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mirror {

struct SrtHubOptions {
  std::string bind_address = "0.0.0.0";
  uint16_t port = 6000;
  int64_t latency_ms = 120;
  std::string passphrase;                                 // empty: no encryption required
  int pbkeylen = 16;                                      // 16, 24, 32 (AES-128/192/256)
  std::map<std::string, std::string> stream_passphrases;  // stream id -> passphrase (overrides)
  std::vector<std::string> allow_list;                    // empty: any id; entries may be globs
  int max_connections = 64;
  int payload_size = 1316;
  int flow_control_window = 25600;                        // packets (SRTO_FC)
  int64_t peer_idle_timeout_ms = 5000;
  int64_t input_bandwidth = 0;                            // bytes/s, 0: estimate
  // UDP sockets sharing the port, each with its own libsrt receive thread;
  // a caller stays on one. 0: one per CPU core, at most 4.
  int receive_threads = 0;
  // Nice value of the port's threads (libsrt's receive, send and TSBPD
  // threads and the hub's own): below the rest of the process, so that a
  // box short of CPU delays demuxing and transcoding, which have buffers,
  // rather than the reading of UDP sockets, whose overflow loses packets.
  // Needs CAP_SYS_NICE or RLIMIT_NICE; without, they keep the process's.
  int thread_nice = -10;
  // Bytes held for an accepted caller whose consumer has not attached yet.
  size_t pending_limit_bytes = 4 * 1024 * 1024;
  // A user that names only the port (srt://:6000?streamid=cam1 in a
  // process that already listens there, mirrord's streams): a hub open on
  // it is taken as it is, without a warning about the options that differ.
  bool join_open_port = false;
};

// "cam1" or the access-control form "#!::r=cam1,m=publish"; nullopt when
// malformed (empty, too long, bad characters, m= other than publish).
std::optional<std::string> parse_srt_stream_id (const std::string &raw);

struct SrtPeer {
  std::string stream_id;
  std::string address;   // "ip:port"
};

enum class SrtRejectReason {
  kMalformedStreamId,
  kNotAllowed,
  kBadPassphrase,        // wrong or missing passphrase (known after the handshake)
  kAlreadyLive,
  kTooManyConnections,
  kNoConsumer,           // nobody attached and the new-stream handler said no
};
const char *to_string (SrtRejectReason reason);

struct SrtConnectionStats {
  uint64_t bytes_received = 0;
  uint64_t packets_received = 0;
  uint64_t packets_lost = 0;
  uint64_t packets_dropped = 0;
  uint64_t packets_retransmitted = 0;
  double rtt_ms = 0;
  double receive_rate_mbps = 0;
  int64_t connected_ms = 0;     // how long the current caller has been connected
  std::string peer;
  uint64_t held_bytes = 0;      // received, waiting for a consumer to attach
};

// One stream's receiver (the ingest element's source). Callbacks come from
// the hub's receive thread, in order, never concurrently for one stream.
class SrtStreamConsumer {
 public:
  virtual ~SrtStreamConsumer () = default;
  virtual void on_connect (const SrtPeer &peer) = 0;
  // One or more SRT payloads (MPEG-TS packets), in arrival order.
  virtual void on_data (const uint8_t *data, size_t size) = 0;
  virtual void on_disconnect (const SrtPeer &peer, const std::string &reason) = 0;
};

class SrtHub {
 public:
  // The process-wide hub for options.port, started on first use; later
  // callers for the same port share it (their options are ignored, a
  // difference is logged). nullptr and *error naming the port when it cannot
  // listen.
  static std::shared_ptr<SrtHub> acquire (const SrtHubOptions &options, std::string *error);

  virtual ~SrtHub () = default;
  virtual uint16_t port () const = 0;
  // The nice value the port's threads run at (options.thread_nice where it
  // could be applied, else the process's): the streaming threads that take
  // its callers' data take it too.
  virtual int thread_nice () const = 0;

  // The consumer gets the id's current (held) and future callers. One
  // consumer per id: false and *error when another is attached.
  virtual bool attach (const std::string &stream_id, std::shared_ptr<SrtStreamConsumer> consumer,
      std::string *error) = 0;
  // Closes the id's caller, if any (but see keep_caller). With no consumer:
  // closes the id's held caller, one no consumer has taken (its stream was
  // refused), rather than at the hold timeout.
  virtual void detach (const std::string &stream_id, const SrtStreamConsumer *consumer) = 0;
  // The id's next detach (within the hold timeout, 10 s) leaves its caller
  // connected: its data is held (bounded) for the next consumer to attach,
  // which gets on_connect and the held data as for a caller that came first.
  // A pipeline that is restarted keeps its feed this way. The caller is
  // closed if nobody attaches within the hold timeout.
  virtual void keep_caller (const std::string &stream_id) = 0;

  // Asked (on libsrt's listener thread) about a valid caller whose id has no
  // consumer: return true to accept and hold its data (bounded) until one
  // attaches, false to reject it (kNoConsumer). A cheap gate (capacity):
  // the handshake may still fail after it (a wrong passphrase). Without a
  // handler such callers are rejected.
  using NewStreamFn = std::function<bool (const SrtPeer &peer)>;
  virtual void set_new_stream_handler (NewStreamFn fn) = 0;

  // Told (on the hub's receive thread) when such a held caller has completed
  // its handshake, so it is real: mirrord starts the stream's pipeline here.
  using HeldStreamFn = std::function<void (const SrtPeer &peer)>;
  virtual void set_held_stream_handler (HeldStreamFn fn) = 0;

  // Every rejection, with a message naming the stream, the peer and the value.
  using RejectFn = std::function<void (const SrtPeer &peer, SrtRejectReason reason,
      const std::string &message)>;
  virtual void set_reject_observer (RejectFn fn) = 0;

  // A stream's passphrase from now on, over the options' (rotation): callers
  // admitted from here on need it; a caller already live keeps streaming.
  // "" admits that stream unencrypted; none: back to the options' own.
  virtual void set_stream_passphrase (const std::string &stream_id,
                                      std::optional<std::string> passphrase) = 0;
  // Closes the id's caller as a network drop would (the operator's "drop
  // caller"): its consumer sees it go within a housekeeping round. The
  // caller's address, or nothing when none is connected.
  virtual std::optional<std::string> drop_caller (const std::string &stream_id) = 0;

  virtual std::optional<SrtConnectionStats> stats (const std::string &stream_id) const = 0;
  virtual std::map<SrtRejectReason, uint64_t> reject_counts () const = 0;
  virtual size_t connection_count () const = 0;
};

}  // namespace mirror
