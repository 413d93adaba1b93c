// SPDX-License-Identifier: LGPL-2.1-or-later
#include "event_loop.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace mirror::tools {

int64_t
monotonic_ns ()
{
  timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * kNsPerSecond + ts.tv_nsec;
}

double
wall_seconds ()
{
  timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t
realtime_ns ()
{
  timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * kNsPerSecond + ts.tv_nsec;
}

void
enable_rx_timestamps (int fd)
{
  int one = 1;
  setsockopt (fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
}

int64_t
RxStamp::monotonic_ns () const
{
  // Both clocks advance together over the microseconds since the stamp.
  return tools::monotonic_ns () - (tools::realtime_ns () - realtime_ns);
}

RxStamp
rx_stamp_from (const msghdr &msg)
{
  RxStamp stamp;
  for (cmsghdr *c = CMSG_FIRSTHDR (&msg); c != nullptr; c = CMSG_NXTHDR ((msghdr *)&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
      timespec ts;
      memcpy (&ts, CMSG_DATA (c), sizeof ts);
      stamp.realtime_ns = (int64_t)ts.tv_sec * kNsPerSecond + ts.tv_nsec;
    }
  }
  return stamp;
}

Timer::Timer (EventLoop &loop, std::function<void ()> fire) : loop_ (loop), fire_ (std::move (fire))
{}

Timer::~Timer ()
{
  cancel ();
}

void
Timer::arm_at (int64_t deadline_ns)
{
  if (armed_ && deadline_ == deadline_ns)
    return;
  deadline_ = deadline_ns;
  order_ = loop_.timer_order_++;
  if (armed_) {
    loop_.timer_moved (this);
    return;
  }
  loop_.timer_push (this);
  armed_ = true;
}

void
Timer::arm_in (int64_t delay_ns)
{
  arm_at (monotonic_ns () + delay_ns);
}

void
Timer::cancel ()
{
  if (armed_) {
    loop_.timer_remove (this);
    armed_ = false;
  }
}

EventLoop::EventLoop ()
{
  epfd_ = epoll_create1 (EPOLL_CLOEXEC);
  if (epfd_ < 0) {
    perror ("epoll_create1");
    abort ();
  }
}

EventLoop::~EventLoop ()
{
  // Timers still armed belong to objects that outlive us by mistake; detach
  // them so their destructors do not touch a dead map.
  for (TimerEntry &e : timers_)
    e.timer->armed_ = false;
  close (epfd_);
}

bool
EventLoop::add (int fd, uint32_t events, IoWatcher *watcher)
{
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = watcher;
  if (epoll_ctl (epfd_, EPOLL_CTL_ADD, fd, &ev) != 0)
    return false;
  ++watched_;
  return true;
}

bool
EventLoop::modify (int fd, uint32_t events, IoWatcher *watcher)
{
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = watcher;
  return epoll_ctl (epfd_, EPOLL_CTL_MOD, fd, &ev) == 0;
}

void
EventLoop::remove (int fd)
{
  if (epoll_ctl (epfd_, EPOLL_CTL_DEL, fd, nullptr) == 0)
    --watched_;
}

void
EventLoop::timer_place (size_t slot, const TimerEntry &e)
{
  timers_[slot] = e;
  e.timer->slot_ = slot;
}

void
EventLoop::timer_up (size_t slot)
{
  TimerEntry e = timers_[slot];
  while (slot > 0) {
    size_t parent = (slot - 1) / 2;
    if (!(e < timers_[parent]))
      break;
    timer_place (slot, timers_[parent]);
    slot = parent;
  }
  timer_place (slot, e);
}

void
EventLoop::timer_down (size_t slot)
{
  TimerEntry e = timers_[slot];
  const size_t n = timers_.size ();
  for (;;) {
    size_t child = 2 * slot + 1;
    if (child >= n)
      break;
    if (child + 1 < n && timers_[child + 1] < timers_[child])
      ++child;
    if (!(timers_[child] < e))
      break;
    timer_place (slot, timers_[child]);
    slot = child;
  }
  timer_place (slot, e);
}

void
EventLoop::timer_push (Timer *t)
{
  timers_.push_back ({ t->deadline_, t->order_, t });
  timer_up (timers_.size () - 1);
}

void
EventLoop::timer_moved (Timer *t)
{
  size_t slot = t->slot_;
  timers_[slot].deadline = t->deadline_;
  timers_[slot].order = t->order_;
  timer_up (slot);
  timer_down (t->slot_);
}

void
EventLoop::timer_remove (Timer *t)
{
  size_t slot = t->slot_;
  TimerEntry last = timers_.back ();
  timers_.pop_back ();
  if (last.timer == t)
    return;
  timer_place (slot, last);
  timer_up (slot);
  timer_down (last.timer->slot_);
}

void
EventLoop::defer (std::function<void ()> task)
{
  deferred_.push_back (std::move (task));
}

void
EventLoop::run_deferred ()
{
  // Tasks may defer more tasks (a callback issuing a request that flushes);
  // they run in this same pass.
  while (!deferred_.empty ()) {
    auto task = std::move (deferred_.front ());
    deferred_.pop_front ();
    task ();
  }
}

void
EventLoop::dispatch (int64_t wait_until_ns)
{
  int64_t now = monotonic_ns ();
  int64_t until = wait_until_ns;
  if (!timers_.empty () && timers_.front ().deadline < until)
    until = timers_.front ().deadline;
  if (!deferred_.empty ())
    until = now;
  timespec timeout{};
  if (until > now) {
    int64_t d = until - now;
    timeout.tv_sec = d / kNsPerSecond;
    timeout.tv_nsec = d % kNsPerSecond;
  }

  // epoll_pwait2: nanosecond timeouts; a QUIC pacing gap is tens of
  // microseconds and millisecond rounding would add latency to every packet.
  epoll_event events[256];
  int n = epoll_pwait2 (epfd_, events, 256, &timeout, nullptr);
  if (n < 0 && errno != EINTR) {
    perror ("epoll_pwait2");
    abort ();
  }
  for (int i = 0; i < n; ++i)
    static_cast<IoWatcher *> (events[i].data.ptr)->on_io (events[i].events);

  now = monotonic_ns ();
  // A timer callback may cancel or re-arm any timer, itself included:
  // always take the earliest afresh.
  while (!timers_.empty () && timers_.front ().deadline <= now) {
    Timer *t = timers_.front ().timer;
    t->cancel ();
    t->fire_ ();
  }
  run_deferred ();
}

void
EventLoop::run ()
{
  quit_ = false;
  run_deferred ();
  while (!quit_ && (watched_ > 0 || !timers_.empty () || !deferred_.empty ()))
    dispatch (INT64_MAX / 2);
}

void
EventLoop::run_until (int64_t deadline_ns)
{
  quit_ = false;
  run_deferred ();
  while (!quit_ && monotonic_ns () < deadline_ns)
    dispatch (deadline_ns);
}

} // namespace mirror::tools
