// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ingest/ingest_registration.h"

#include <exception>
#include <utility>

namespace mirror {

std::shared_ptr<IngestRegistration>
IngestRegistration::create (std::shared_ptr<StreamRegistry> registry, std::string id)
{
  return std::shared_ptr<IngestRegistration> (
      new IngestRegistration (std::move (registry), std::move (id)));
}

void
IngestRegistration::claim (StreamEntry entry)
{
  {
    std::lock_guard<std::mutex> lk (lock_);
    if (state_ != State::kIdle || release_requested_)
      return;
    state_ = State::kPending;
  }
  entry.id = id_;
  auto self = shared_from_this ();
  try {
    registry_->register_stream (entry, [self, entry] (const RegistryStatus &status) {
      self->on_registered (status, entry);
    });
  } catch (const std::exception &e) {
    std::lock_guard<std::mutex> lk (lock_);
    state_ = State::kRefused;
    problem_ = std::string ("registry refused the registration: ") + e.what ();
  }
}

// On the registry's worker thread.
void
IngestRegistration::on_registered (const RegistryStatus &status, const StreamEntry &entry)
{
  if (status.code == RegistryErrc::kAlreadyExists) {
    // Fine if it is this node's own entry (mirrord registers the streams it
    // starts): find out whose it is.
    auto self = shared_from_this ();
    registry_->get_stream (
        id_, [self, entry] (const RegistryStatus &st, const std::optional<StreamEntry> &existing) {
          self->on_existing (st, existing, entry);
        });
    return;
  }

  bool undo = false;
  {
    std::lock_guard<std::mutex> lk (lock_);
    if (!status.ok ()) {
      state_ = State::kRefused;
      problem_ = "registry did not register it: " + status.message;
      return;
    }
    state_ = State::kRegistered;
    undo = release_requested_;
    if (undo)
      state_ = State::kReleased;
  }
  if (undo)
    registry_->unregister_stream (id_, nullptr);
}

void
IngestRegistration::on_existing (const RegistryStatus &status,
                                 const std::optional<StreamEntry> &existing,
                                 const StreamEntry &entry)
{
  bool ours = status.ok () && existing && existing->node_id == registry_->node_id ();
  {
    std::lock_guard<std::mutex> lk (lock_);
    if (!ours) {
      state_ = State::kRefused;
      if (existing)
        problem_ = "already registered by node \"" + existing->node_id + "\"";
      else
        problem_ = "registered by another node and then gone: " + status.message;
      return;
    }
    state_ = release_requested_ ? State::kReleased : State::kAdopted;
    if (release_requested_)
      return;
  }
  // The owner (mirrord) keeps the entry's state: only it knows the whole
  // stream's lifecycle. The bin adds what it learnt of the media.
  registry_->update_stats (id_, entry.stats, kStatsCodec | kStatsResolution | kStatsFrameRate);
}

void
IngestRegistration::release ()
{
  bool unregister = false;
  {
    std::lock_guard<std::mutex> lk (lock_);
    release_requested_ = true;
    unregister = state_ == State::kRegistered;
    if (state_ == State::kRegistered || state_ == State::kAdopted)
      state_ = State::kReleased;
  }
  if (unregister) {
    try {
      registry_->unregister_stream (id_, nullptr);
    } catch (const std::exception &) {
      // The entry expires with its heartbeat.
    }
  }
}

void
IngestRegistration::update_transport (const StreamStats &stats)
{
  {
    std::lock_guard<std::mutex> lk (lock_);
    if (state_ != State::kRegistered && state_ != State::kAdopted)
      return;
  }
  try {
    registry_->update_stats (id_, stats, kStatsTransport);
    // Keeps the entry alive also in pipelines without mirrorheartbeat.
    registry_->heartbeat (id_);
  } catch (const std::exception &) {
    // Fire and forget: the next second brings fresher figures.
  }
}

IngestRegistration::State
IngestRegistration::state () const
{
  std::lock_guard<std::mutex> lk (lock_);
  return state_;
}

std::string
IngestRegistration::take_problem ()
{
  std::lock_guard<std::mutex> lk (lock_);
  return std::exchange (problem_, std::string ());
}

const char *
to_string (IngestRegistration::State state)
{
  switch (state) {
  case IngestRegistration::State::kIdle:
    return "idle";
  case IngestRegistration::State::kPending:
    return "pending";
  case IngestRegistration::State::kRegistered:
    return "registered";
  case IngestRegistration::State::kAdopted:
    return "adopted";
  case IngestRegistration::State::kRefused:
    return "refused";
  case IngestRegistration::State::kReleased:
    return "released";
  }
  return "unknown";
}

} // namespace mirror
