// SPDX-License-Identifier: LGPL-2.1-or-later
// Time-shifted playback on a stream's own paths, from the DVR recording:
//
//   index.m3u8?start=T1[&end=T2]        multivariant playlist of what is recorded
//   {rendition}.m3u8?start=T1[&end=T2]  VOD playlist (the range has ended) or a
//                                       growing EVENT one (blocking reload,
//                                       delta updates)
//   {rendition}/dvr{period}.mp4         a period file, in byte ranges
//   clip.mp4?start=T1&end=T2            one MP4 of the range (clip_builder.h)
//   dvr.json                            the recorded window (the player's scrubber)
//
// These work whether the stream is live or not: a recording outlives its
// stream and mirrord. A malformed, reversed, future or over-long range is
// 400 with a JSON message naming the parameter; a range with nothing
// recorded is 404. Runs on the Origin's thread, like OriginHandler, which
// routes requests here; held EVENT reloads wake when the recorder has
// written more of their rendition.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <glib.h>

#include "hls/dvr_range.h"
#include "hls/media_store.h"
#include "hls/url_layout.h"
#include "origin/origin_handler.h"
#include "storage/dvr_reader.h"
#include "storage/recorder.h"
#include "storage/s3_client.h"

namespace mirror {

// A Range header's single byte range over a body of @size bytes.
struct ByteRange {
  uint64_t first = 0;
  uint64_t length = 0;
};
enum class ByteRangeVerdict { kWhole, kPartial, kUnsatisfiable };
// kWhole also for a header that is not a single bytes range (RFC 9110
// lets a server ignore what it does not do).
ByteRangeVerdict parse_byte_range (const std::string &header, uint64_t size, ByteRange *out);

class DvrPlayback {
 public:
  // @archive: S3, for period data no longer on local disk (read through:
  // the bytes come from this server, ranges and all); none: local only.
  DvrPlayback (std::shared_ptr<Recorder> recorder, std::shared_ptr<S3Client> archive,
               MediaStore &store, GMainContext *context);
  ~DvrPlayback ();
  DvrPlayback (const DvrPlayback &) = delete;
  DvrPlayback &operator= (const DvrPlayback &) = delete;

  // Whether @request is time-shifted playback (a range query on a playlist,
  // a period file or a clip): then handle () answers it.
  static bool wants (const HlsObjectRef &ref, const OriginRequest &request);
  // As OriginHandler::handle: answers now or later; the cancel function
  // for a held request.
  std::function<void ()> handle (const std::string &stream, const HlsObjectRef &ref,
                                 const OriginRequest &request, OriginRespond respond);

 private:
  struct Waiter {
    uint64_t id;
    std::string stream, rendition, query;
    uint64_t msn;
    OriginRespond respond;
    guint timer = 0; // timeout_add's, on the Origin's context
  };
  // A rendered playlist and where it stands.
  struct Rendered {
    int status = 200;
    std::string text;      // the playlist, or the error's message
    uint64_t next_msn = 0; // how many segments it lists (skipped included)
    bool event = false;
    bool ended = false;
    int64_t target_s = 1;
  };
  Rendered render_media (const std::string &stream, const std::string &rendition,
                         const DvrRange &range, bool delta);
  OriginResponse multivariant (const std::string &stream, const DvrRange &range);
  OriginResponse window (const std::string &stream);
  // Answers now from local disk, or later from S3 (the cancel function).
  std::function<void ()> period_file (const std::string &stream, const HlsObjectRef &ref,
                                      const OriginRequest &request, OriginRespond &respond);
  // Built on a worker (it reads media, maybe from S3).
  OriginResponse clip (const std::string &stream, const DvrRange &range,
                       const OriginRequest &request);
  // A period's bytes, from local disk or S3 (workers only).
  std::optional<Bytes> period_bytes (const std::string &stream, const std::string &rendition,
                                     int64_t period_s, uint64_t offset, uint64_t length,
                                     std::string *error);
  // Runs @work on a worker and answers with its response on the Origin's
  // thread, unless the request was cancelled first.
  std::function<void ()> off_thread (std::function<OriginResponse ()> work, OriginRespond respond);
  std::function<void ()> media_playlist (const std::string &stream, const std::string &rendition,
                                         const DvrRange &range, const OriginRequest &request,
                                         OriginRespond &respond);
  void on_recorded (const std::string &stream, const std::string &rendition);
  void on_timeout (uint64_t id);
  void drop (std::map<uint64_t, Waiter>::iterator it);
  bool live (const std::string &stream, const std::string &rendition);

  std::shared_ptr<Recorder> recorder_;
  std::shared_ptr<S3Client> archive_;
  std::unique_ptr<DvrReader> reader_;
  class Workers;
  std::unique_ptr<Workers> workers_;
  MediaStore &store_;
  GMainContext *context_;
  std::shared_ptr<bool> alive_;
  uint64_t listener_ = 0;
  std::map<uint64_t, Waiter> waiters_;
  uint64_t next_waiter_ = 1;
};

// A 400 or 404 of time-shifted playback: {"error": ..., "parameter": ...}.
OriginResponse dvr_error (int status, const std::string &message,
                          const std::string &parameter = "");

} // namespace mirror
