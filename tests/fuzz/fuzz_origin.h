// SPDX-License-Identifier: LGPL-2.1-or-later
// What the front-end fuzz targets share: one live stream ("cam1", rendition
// "video": init, three segments and part 3.0) in a MediaStore, an
// OriginHandler on a GMainContext thread of its own, and a front end made
// on that thread, serving for the life of the process as mirrord's do.
#pragma once

#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include <glib.h>

#include "../unit/hls/hls_test_feed.h"
#include "fuzz_check.h"
#include "hls/media_store.h"
#include "origin/origin_handler.h"
#include "origin/quic_frontend.h"
#include "origin/tls_identity.h"

namespace mirror::fuzz {

class Origin {
 public:
  // @start runs on the context's thread with the handler and returns the
  // port its front end listens on (0: it could not).
  explicit Origin (std::function<uint16_t (OriginHandler &, GMainContext *)> start)
  {
    stream_ = media_.open_stream ("cam1", test::default_config ());
    stream_->add_rendition (test::video_info ("video"));
    stream_->set_init ("video", test::fake_init ());
    feed_ = std::make_unique<test::Feed> (*stream_, "video");
    feed_->segments (3);
    feed_->next_segment_part ();
    context_ = g_main_context_new ();
    std::promise<uint16_t> listening;
    std::thread ([this, &listening, start = std::move (start)] {
      g_main_context_push_thread_default (context_);
      handler_ = std::make_unique<OriginHandler> (media_, context_);
      listening.set_value (start (*handler_, context_));
      GMainLoop *loop = g_main_loop_new (context_, FALSE);
      g_main_loop_run (loop); // for the life of the process
    }).detach ();
    port_ = listening.get_future ().get ();
    FUZZ_CHECK (port_ != 0, "the front end does not listen");
  }

  uint16_t port () const { return port_; }
  GMainContext *context () const { return context_; }

 private:
  MediaStore media_;
  std::shared_ptr<StreamStore> stream_;
  std::unique_ptr<test::Feed> feed_;
  GMainContext *context_ = nullptr;
  std::unique_ptr<OriginHandler> handler_;
  uint16_t port_ = 0;
};

// An Origin with an HTTP/3 front end (2 s idle timeout) on a fresh
// self-signed identity, whose files are gone once it listens. *spki_pin:
// the identity's pin, for a client that checks it.
inline Origin *
quic_origin (const char *dir_template, std::string *spki_pin = nullptr)
{
  g_autofree char *dir = g_dir_make_tmp (dir_template, nullptr);
  std::string error;
  auto identity = load_or_create_tls_identity ("", "", dir, &error);
  FUZZ_CHECK (identity, error);
  if (spki_pin)
    *spki_pin = identity->spki_pin;
  auto *origin = new Origin ([identity = *identity] (OriginHandler &handler,
                                                     GMainContext *) -> uint16_t {
    // Never destroyed: its thread serves until the process is gone, and a
    // static's destructor would run at exit on the main thread while that
    // thread still reaps connections (a use-after-free the fuzzer found).
    // Reachable from this static, so not a leak to LeakSanitizer.
    static QuicFrontend *frontend = nullptr;
    QuicFrontend::Limits limits;
    limits.idle_timeout_ns = 2LL * 1000000000;
    frontend = new QuicFrontend (handler, identity, limits);
    std::string error;
    return frontend->listen ("127.0.0.1", 0, &error) ? frontend->port () : 0;
  });
  // Listening, the key in memory: its files may go.
  const std::string rm = std::string ("rm -rf '") + dir + "'";
  g_spawn_command_line_sync (rm.c_str (), nullptr, nullptr, nullptr, nullptr);
  return origin;
}

} // namespace mirror::fuzz
