// SPDX-License-Identifier: LGPL-2.1-or-later
#include "origin/cluster_directory.h"

namespace mirror {

void
ClusterDirectory::replace (Owners owners)
{
  auto next = std::make_shared<const Owners> (std::move (owners));
  std::lock_guard lock (mutex_);
  owners_.swap (next);
  // The old map goes when the lock is gone (next's destructor).
}

std::optional<ClusterDirectory::Owner>
ClusterDirectory::find (const std::string &stream_id) const
{
  std::shared_ptr<const Owners> owners;
  {
    std::lock_guard lock (mutex_);
    owners = owners_;
  }
  auto it = owners->find (stream_id);
  if (it == owners->end ())
    return std::nullopt;
  return it->second;
}

std::shared_ptr<const ClusterDirectory::Owners>
ClusterDirectory::owners () const
{
  std::lock_guard lock (mutex_);
  return owners_;
}

std::string
join_public_url (const std::string &base, const std::string &path, const std::string &query)
{
  std::string url = base;
  while (!url.empty () && url.back () == '/')
    url.pop_back ();
  url += path;
  if (!query.empty ())
    url += "?" + query;
  return url;
}

} // namespace mirror
