// SPDX-License-Identifier: LGPL-2.1-or-later
#include "transcode/gpu_sessions.h"

namespace mirror {

GpuSessionPool &
GpuSessionPool::process ()
{
  static GpuSessionPool pool;
  return pool;
}

bool
GpuSessionPool::take (unsigned limit)
{
  unsigned now = in_use_.load ();
  do {
    if (limit > 0 && now >= limit)
      return false;
  } while (!in_use_.compare_exchange_weak (now, now + 1));
  return true;
}

void
GpuSessionPool::release ()
{
  in_use_.fetch_sub (1);
}

} // namespace mirror
