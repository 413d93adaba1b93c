// SPDX-License-Identifier: LGPL-2.1-or-later
// A single-threaded epoll loop for the HTTP/3 and HTTP/1.1 clients: file
// descriptor watches, one-shot timers with nanosecond deadlines (QUIC pacing
// and loss timers need better than epoll_wait's milliseconds) and deferred
// tasks. Deferred tasks are how user callbacks run: never from inside
// ngtcp2/nghttp3/GnuTLS calls, so a callback may issue requests or destroy
// the connection that answered it.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include <sys/socket.h>

namespace mirror::tools {

constexpr int64_t kNsPerMs = 1000000;
constexpr int64_t kNsPerSecond = 1000000000;

// CLOCK_MONOTONIC in nanoseconds (ngtcp2's timestamps).
int64_t monotonic_ns ();
// CLOCK_REALTIME in seconds, for comparing with EXT-X-PROGRAM-DATE-TIME.
double wall_seconds ();
int64_t realtime_ns ();

// When the kernel received the bytes a recvmsg () returns (SO_TIMESTAMPNS),
// so that a busy single-threaded client does not count its own queueing as
// the server's latency. Enable on a socket, then read each recvmsg's stamp.
void enable_rx_timestamps (int fd);
struct RxStamp {
  int64_t realtime_ns = 0; // 0: none
  // The same instant on the monotonic clock.
  int64_t monotonic_ns () const;
  double wall_seconds () const { return realtime_ns / 1e9; }
};
// Control buffer size for recvmsg; the stamp from a filled msghdr.
constexpr size_t kRxStampControlSize = 64;
RxStamp rx_stamp_from (const msghdr &msg);

class EventLoop;

// Something with a file descriptor in the loop. Owners must keep it alive
// until the loop no longer reports events for it: remove it before closing
// the descriptor, and destroy it from a deferred task or outside run (), never
// while the loop is dispatching a batch that may still name it.
class IoWatcher {
 public:
  virtual ~IoWatcher () = default;
  virtual void on_io (uint32_t epoll_events) = 0;
};

class Timer {
 public:
  Timer (EventLoop &loop, std::function<void ()> fire);
  ~Timer ();
  Timer (const Timer &) = delete;
  Timer &operator= (const Timer &) = delete;

  // Fires once at (or just after) deadline_ns on the monotonic clock; re-arming
  // replaces the previous deadline.
  void arm_at (int64_t deadline_ns);
  void arm_in (int64_t delay_ns);
  void cancel ();
  bool armed () const { return armed_; }
  int64_t deadline () const { return deadline_; }

 private:
  friend class EventLoop;
  EventLoop &loop_;
  std::function<void ()> fire_;
  bool armed_ = false;
  int64_t deadline_ = 0;
  uint64_t order_ = 0; // arming order: equal deadlines fire first armed first
  size_t slot_ = 0;    // in the loop's heap, while armed
};

class EventLoop {
 public:
  EventLoop ();
  ~EventLoop ();
  EventLoop (const EventLoop &) = delete;
  EventLoop &operator= (const EventLoop &) = delete;

  // events: EPOLLIN / EPOLLOUT (level-triggered).
  bool add (int fd, uint32_t events, IoWatcher *watcher);
  bool modify (int fd, uint32_t events, IoWatcher *watcher);
  void remove (int fd);

  // Runs task after the current batch of events and timers.
  void defer (std::function<void ()> task);

  // Until quit () or until there is nothing left to wait for.
  void run ();
  // Runs until the given monotonic deadline or quit ().
  void run_until (int64_t deadline_ns);
  void quit () { quit_ = true; }

 private:
  friend class Timer;
  void dispatch (int64_t wait_until_ns);
  void run_deferred ();

  int epfd_ = -1;
  bool quit_ = false;
  size_t watched_ = 0;
  // Armed timers, a binary min-heap on (deadline, order): a thousand QUIC
  // viewers re-arm theirs after every packet, and a heap with each timer's
  // slot kept in it does that without a node allocation. The keys live in
  // the heap, not behind the pointers, so that sifting touches no timer.
  struct TimerEntry {
    int64_t deadline;
    uint64_t order;
    Timer *timer;
    bool operator<(const TimerEntry &o) const
    {
      return deadline != o.deadline ? deadline < o.deadline : order < o.order;
    }
  };
  void timer_push (Timer *t);
  void timer_remove (Timer *t);
  void timer_moved (Timer *t);
  void timer_up (size_t slot);
  void timer_down (size_t slot);
  void timer_place (size_t slot, const TimerEntry &e);
  std::vector<TimerEntry> timers_;
  uint64_t timer_order_ = 0;
  std::deque<std::function<void ()>> deferred_;
};

} // namespace mirror::tools
