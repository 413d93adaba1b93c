// SPDX-License-Identifier: LGPL-2.1-or-later
// ScopedThreadNice: a thread started inside the scope inherits the raised
// priority; the caller gets its own back. Without the right to raise it
// (not root, no RLIMIT_NICE), nothing changes and applied () says so.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <thread>

#include "util/thread_priority.h"

namespace mirror {
namespace {

int
own_nice ()
{
  return getpriority (PRIO_PROCESS, id_t (gettid ()));
}

TEST (ScopedThreadNice, ThreadsStartedInsideInheritItAndTheCallerGetsItsOwnBack)
{
  const int before = own_nice ();
  int inherited = 99;
  bool applied = false;
  {
    ScopedThreadNice priority (before - 5);
    applied = priority.applied ();
    std::thread t ([&] { inherited = own_nice (); });
    t.join ();
    if (!applied)
      EXPECT_FALSE (priority.error ().empty ());
  }
  EXPECT_EQ (own_nice (), before);
  EXPECT_EQ (inherited, applied ? before - 5 : before);
}

TEST (ScopedThreadNice, ANiceNotBelowTheCurrentOneChangesNothing)
{
  const int before = own_nice ();
  {
    ScopedThreadNice priority (before + 3);
    EXPECT_TRUE (priority.applied ());
    EXPECT_EQ (own_nice (), before);
  }
  EXPECT_EQ (own_nice (), before);
}

} // namespace
} // namespace mirror
