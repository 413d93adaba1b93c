// SPDX-License-Identifier: LGPL-2.1-or-later
#include "util/fault_point.h"

namespace mirror {

bool (*fault_hook) () = nullptr;

} // namespace mirror
