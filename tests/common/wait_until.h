// SPDX-License-Identifier: LGPL-2.1-or-later
// The C++ tests' one way to wait (the Python tests have mirrortest.wait_for):
// poll a condition until it holds or a generous deadline passes (CI's two
// cores are busy), doing the waiting side's work between polls (iterating a
// main context) or else sleeping a little. Never a fixed sleep in its place.
// Every deadline is multiplied by MIRROR_TEST_SLOWDOWN (a number, 1 when
// unset): sanitizer builds (tools/sanitize/env) run a few times slower.
#pragma once

#include <chrono>
#include <cstdlib>
#include <functional>
#include <thread>

namespace mirror::test {

inline constexpr std::chrono::milliseconds kWaitDeadline{ 30000 };

// MIRROR_TEST_SLOWDOWN, at least 1.
inline double
slowdown ()
{
  const char *env = std::getenv ("MIRROR_TEST_SLOWDOWN");
  const double factor = env ? std::strtod (env, nullptr) : 1.0;
  return factor > 1.0 ? factor : 1.0;
}

// @deadline stretched by slowdown ().
inline std::chrono::milliseconds
scaled (std::chrono::milliseconds deadline)
{
  return std::chrono::milliseconds (static_cast<long long> (deadline.count () * slowdown ()));
}

// True as soon as pred holds; false if it still does not at the deadline.
// between runs between polls; when it returns false (nothing to do) the
// poll sleeps 5 ms.
inline bool
wait_until (const std::function<bool ()> &pred, std::chrono::milliseconds deadline = kWaitDeadline,
            const std::function<bool ()> &between = nullptr)
{
  const auto end = std::chrono::steady_clock::now () + scaled (deadline);
  while (std::chrono::steady_clock::now () < end) {
    if (pred ())
      return true;
    if (!between || !between ())
      std::this_thread::sleep_for (std::chrono::milliseconds (5));
  }
  return pred ();
}

} // namespace mirror::test
