// SPDX-License-Identifier: LGPL-2.1-or-later
// The LL-HLS rules players enforce, checked on playlist text the way a player
// (or Apple's mediastreamvalidator) sees it: one sentence per breach. The
// rules themselves live once, in tests/integration/llhls.py (the integration
// tests' checker); this runs it.
#pragma once

#include <string>
#include <vector>

namespace mirror::test {

std::vector<std::string> ll_hls_violations (const std::string &playlist);
// Many playlists in one run of the checker.
std::vector<std::vector<std::string>>
ll_hls_violations_each (const std::vector<std::string> &playlists);

// The SERVER-CONTROL line, to compare renditions.
std::string server_control_line (const std::string &playlist);

} // namespace mirror::test
