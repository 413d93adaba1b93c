// SPDX-License-Identifier: LGPL-2.1-or-later
// The ingest bin's claim on its stream's registry entry. Every registry call
// is asynchronous (the registry's worker thread answers), so streaming
// threads never wait; this object outlives the element while an answer is
// still on its way and does the right thing with a late one (a registration
// that completes after the stream stopped is undone at once).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "registry/stream_registry.h"

namespace mirror {

class IngestRegistration : public std::enable_shared_from_this<IngestRegistration> {
 public:
  enum class State {
    kIdle,       // nothing asked yet
    kPending,    // register_stream (or the ownership check) under way
    kRegistered, // this bin registered it: it unregisters at the end
    kAdopted,    // this node registered it first (mirrord): only updated
    kRefused,    // another node owns it, or the registry failed
    kReleased,   // the stream ended
  };

  static std::shared_ptr<IngestRegistration> create (std::shared_ptr<StreamRegistry> registry,
                                                     std::string id);

  // Claims the entry (once; later calls do nothing). entry.id is set here.
  void claim (StreamEntry entry);
  // At EOS or stop: unregisters what this bin registered itself.
  void release ();
  // Transport figures (packets, packets_lost), only while the entry is ours.
  void update_transport (const StreamStats &stats);

  State state () const;
  // A problem not reported yet (another node owns the id, the registry
  // failed); empty if none.
  std::string take_problem ();
  const std::string &id () const { return id_; }

 private:
  IngestRegistration (std::shared_ptr<StreamRegistry> registry, std::string id)
      : registry_ (std::move (registry)), id_ (std::move (id))
  {}
  void on_registered (const RegistryStatus &status, const StreamEntry &entry);
  void on_existing (const RegistryStatus &status, const std::optional<StreamEntry> &existing,
                    const StreamEntry &entry);

  const std::shared_ptr<StreamRegistry> registry_;
  const std::string id_;
  mutable std::mutex lock_;
  State state_ = State::kIdle;
  bool release_requested_ = false;
  std::string problem_;
};

const char *to_string (IngestRegistration::State state);

} // namespace mirror
