// SPDX-License-Identifier: LGPL-2.1-or-later
#include "streams/cluster_presence.h"

#include <sys/resource.h>

#include "origin/origin.h"
#include "streams/stream_manager.h"

namespace mirror::daemon {

namespace {

int64_t
process_cpu_us ()
{
  struct rusage usage {};
  getrusage (RUSAGE_SELF, &usage);
  auto us = [] (const timeval &t) { return int64_t (t.tv_sec) * 1000000 + t.tv_usec; };
  return us (usage.ru_utime) + us (usage.ru_stime);
}

} // namespace

ClusterPresence::ClusterPresence (std::shared_ptr<StreamRegistry> registry,
                                  std::shared_ptr<ClusterDirectory> directory,
                                  std::string public_url, const StreamManager &streams,
                                  std::shared_ptr<Origin> origin)
    : registry_ (std::move (registry)), directory_ (std::move (directory)),
      public_url_ (std::move (public_url)), streams_ (streams), origin_ (std::move (origin)),
      shared_ (registry_->describe ().rfind ("memory:", 0) != 0)
{}

ClusterPresence::~ClusterPresence ()
{
  if (timer_)
    g_source_remove (timer_);
}

void
ClusterPresence::start ()
{
  last_wall_us_ = g_get_monotonic_time ();
  last_cpu_us_ = process_cpu_us ();
  tick ();
  timer_ = g_timeout_add_seconds_full (
      G_PRIORITY_DEFAULT, 1,
      [] (gpointer self) -> gboolean {
        static_cast<ClusterPresence *> (self)->tick ();
        return G_SOURCE_CONTINUE;
      },
      this, nullptr);
}

double
ClusterPresence::cpu_since_last ()
{
  const int64_t wall = g_get_monotonic_time (), cpu = process_cpu_us ();
  const int64_t dwall = wall - last_wall_us_, dcpu = cpu - last_cpu_us_;
  if (dwall < 100000)
    return -1; // too short to say; keep the last figure
  last_wall_us_ = wall;
  last_cpu_us_ = cpu;
  return double (dcpu) / double (dwall);
}

void
ClusterPresence::tick ()
{
  NodeInfo info;
  info.public_url = public_url_;
  if (origin_)
    info.tls_pin = origin_->identity ().spki_pin;
  info.load.streams = uint32_t (streams_.local_count ());
  uint32_t viewers = 0;
  if (origin_)
    for (const auto &[id, per_protocol] : origin_->viewers ())
      for (uint32_t n : per_protocol)
        viewers += n;
  info.load.viewers = viewers;
  if (double cpu = cpu_since_last (); cpu >= 0)
    cpu_ = cpu;
  info.load.cpu = cpu_;
  registry_->set_node_info (info);

  if (!shared_)
    return;
  // Runs on the registry's thread: only the directory (thread safe) is
  // touched there, and it outlives this object if need be.
  registry_->list_streams ([directory = directory_, self = registry_->node_id ()] (
                               const RegistryStatus &status,
                               const std::vector<StreamEntry> &entries) {
    if (!status.ok ())
      return; // Redis away: keep the last picture (entries lapse with it)
    ClusterDirectory::Owners owners;
    for (const StreamEntry &e : entries)
      if (e.node_id != self)
        owners.emplace (e.id,
                        ClusterDirectory::Owner{ e.node_id, e.owner_url, e.epoch, e.owner_tls_pin });
    directory->replace (std::move (owners));
  });
}

} // namespace mirror::daemon
