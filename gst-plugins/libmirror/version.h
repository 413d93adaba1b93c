// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

namespace mirror {

const char *version ();    // "0.1.0"
const char *git_commit (); // "v0.1.0-3-gabcdef" or "unknown"
const char *build_time (); // when this unit was compiled, "Nov 21 2026 10:15:00"

} // namespace mirror
