// SPDX-License-Identifier: LGPL-2.1-or-later
// Stream and rendition ids as one component of a path under the state
// directory: anything but letters, digits, '-', '_' and '.' becomes '_', and
// a name that is empty or starts with '.' gets a leading '_' (never "..",
// never hidden).
#pragma once

#include <string>

namespace mirror {

std::string safe_file_name (const std::string &name);

} // namespace mirror
