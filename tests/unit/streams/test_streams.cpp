// SPDX-License-Identifier: LGPL-2.1-or-later
// The stream lifecycle with real pipelines but no network: StreamPipeline
// (start, media, drain, failure) and the StreamManager around it (a stream
// that ends is listed as ended, then removed; one that fails is released;
// stop drains), on test sources from a private pipelines directory.
#include <gtest/gtest.h>

#include <glib/gstdio.h>
#include <gst/gst.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>

#include "../../common/wait_until.h"
#include "config/config.h"
#include "registry/stream_registry.h"
#include "streams/pipeline_library.h"
#include "streams/stream_manager.h"
#include "streams/stream_pipeline.h"

namespace mirror::daemon {
namespace {

using namespace std::chrono_literals;

// Waits while the default main context (mirrord's) does the work.
bool
pump_until (const std::function<bool ()> &pred, std::chrono::milliseconds deadline = 20s)
{
  return test::wait_until (pred, deadline,
                           [] () { return g_main_context_iteration (nullptr, FALSE) != 0; });
}

TEST (PipelineLibrary, ElementNamesSkipPropertiesPadsCapsAndQuotes)
{
  auto names = PipelineLibrary::element_names (
      "mirroringestbin name=ingest uri=\"srt://:6000?streamid=a b\"\n"
      "ingest.video_0 ! mirrorheartbeat stream-id=\"x\" ! video/x-raw,width=2 ! "
      "timeoverlay font-desc=\"Sans Bold 40\" ! fakesink\n"
      "ingest.audio_0 ! queue ! fakesink");
  EXPECT_EQ (names, (std::vector<std::string>{ "mirroringestbin", "mirrorheartbeat", "timeoverlay",
                                               "fakesink", "queue" }));
}

TEST (PipelineLibrary, BranchesSplitOffAndJoinForGstLaunch)
{
  auto parts = PipelineLibrary::split ("a name=x ! b\n  [x.audio_0]  \nc ! d\n[x.video_1]\ne\n");
  EXPECT_EQ (parts.pipeline, "a name=x ! b\n");
  ASSERT_EQ (parts.branches.size (), 2u);
  EXPECT_EQ (parts.branches[0].element, "x");
  EXPECT_EQ (parts.branches[0].pad, "audio_0");
  EXPECT_EQ (parts.branches[0].description, "c ! d\n");
  EXPECT_EQ (parts.branches[1].pad, "video_1");
  EXPECT_EQ (PipelineLibrary::launch_text ("a name=x ! b\n[x.audio_0]\nc ! d\n"),
             "a name=x ! b\nx.audio_0 ! c ! d\n");
  // Not a header: caps in brackets are not, nor a line with more on it.
  EXPECT_TRUE (PipelineLibrary::split ("a ! b [x.y] ! c\n").branches.empty ());
}

TEST (StreamPipeline, ABranchThatCannotBeIsNamed)
{
  const char *source = "videotestsrc num-buffers=1 ! decodebin name=d\n";
  for (auto [branch, want] : std::vector<std::pair<std::string, std::string>>{
           { "[e.src_0]\nfakesink", "branch [e.src_0]: the pipeline has no element named \"e\"" },
           { "[d.video_0]\nfakesink", "branch [d.video_0]: no pad \"video_0\" on decodebin" },
           { "[d.src_0]\nfakesink silent=maybe", "branch [d.src_0]: " } }) {
    std::string error;
    EXPECT_EQ (StreamPipeline::parse ("s", source + branch, &error), nullptr) << branch;
    EXPECT_EQ (error.rfind (want, 0), 0u) << error;
  }
}

TEST (StreamPipeline, AMissingElementIsNamedNotParsed)
{
  std::string error;
  EXPECT_EQ (
      StreamPipeline::parse ("s", "nosuchbin name=a a.src_0 ! fakesink a.src_1 ! nosuch2", &error),
      nullptr);
  EXPECT_NE (error.find ("\"nosuchbin\""), std::string::npos) << error;
}

struct Seen {
  std::vector<StreamEvent> events;
  std::vector<std::string> details;
  std::optional<bool> drained;
};

std::unique_ptr<StreamPipeline>
make (const std::string &description, Seen *seen)
{
  std::string error;
  GstElement *element = StreamPipeline::parse ("s", description, &error);
  EXPECT_NE (element, nullptr) << error;
  if (!element)
    return nullptr;
  StreamPipeline::Callbacks callbacks;
  callbacks.on_event = [seen] (StreamEvent e, const std::string &detail) {
    seen->events.push_back (e);
    seen->details.push_back (detail);
  };
  callbacks.on_drained = [seen] (bool in_time) { seen->drained = in_time; };
  return std::make_unique<StreamPipeline> ("s", element, std::move (callbacks));
}

bool
has (const Seen &seen, StreamEvent e)
{
  return std::find (seen.events.begin (), seen.events.end (), e) != seen.events.end ();
}

TEST (StreamPipeline, MediaFlowsThenADrainEndsIt)
{
  Seen seen;
  auto p = make ("videotestsrc is-live=true ! mirrorheartbeat stream-id=s ! fakesink", &seen);
  ASSERT_TRUE (p);
  std::string error;
  ASSERT_TRUE (p->start (&error)) << error;
  ASSERT_TRUE (pump_until ([&] { return has (seen, StreamEvent::kMediaFlowing); }));
  ASSERT_TRUE (pump_until ([&] { return p->playing (); }));
  p->drain (5000, true);
  ASSERT_TRUE (pump_until ([&] { return seen.drained.has_value (); }));
  EXPECT_TRUE (*seen.drained);
  p->release ();
  EXPECT_TRUE (p->released ());
  EXPECT_EQ (p->state_name (), "NULL");
}

// Stopped before its first media (a caller that connected but has sent
// nothing yet): the branches after the demuxer are not linked, an EOS would
// never reach their sinks, and there is nothing to finish. It drains at once,
// not after the timeout. The valve stands in for the silent feed.
TEST (StreamPipeline, NoMediaYetDrainsAtOnce)
{
  Seen seen;
  auto p = make ("videotestsrc is-live=true ! valve drop=true ! mirrorheartbeat ! "
                 "fakesink async=false",
                 &seen);
  ASSERT_TRUE (p);
  std::string error;
  ASSERT_TRUE (p->start (&error)) << error;
  ASSERT_TRUE (pump_until ([&] { return p->playing (); }));
  p->drain (60000, true);
  ASSERT_TRUE (pump_until ([&] { return seen.drained.has_value (); }, 30s));
  EXPECT_TRUE (*seen.drained);
  EXPECT_FALSE (has (seen, StreamEvent::kMediaFlowing));
}

TEST (StreamPipeline, AnInputThatEndsByItselfDrains)
{
  Seen seen;
  auto p = make ("videotestsrc num-buffers=10 ! mirrorheartbeat ! fakesink", &seen);
  ASSERT_TRUE (p);
  std::string error;
  ASSERT_TRUE (p->start (&error)) << error;
  ASSERT_TRUE (pump_until ([&] { return seen.drained.has_value (); }));
  EXPECT_TRUE (*seen.drained);
}

// A branch is built and linked when its sometimes pad appears: without it
// decodebin's output would be unlinked and the stream would fail, and EOS
// comes out of the branch's sink too.
TEST (StreamPipeline, ABranchIsLinkedWhenItsPadAppears)
{
  Seen seen;
  auto p = make ("videotestsrc num-buffers=10 ! video/x-raw,width=64,height=48 ! decodebin name=d\n"
                 "[d.src_0]\n"
                 "mirrorheartbeat ! fakesink name=branched\n",
                 &seen);
  ASSERT_TRUE (p);
  std::string error;
  ASSERT_TRUE (p->start (&error)) << error;
  ASSERT_TRUE (pump_until ([&] { return seen.drained.has_value (); }));
  EXPECT_TRUE (*seen.drained);
  EXPECT_TRUE (has (seen, StreamEvent::kMediaFlowing));
  EXPECT_FALSE (has (seen, StreamEvent::kFailed));
}

TEST (StreamPipeline, AFailureIsReportedWithItsReason)
{
  Seen seen;
  auto p = make ("filesrc location=/nonexistent/mirror-test ! fakesink", &seen);
  ASSERT_TRUE (p);
  std::string error;
  if (p->start (&error)) {
    ASSERT_TRUE (pump_until ([&] { return has (seen, StreamEvent::kFailed); }));
    error = seen.details.back ();
  }
  EXPECT_NE (error.find ("/nonexistent/mirror-test"), std::string::npos) << error;
}

// The manager, with descriptions from a private directory.
class Manager : public ::testing::Test {
 protected:
  void SetUp () override
  {
    dir_ = g_dir_make_tmp ("mirror-pipelines-XXXXXX", nullptr);
    write ("live", "videotestsrc is-live=true ! mirrorheartbeat stream-id=\"${stream_id}\" ! "
                   "fakesink sync=false");
    write ("short", "videotestsrc is-live=true num-buffers=15 ! "
                    "mirrorheartbeat stream-id=\"${stream_id}\" ! fakesink sync=false");
    write ("broken", "filesrc location=/nonexistent/mirror-test ! fakesink");
    // Media reaches the heartbeat, a leaky queue drops what the branch after
    // it cannot take, and the branch waits an hour for each buffer's time.
    write ("wedged", "videotestsrc is-live=true ! mirrorheartbeat stream-id=\"${stream_id}\" "
                     "interval=200000000 ! queue leaky=downstream max-size-buffers=2 ! "
                     "identity sync=true ts-offset=3600000000000 ! fakesink sync=false");
    config_.ingestion.pipelines_dir = dir_;
    config_.ingestion.ended_retention_ms = 300;
    config_.ingestion.pipeline_stall_timeout_ms = 2000;
    std::string error;
    auto library = PipelineLibrary::load (dir_, &error);
    ASSERT_TRUE (library) << error;
    RegistryOptions options;
    options.node_id = "test";
    registry_ = make_registry (options, &error);
    ASSERT_TRUE (registry_) << error;
    manager_ = std::make_unique<StreamManager> (
        config_, registry_, std::make_shared<PipelineLibrary> (std::move (*library)), nullptr);
    StreamManager::Listener listener;
    listener.state_changed = [this] (const StreamView &v) {
      states_.push_back (v.entry.id + ":" + to_string (v.entry.state));
    };
    listener.removed = [this] (const std::string &id) { removed_.push_back (id); };
    manager_->add_listener (listener);
  }

