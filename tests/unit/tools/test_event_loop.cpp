// SPDX-License-Identifier: LGPL-2.1-or-later
// The load generator's timers (tools/h3/event_loop.*): a heap that a
// thousand QUIC viewers re-arm after every packet. Whatever the arming,
// re-arming and cancelling, the armed ones fire once each, by deadline, and
// equal deadlines in the order they were (last) armed.

#include "event_loop.h"

#include <algorithm>
#include <memory>
#include <random>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

namespace mirror::tools {
namespace {

struct Expect {
  int64_t deadline;
  uint64_t armed; // the order of the last arming
  int id;
  bool operator<(const Expect &o) const
  {
    return std::tie (deadline, armed) < std::tie (o.deadline, o.armed);
  }
};

TEST (EventLoopTimers, FireInDeadlineOrderWhateverTheRearming)
{
  EventLoop loop;
  std::vector<int> fired;
  std::vector<std::unique_ptr<Timer>> timers;
  constexpr int kTimers = 2000;
  for (int i = 0; i < kTimers; ++i)
    timers.push_back (std::make_unique<Timer> (loop, [&fired, i] { fired.push_back (i); }));

  // All deadlines in the past, few distinct (ties), so that one dispatch
  // fires every armed timer and the order is the heap's alone.
  const int64_t base = monotonic_ns () - 1'000'000'000;
  std::mt19937 rng (7);
  std::uniform_int_distribution<int64_t> when (0, 200);
  std::vector<int64_t> deadline (kTimers, -1); // -1: not armed
  std::vector<uint64_t> armed_at (kTimers, 0);
  uint64_t order = 0;
  for (int round = 0; round < 5 * kTimers; ++round) {
    int id = (int)(rng () % kTimers);
    switch (rng () % 4) {
    case 0:
      timers[id]->cancel ();
      deadline[id] = -1;
      break;
    case 1: // the same deadline again: no move, the first arming counts
      if (deadline[id] >= 0) {
        timers[id]->arm_at (deadline[id]);
        break;
      }
      [[fallthrough]];
    default:
      int64_t d = base + when (rng);
      if (deadline[id] != d)
        armed_at[id] = order++;
      timers[id]->arm_at (d);
      deadline[id] = d;
      break;
    }
    ASSERT_EQ (timers[id]->armed (), deadline[id] >= 0);
  }

  std::vector<Expect> expect;
  for (int i = 0; i < kTimers; ++i)
    if (deadline[i] >= 0)
      expect.push_back ({ deadline[i], armed_at[i], i });
  std::sort (expect.begin (), expect.end ());
  ASSERT_GT (expect.size (), 100u);

  loop.run_until (monotonic_ns () + 1'000'000); // one dispatch is enough
  ASSERT_EQ (fired.size (), expect.size ());
  for (size_t i = 0; i < expect.size (); ++i)
    ASSERT_EQ (fired[i], expect[i].id) << "at " << i;
  for (auto &t : timers)
    EXPECT_FALSE (t->armed ());
}

TEST (EventLoopTimers, ACallbackMayRearmOrCancelOthers)
{
  EventLoop loop;
  std::vector<int> fired;
  std::unique_ptr<Timer> a, b, c;
  const int64_t now = monotonic_ns ();
  a = std::make_unique<Timer> (loop, [&] {
    fired.push_back (0);
    c->cancel ();                // due, but cancelled before its turn
    b->arm_at (now + 2'000'000); // moved later than it was
  });
  b = std::make_unique<Timer> (loop, [&] { fired.push_back (1); });
  c = std::make_unique<Timer> (loop, [&] { fired.push_back (2); });
  a->arm_at (now - 3);
  c->arm_at (now - 2);
  b->arm_at (now - 1);
  loop.run ();
  EXPECT_EQ (fired, (std::vector<int>{ 0, 1 }));
  EXPECT_GE (monotonic_ns (), now + 2'000'000);
}

TEST (EventLoopTimers, DestroyedWhileArmed)
{
  EventLoop loop;
  int fired = 0;
  {
    Timer gone (loop, [&] { ++fired; });
    gone.arm_in (0);
  }
  Timer kept (loop, [&] { ++fired; });
  kept.arm_in (0);
  loop.run ();
  EXPECT_EQ (fired, 1);
}

} // namespace
} // namespace mirror::tools
