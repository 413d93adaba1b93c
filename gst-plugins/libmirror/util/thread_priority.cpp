// SPDX-License-Identifier: LGPL-2.1-or-later
#include "util/thread_priority.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mirror {

ScopedThreadNice::ScopedThreadNice (int nice)
{
  // PRIO_PROCESS with a thread id sets that thread alone (Linux).
  const id_t self = id_t (gettid ());
  errno = 0;
  previous_ = getpriority (PRIO_PROCESS, self);
  if (errno != 0) {
    error_ = strerror (errno);
    return;
  }
  nice_ = previous_;
  if (nice >= previous_) {
    applied_ = true;
    return;
  }
  if (setpriority (PRIO_PROCESS, self, nice) != 0) {
    error_ = strerror (errno);
    return;
  }
  changed_ = applied_ = true;
  nice_ = nice;
}

ScopedThreadNice::~ScopedThreadNice ()
{
  // Raising a nice value is always allowed.
  if (changed_)
    setpriority (PRIO_PROCESS, id_t (gettid ()), previous_);
}

bool
set_thread_nice (int nice)
{
  const id_t self = id_t (gettid ());
  errno = 0;
  int now = getpriority (PRIO_PROCESS, self);
  if (errno != 0)
    return false;
  return nice >= now || setpriority (PRIO_PROCESS, self, nice) == 0;
}

} // namespace mirror
