// SPDX-License-Identifier: LGPL-2.1-or-later
// Fault injection for the fuzz targets (tests/fuzz). MIRROR_FAULTY (fn, error)
// is fn itself; in a fuzzing build (-Dfuzzing=true defines MIRROR_FUZZING)
// it is a wrapper that first asks fault_hook and, when that says so, returns
// error without calling fn: the library calling back sees a callback that
// failed, and its error path runs.
#pragma once

namespace mirror {

// Set by a fuzz target (on the thread the callbacks run on); nullptr: never.
extern bool (*fault_hook) ();

#ifdef MIRROR_FUZZING
template <auto Fn, auto Error> struct FaultPoint;

template <typename R, typename... A, R (*Fn) (A...), auto Error> struct FaultPoint<Fn, Error> {
  static R
  call (A... args)
  {
    if (fault_hook && fault_hook ())
      return R (Error);
    return Fn (args...);
  }
};

#define MIRROR_FAULTY(fn, error) (&::mirror::FaultPoint<fn, error>::call)
#else
#define MIRROR_FAULTY(fn, error) (fn)
#endif

} // namespace mirror
