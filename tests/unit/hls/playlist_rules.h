// SPDX-License-Identifier: LGPL-2.1-or-later
// The LL-HLS rules players enforce, checked on playlist text the way a player
// (or Apple's mediastreamvalidator) sees it. Returns one sentence per breach.
#pragma once

#include <string>
#include <vector>

namespace mirror::test {

std::vector<std::string> ll_hls_violations (const std::string &playlist);

// The SERVER-CONTROL line, to compare renditions.
std::string server_control_line (const std::string &playlist);

} // namespace mirror::test
