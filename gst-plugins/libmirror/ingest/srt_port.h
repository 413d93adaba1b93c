// SPDX-License-Identifier: LGPL-2.1-or-later
// One SRT listener port and everything behind it: the admission decisions
// taken in libsrt's listen callback (srt_port_admission.cpp), the receive
// thread that reads every connection of the port from one SRT epoll and hands
// batches to consumers (srt_port_receive.cpp), and the routing tables both
// share (srt_port.cpp).
//
// The port is several UDP sockets sharing it (SO_REUSEPORT), each bound into
// libsrt with its own listener: libsrt reads each UDP socket on its own
// thread, so receive_threads of them keep up where one thread, starved of CPU
// by a busy box, would let the kernel drop datagrams. The kernel keeps every
// caller on one socket; admission and routing are the port's, whichever
// listener a caller reached.
//
// Lifetime: the receive thread holds a reference, so an SrtPort outlives
// stop () until its thread has returned; that lets a consumer drop the last
// hub reference from inside a callback.
//
// Locking: mu_ guards the routing tables and is never held while calling a
// consumer, a handler or an observer, nor while calling into libsrt (libsrt
// holds its own locks around the listen callback, which takes mu_).
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <srt/srt.h>

#include "ingest/srt_held_data.h"
#include "ingest/srt_hub.h"

namespace mirror {

class SrtPort : public std::enable_shared_from_this<SrtPort> {
 public:
  // Binds, listens and starts the receive thread; nullptr and *error naming
  // the port when it cannot. options must have been validated.
  static std::shared_ptr<SrtPort> open (const SrtHubOptions &options, std::string *error);
  ~SrtPort ();
  SrtPort (const SrtPort &) = delete;
  SrtPort &operator= (const SrtPort &) = delete;

  // Closes the listener (no listen callback runs once this returns) and ends
  // the receive thread: joins it, or lets it finish on its own when called
  // from it. Connections close when the last reference goes.
  void stop ();

  // The last user let go: every caller and handler goes, the listeners stay
  // (refusing callers) until unpark () or until_ms, when on_expired is called
  // on the receive thread. libsrt frees a closed listener's UDP socket only
  // seconds later, so a port reopened at once (a pipeline restarted) is
  // taken back parked rather than waited for. Waits for a consumer callback
  // in progress, like detach ().
  void park (int64_t until_ms, std::function<void ()> on_expired);
  void unpark ();
  bool parked () const;

  const SrtHubOptions &options () const { return options_; }
  uint16_t port () const { return port_; }
  int thread_nice () const { return thread_nice_; }

  bool attach (const std::string &stream_id, std::shared_ptr<SrtStreamConsumer> consumer,
               std::string *error);
  void detach (const std::string &stream_id, const SrtStreamConsumer *consumer);
  // SrtHub::keep_caller.
  void keep_caller (const std::string &stream_id);
  void set_new_stream_handler (SrtHub::NewStreamFn fn);
  void set_held_stream_handler (SrtHub::HeldStreamFn fn);
  void set_reject_observer (SrtHub::RejectFn fn);
  std::optional<SrtConnectionStats> stats (const std::string &stream_id) const;
  std::map<SrtRejectReason, uint64_t> reject_counts () const;
  void set_stream_passphrase (const std::string &stream_id, std::optional<std::string> passphrase);
  // Closes @stream_id's caller (the operator's "drop"): its consumer sees
  // the caller gone, as when the network drops it, within a housekeeping
  // round. The peer's address, or nothing when no caller is connected.
  std::optional<std::string> drop_caller (const std::string &stream_id);
  size_t connection_count () const;

 private:
  // A caller that passed the listen callback and is finishing the handshake.
  struct Handshake {
    SrtPeer peer;
    int key_length = 0; // bytes of AES key required, 0: no passphrase
    int64_t started_ms = 0;
    bool seen_connected = false;
  };

  // An accepted caller. Created and destroyed on the receive thread only.
  struct Connection {
    SRTSOCKET sock = SRT_INVALID_SOCK;
    SrtPeer peer;
    int64_t accepted_ms = 0;
    std::unique_ptr<uint8_t[]> scratch; // one batch of payloads
    SrtHeldData held;
    // The consumer_generation that on_connect was delivered to (receive
    // thread only); 0: none yet.
    uint64_t announced_generation = 0;
    std::atomic<size_t> held_bytes{ 0 };    // held.size_bytes (), for stats ()
    std::atomic<int64_t> last_data_ms{ 0 }; // the last payload received (or accepted_ms)
    // Guarded by mu_:
    std::shared_ptr<SrtStreamConsumer> consumer;
    uint64_t consumer_generation = 0; // counts the consumers given this caller
    int64_t held_since_ms = 0;        // without a consumer since (accepted, or kept)
    bool closing = false;             // detached: closed, waiting to be reaped
    bool drop = false;                // the operator asked to close it

