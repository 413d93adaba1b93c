// SPDX-License-Identifier: LGPL-2.1-or-later
#include "version.h"

#include "version_info.h"

namespace mirror {

const char *
version ()
{
  return MIRROR_VERSION;
}

const char *
git_commit ()
{
  return MIRROR_GIT_COMMIT;
}

const char *
build_time ()
{
  // version_info.h changes with every commit, so this unit is rebuilt then.
  return __DATE__ " " __TIME__;
}

} // namespace mirror
