// SPDX-License-Identifier: LGPL-2.1-or-later
// The ingest bin's claim on its registry entry, against the in-memory
// registry: its own entry it registers and later removes; mirrord's (the same
// node's) it only updates and never touches the state of; another node's it
// refuses, saying whose; a late answer after release is undone.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <future>
#include <thread>

#include "../../common/wait_until.h"
#include "ingest/ingest_registration.h"

namespace mirror {
namespace {

using namespace std::chrono_literals;
using State = IngestRegistration::State;
using test::wait_until;

std::shared_ptr<StreamRegistry>
registry (const std::string &node)
{
  RegistryOptions options;
  options.node_id = node;
  std::string error;
  return make_registry (options, &error);
}

std::optional<StreamEntry>
entry_of (StreamRegistry &r, const std::string &id)
{
  std::promise<std::optional<StreamEntry>> p;
  r.get_stream (id, [&p] (const RegistryStatus &, const std::optional<StreamEntry> &e) {
    p.set_value (e);
  });
  return p.get_future ().get ();
}

RegistryStatus
register_as_owner (StreamRegistry &r, const std::string &id)
{
  std::promise<RegistryStatus> p;
  StreamEntry e;
  e.id = id;
  e.source = "mirrord";
  r.register_stream (e, [&p] (const RegistryStatus &s) { p.set_value (s); });
  return p.get_future ().get ();
}

StreamEntry
media_entry ()
{
  StreamEntry e;
  e.state = StreamState::kLive;
  e.stats.codec = "h264";
  e.stats.width = 320;
  return e;
}

TEST (IngestRegistration, ItsOwnEntryIsRegisteredThenRemoved)
{
  auto r = registry ("n1");
  auto reg = IngestRegistration::create (r, "own");
  reg->claim (media_entry ());
  ASSERT_TRUE (wait_until ([&] { return reg->state () == State::kRegistered; }));
  auto e = entry_of (*r, "own");
  ASSERT_TRUE (e);
  EXPECT_EQ (e->state, StreamState::kLive);
  EXPECT_EQ (e->stats.codec, "h264");
  reg->release ();
  EXPECT_TRUE (wait_until ([&] { return !entry_of (*r, "own"); }));
}

TEST (IngestRegistration, MirrordsEntryIsOnlyUpdatedItsStateLeftAlone)
{
  auto r = registry ("n1");
  ASSERT_TRUE (register_as_owner (*r, "adopted").ok ());
  auto reg = IngestRegistration::create (r, "adopted");
  reg->claim (media_entry ());
  ASSERT_TRUE (wait_until ([&] { return reg->state () == State::kAdopted; }));
  ASSERT_TRUE (wait_until ([&] { return entry_of (*r, "adopted")->stats.codec == "h264"; }));
  EXPECT_EQ (entry_of (*r, "adopted")->state, StreamState::kStarting);
  reg->release ();
  EXPECT_EQ (reg->state (), State::kReleased);
  EXPECT_TRUE (entry_of (*r, "adopted")); // mirrord's, still there
}

TEST (IngestRegistration, ReleaseBeforeTheAnswerUndoesIt)
{
  auto r = registry ("n1");
  auto reg = IngestRegistration::create (r, "late");
  reg->claim (media_entry ());
  reg->release (); // the stream stopped before the registry answered
  EXPECT_TRUE (wait_until ([&] { return reg->state () == State::kReleased; }));
  EXPECT_TRUE (wait_until ([&] { return !entry_of (*r, "late"); }));
  reg->claim (media_entry ()); // nothing after the end
  EXPECT_EQ (reg->state (), State::kReleased);
}

} // namespace
} // namespace mirror