    explicit Connection (size_t held_limit) : held (held_limit) {}
  };

  explicit SrtPort (const SrtHubOptions &options);
  bool start (std::string *error);

  // srt_port_admission.cpp: libsrt's listen callback.
  static int on_listen (void *opaque, SRTSOCKET ns, int hs_version, const sockaddr *peer_address,
                        const char *stream_id) noexcept;
  int admit (SRTSOCKET ns, const sockaddr *peer_address, const char *raw_stream_id);
  bool is_allowed (const std::string &stream_id) const;
  // The connection that holds @stream_id's claim and is not closing, or
  // null. Under mu_.
  Connection *live_caller_locked (const std::string &stream_id) const;
  std::string passphrase_for (const std::string &stream_id) const;
  int refuse (SRTSOCKET ns, const SrtPeer &peer, SrtRejectReason reason, const std::string &what);
  void report_rejection (const SrtPeer &peer, SrtRejectReason reason, const std::string &what);
  void check_handshakes (int64_t now_ms);

  // srt_port_receive.cpp: the receive thread.
  void run ();
  void accept_callers (SRTSOCKET listener);
  bool is_listener (SRTSOCKET sock) const;
  void receive (Connection &c);
  void deliver (Connection &c, const uint8_t *data, size_t size);
  void end_callback ();
  void end_connection (Connection &c, const std::string &reason);
  // Tells the consumers that attached to an id whose caller had already
  // ended (ended_while_held_), and forgets the expired ones.
  void deliver_ended_while_held (int64_t now_ms);
  void housekeeping (int64_t now_ms);
  bool on_receive_thread () const;

  const SrtHubOptions options_;
  int thread_nice_ = 0; // what the port's threads got (start ())
  uint16_t port_ = 0;
  std::vector<SRTSOCKET> listeners_; // one per UDP socket of the port
  int epoll_ = -1;
  std::thread thread_;
  std::atomic<std::thread::id> receive_thread_id_{};
  std::atomic<bool> stopping_{ false };
  std::once_flag stopped_;

  mutable std::mutex mu_;
  // Guarded by mu_: passphrases set at run time (set_stream_passphrase),
  // over options_'s; nullopt entries are never stored.
  std::map<std::string, std::string> passphrase_overrides_;
  std::map<std::string, std::shared_ptr<SrtStreamConsumer>> consumers_;
  // Stream id -> its one caller, handshaking or connected: what makes a
  // second caller for a live id a conflict.
  std::map<std::string, SRTSOCKET> claims_;
  std::unordered_map<SRTSOCKET, Handshake> handshakes_;
  // Written only by the receive thread (under mu_), so it reads without.
  std::unordered_map<SRTSOCKET, std::unique_ptr<Connection>> connections_;
  SrtHub::NewStreamFn new_stream_handler_;
  SrtHub::HeldStreamFn held_stream_handler_;
  SrtHub::RejectFn reject_observer_;
  std::map<SrtRejectReason, uint64_t> reject_counts_;
  int64_t parked_until_ms_ = 0; // 0: in use
  // Stream id -> the silent caller a new one was admitted in place of: the
  // receive thread ends it before it accepts the new one.
  std::map<std::string, SRTSOCKET> superseded_;
  // Stream id -> until when its next detach keeps the caller (keep_caller).
  std::map<std::string, int64_t> keep_on_detach_;
  // Stream id -> its caller that ended while no consumer was attached: it
  // left between its handshake and its pipeline's attach (mirrord starts the
  // pipeline from the held-stream handler, later on another thread), or
  // while held for a restarted pipeline. The next consumer of the id within
  // the hold timeout still hears of it (connect, the held data, disconnect),
  // so that its stream ends as any other would, instead of waiting for a
  // first caller forever. Entries are added and erased by the receive
  // thread only (under mu_); attach, detach and park set their fields. The
  // hold timeout is kHoldTimeoutMs (srt_port_receive.cpp).
  struct EndedWhileHeld {
    std::unique_ptr<Connection> connection;
    std::string reason;
    int64_t until_ms = 0;
  };
  std::map<std::string, EndedWhileHeld> ended_while_held_;
  std::function<void ()> on_parked_expired_;

  // The consumer being called on the receive thread, so that detach () can
  // wait for that call to end without the receive thread locking twice per
  // batch.
  std::atomic<const SrtStreamConsumer *> in_callback_{ nullptr };
  std::atomic<int> detach_waiters_{ 0 };
  std::condition_variable callback_done_;
};

} // namespace mirror
