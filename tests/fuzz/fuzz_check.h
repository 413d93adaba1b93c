// SPDX-License-Identifier: LGPL-2.1-or-later
// What the fuzz targets share: FUZZ_CHECK, an invariant that aborts (so
// libFuzzer keeps the input as a crash) with the condition and a message.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#define FUZZ_CHECK(cond, what)                                                                \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      std::fprintf (stderr, "%s:%d: FUZZ_CHECK (%s) failed: %s\n", __FILE__, __LINE__, #cond, \
                    std::string (what).c_str ());                                             \
      std::abort ();                                                                          \
    }                                                                                         \
  } while (0)