  void TearDown () override
  {
    manager_.reset ();
    registry_.reset ();
    for (const char *name : { "live", "short", "broken", "wedged" })
      g_remove ((std::string (dir_) + "/" + name + ".pipeline").c_str ());
    g_rmdir (dir_);
    g_free (dir_);
  }

  void write (const char *name, const std::string &text)
  {
    std::ofstream (std::string (dir_) + "/" + name + ".pipeline") << text << "\n";
  }

  ApiError create (const std::string &id, const std::string &pipeline)
  {
    std::optional<ApiError> result;
    manager_->create ({ id, pipeline, "", {} }, [&] (const ApiError &e) { result = e; });
    EXPECT_TRUE (pump_until ([&] { return result.has_value (); }));
    return result.value_or (ApiError{ ApiErrc::kInternal, "no answer" });
  }

  std::string state (const std::string &id)
  {
    auto view = manager_->local_stream (id);
    return view ? to_string (view->entry.state) : "gone";
  }

  bool gone (const std::string &id)
  {
    return std::find (removed_.begin (), removed_.end (), id) != removed_.end ();
  }

  gchar *dir_ = nullptr;
  Config config_;
  std::shared_ptr<StreamRegistry> registry_;
  std::unique_ptr<StreamManager> manager_;
  std::vector<std::string> states_;
  std::vector<std::string> removed_;
};

TEST_F (Manager, MediaMakesItLiveAndStopRemovesIt)
{
  ASSERT_TRUE (create ("a", "live").ok ());
  ASSERT_TRUE (pump_until ([&] { return state ("a") == "live"; }));
  std::optional<ApiError> stopped;
  manager_->stop ("a", [&] (const ApiError &e) { stopped = e; });
  ASSERT_TRUE (pump_until ([&] { return stopped.has_value (); }));
  EXPECT_TRUE (stopped->ok ());
  EXPECT_EQ (state ("a"), "gone");
  EXPECT_EQ (states_, (std::vector<std::string>{ "a:live", "a:stopping" }));
}

TEST_F (Manager, AnInputThatEndsIsEndedThenRemoved)
{
  ASSERT_TRUE (create ("b", "short").ok ());
  ASSERT_TRUE (pump_until ([&] { return state ("b") == "ended"; }));
  auto view = manager_->local_stream ("b");
  EXPECT_EQ (view->pipeline_state, "NULL"); // released at once
  EXPECT_TRUE (manager_->has_room ());
  ASSERT_TRUE (pump_until ([&] { return gone ("b"); }));
  EXPECT_EQ (state ("b"), "gone");
  EXPECT_EQ (states_, (std::vector<std::string>{ "b:live", "b:ended" }));
}

// Room promised to an SRT caller at its handshake is its own until its
// stream is created: another stream cannot take it meanwhile.
TEST_F (Manager, RoomReservedForACallerIsKeptForItsStream)
{
  config_.ingestion.max_streams = 2;
  ASSERT_TRUE (create ("one", "live").ok ());
  ASSERT_TRUE (manager_->reserve_room ("caller"));
  EXPECT_FALSE (manager_->has_room ());
  EXPECT_FALSE (manager_->reserve_room ("another"));
  EXPECT_EQ (create ("other", "live").code, ApiErrc::kCapacityFull);
  // Asking again for the same id keeps the one reservation.
  EXPECT_TRUE (manager_->reserve_room ("caller"));
  ASSERT_TRUE (create ("caller", "live").ok ());
  EXPECT_FALSE (manager_->has_room ());
  // A handshake that failed gives its room back.
  config_.ingestion.max_streams = 3;
  ASSERT_TRUE (manager_->reserve_room ("refused"));
  EXPECT_FALSE (manager_->has_room ());
  manager_->release_room ("refused");
  EXPECT_TRUE (manager_->has_room ());
}

TEST_F (Manager, AFailedStreamIsReleasedThenRemovedAndItsIdCanBeReused)
{
  ASSERT_TRUE (create ("c", "broken").ok ());
  ASSERT_TRUE (pump_until ([&] { return state ("c") == "error"; }));
  EXPECT_FALSE (manager_->local_stream ("c")->entry.message.empty ());
  EXPECT_EQ (manager_->error_count (), 1u);
  // A new stream for the id replaces the failed one at once.
  ASSERT_TRUE (create ("c", "live").ok ());
  ASSERT_TRUE (pump_until ([&] { return state ("c") == "live"; }));
  EXPECT_EQ (manager_->error_count (), 0u);
}

// The watchdog: the wedged pipeline's input arrives (the heartbeat counts
// buffers) but no sink gets anything, so it is restarted, stalled with the
// reason, live again as the new one's media flows; five restarts in a row
// without output fail it. A busy pipeline beside it is never touched.
TEST_F (Manager, AWedgedPipelineIsRestartedAndFailsIfItNeverDelivers)
{
  ASSERT_TRUE (create ("busy", "live").ok ());
  ASSERT_TRUE (create ("w", "wedged").ok ());
  ASSERT_TRUE (pump_until ([&] { return state ("w") == "error"; }, 90s)) << state ("w");
  auto view = manager_->local_stream ("w");
  ASSERT_TRUE (view);
  EXPECT_EQ (view->pipeline_restarts, 5u);
  const std::string &message = view->entry.message;
  EXPECT_EQ (message.rfind ("no output for ", 0), 0u) << message;
  EXPECT_NE (message.find (" s while its input arrives, after 5 restarts in a row"),
             std::string::npos)
      << message;
  std::vector<std::string> seen;
  for (const auto &s : states_)
    if (s.rfind ("w:", 0) == 0 && (seen.empty () || seen.back () != s))
      seen.push_back (s);
  std::vector<std::string> want = { "w:live" };
  for (int i = 0; i < 5; ++i) {
    want.push_back ("w:stalled");
    want.push_back ("w:live");
  }
  want.push_back ("w:error");
  EXPECT_EQ (seen, want);
  EXPECT_EQ (state ("busy"), "live");
  EXPECT_EQ (manager_->local_stream ("busy")->pipeline_restarts, 0u);
}

} // namespace
} // namespace mirror::daemon

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  ::testing::InitGoogleTest (&argc, argv);
  return RUN_ALL_TESTS ();
}
