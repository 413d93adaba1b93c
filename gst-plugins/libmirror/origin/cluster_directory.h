// SPDX-License-Identifier: LGPL-2.1-or-later
// Who serves the streams this node does not own: what the cluster's registry
// says about their owners, kept by mirrord (a snapshot at most a couple of
// seconds old) and read by every viewer worker, which sends a viewer of such
// a stream to its owner (OriginHandler, cluster playback).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace mirror {

class ClusterDirectory {
 public:
  struct Owner {
    std::string node_id;
    std::string url; // the owner's server.public_url; "" when it has none
    uint64_t epoch = 0;
    std::string tls_pin; // its certificate's SPKI pin (a relay trusts it); "" none
  };
  using Owners = std::map<std::string, Owner>; // by stream id

  // Any thread: the whole picture at once (streams not named are nobody's).
  void replace (Owners owners);
  // Any thread; never blocks on anything but the swap above.
  std::optional<Owner> find (const std::string &stream_id) const;
  // Any thread: the picture as it is now (shared, never changed).
  std::shared_ptr<const Owners> owners () const;

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Owners> owners_ = std::make_shared<const Owners> ();
};

// @base (a public URL, "https://host:port" with or without a path prefix)
// followed by @path and, when not empty, "?" @query: where a redirect points.
std::string join_public_url (const std::string &base, const std::string &path,
                             const std::string &query);

} // namespace mirror
