// SPDX-License-Identifier: LGPL-2.1-or-later
// What an RTP hub is once acquired: its sockets, sessions and the receive
// loop. Kept apart from the RtpHub handed to callers so the receive thread
// can own a reference: when a consumer callback drops the last RtpHub, the
// thread is detached instead of joining itself, and the core outlives it.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "ingest/rtp_hub.h"
#include "ingest/rtp_packet.h"
#include "ingest/rtp_session.h"
#include "ingest/rtp_socket.h"

namespace mirror {

class RtpHubCore {
 public:
  // Binds options.port and port + 1; nullptr and *error naming the port or
  // the faulty option otherwise.
  static std::shared_ptr<RtpHubCore> open (const RtpHubOptions &options, std::string *error);
  ~RtpHubCore ();

  const RtpHubOptions &options () const { return options_; }

  // The receive thread's body: returns after stop().
  void run ();
  void stop ();

  bool attach (uint32_t ssrc, const std::string &source_address,
               std::shared_ptr<RtpSessionConsumer> consumer, std::string *error);
  void detach (uint32_t ssrc, const RtpSessionConsumer *consumer);
  void set_new_session_handler (RtpHub::NewSessionFn fn);
  RtpHubCounters counters () const;

 private:
  struct WaitingConsumer {
    uint32_t ssrc = 0;
    std::optional<RtpPeerAddress> source;
    std::shared_ptr<RtpSessionConsumer> consumer;
  };

  RtpHubCore (const RtpHubOptions &options, std::map<int, RtpEncoding> encodings);

  void wake ();
  void receive_rtp ();
  void receive_rtcp ();
  void handle_rtp (const uint8_t *data, size_t size, const sockaddr_storage &from, int64_t now);
  void handle_rtcp (const uint8_t *data, size_t size, const sockaddr_storage &from);
  RtpSession *start_session (const RtpSessionKey &key, int payload_type, int64_t now,
                             std::unique_lock<std::mutex> &lock);
  std::shared_ptr<RtpSessionConsumer> take_waiting (const RtpSessionKey &key);
  void deliver_held ();
  // Remembers a consumer that got datagrams in this receive batch; end_batch
  // tells each of them the batch is over.
  void note_batch_consumer (std::shared_ptr<RtpSessionConsumer> &&consumer);
  void end_batch ();
  void expire_sessions (int64_t now);
  int64_t sweep_interval_ms () const;
  void warn_receive_error (const char *socket_name);

  const RtpHubOptions options_;
  const std::map<int, RtpEncoding> encodings_;
  int rtp_fd_ = -1;
  int rtcp_fd_ = -1;
  int wake_fd_ = -1;
  std::atomic<bool> stopping_{ false };
  std::atomic<std::thread::id> thread_id_{};

  // Held by the receive thread whenever it calls a consumer or the handler,
  // so that detach() can wait for a callback in flight. Taken before mutex_.
  std::mutex delivery_mutex_;
  // Sessions, refusals, waiting consumers, the handler. Never held while
  // calling out.
  mutable std::mutex mutex_;
  std::unordered_map<RtpSessionKey, std::unique_ptr<RtpSession>, RtpSessionKeyHash> sessions_;
  // Sessions the handler refused, until when (monotonic ms).
  std::unordered_map<RtpSessionKey, int64_t, RtpSessionKeyHash> refusals_;
  std::vector<WaitingConsumer> waiting_;
  RtpHub::NewSessionFn new_session_;

  struct AtomicCounters {
    std::atomic<uint64_t> packets{ 0 }, bytes{ 0 }, not_rtp{ 0 }, unmapped_payload_type{ 0 },
        sessions_started{ 0 }, sessions_timed_out{ 0 }, rtcp_packets{ 0 }, rtcp_unrouted{ 0 },
        held_dropped{ 0 };
  } counters_;

  // Touched by the receive thread only.
  DatagramBatch rtp_batch_;
  std::vector<std::shared_ptr<RtpSessionConsumer>> batch_consumers_;
  DatagramBatch rtcp_batch_;
  int64_t last_receive_warning_ms_ = 0;
  bool warned_truncated_ = false;
};

} // namespace mirror
