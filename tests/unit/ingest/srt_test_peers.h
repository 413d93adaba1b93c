// SPDX-License-Identifier: LGPL-2.1-or-later
// Real SRT peers for the hub tests: callers made with libsrt's C API, child
// processes (srt-live-transmit, gst-launch-1.0) stopped by PID, a consumer
// that records what it got, and polling with deadlines instead of sleeps.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <srt/srt.h>

#include "ingest/srt_hub.h"

#include "../../common/wait_until.h"

namespace mirror::test {

// A UDP port that was free a moment ago (bound to port 0 and read back).
uint16_t free_udp_port ();

// Reproducible bytes that reveal loss, duplication and reordering.
std::vector<uint8_t> test_bytes (size_t size, uint32_t seed);

// SrtHubOptions for a test: a free loopback port and a latency that leaves
// room for retransmissions on a busy CI box.
SrtHubOptions test_hub_options ();

struct CallerSettings {
  std::string stream_id;
  bool send_stream_id = true;
  std::string passphrase;
  int pbkeylen = 16;
  int latency_ms = 300;
};

class SrtCaller {
 public:
  SrtCaller () = default;
  ~SrtCaller () { close (); }
  SrtCaller (const SrtCaller &) = delete;
  SrtCaller &operator= (const SrtCaller &) = delete;

  // Connects to 127.0.0.1:port (blocking, 5 s at most, scaled ()). False when refused;
  // reject_reason () then says why (SRT_REJ_* or SRT_REJX_*).
  bool connect (uint16_t port, const CallerSettings &settings);
  int reject_reason () const { return reject_reason_; }
  // Sends data as live-mode messages of payload bytes (paced by libsrt).
  bool send (const std::vector<uint8_t> &data, size_t payload = 1316);
  // True once the hub side has closed the connection.
  bool is_broken () const;
  void close ();

 private:
  SRTSOCKET sock_ = SRT_INVALID_SOCK;
  int reject_reason_ = 0;
};

// Records every callback; waits let a test poll for what it expects (their
// deadlines stretched by MIRROR_TEST_SLOWDOWN, as scaled () does).
class RecordingConsumer : public SrtStreamConsumer {
 public:
  void on_connect (const SrtPeer &peer) override;
  void on_data (const uint8_t *data, size_t size) override;
  void on_disconnect (const SrtPeer &peer, const std::string &reason) override;

  bool wait_for_bytes (size_t size, std::chrono::milliseconds deadline = std::chrono::seconds (10));
  bool wait_for_events (size_t count,
                        std::chrono::milliseconds deadline = std::chrono::seconds (10));

  std::vector<uint8_t> data () const;
  // "connect", "data", "disconnect"; consecutive data calls recorded once.
  std::vector<std::string> events () const;
  std::vector<SrtPeer> peers () const;
  size_t data_calls () const;

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<uint8_t> data_;
  std::vector<std::string> events_;
  std::vector<SrtPeer> peers_;
  size_t data_calls_ = 0;
};

// A child process with a pipe to its stdin, stopped by its PID.
class ChildProcess {
 public:
  ~ChildProcess () { stop (); }
  bool start (const std::vector<std::string> &argv, bool stdout_to_null = true);
  // Writes in steps of step bytes, one step per interval: a live source's
  // rate (srt-live-transmit drops what a burst on its stdin brings).
  bool write_stdin (const std::vector<uint8_t> &data, size_t step = SIZE_MAX,
                    std::chrono::microseconds interval = std::chrono::microseconds (0));
  void close_stdin ();
  // True once the process has exited; its status in *status.
  bool exited (int *status = nullptr);
  // SIGTERM, then SIGKILL if it lingers; reaps it.
  void stop ();
  pid_t pid () const { return pid_; }

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

} // namespace mirror::test
