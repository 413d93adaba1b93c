// SPDX-License-Identifier: LGPL-2.1-or-later
// What the kernel says about this process's threads, for the tests of the
// hubs' thread priorities.
#pragma once

#include <string>
#include <vector>

namespace mirror::test {

// Nice values of this process's threads whose name starts with @prefix.
std::vector<int> thread_nices (const std::string &prefix);

} // namespace mirror::test
