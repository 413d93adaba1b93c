// SPDX-License-Identifier: LGPL-2.1-or-later
#include "origin/dvr_playback.h"

#include <pthread.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>

#include <json-glib/json-glib.h>

#include "cmaf/clip_builder.h"
#include "hls/blocking_reload.h"
#include "hls/dvr_playlist.h"
#include "hls/multivariant.h"
#include "storage/uploader.h"
#include "util/file_name.h"
#include "util/main_context.h"

namespace mirror {

namespace {

constexpr int64_t kNsPerS = 1000000000;
// The longest clip.mp4: its fragments are listed in memory.
constexpr int64_t kClipMaxNs = 3600 * kNsPerS;

int64_t
now_ns ()
{
  return g_get_real_time () * 1000;
}

std::string
query_value (std::string_view query, std::string_view key)
{
  std::optional<std::string> found;
  for_each_query_param (query, [&] (std::string_view k, std::string_view value) {
    if (k == key && !found)
      found = std::string (value);
  });
  return found.value_or ("");
}

bool
has_range_key (std::string_view query)
{
  bool found = false;
  for_each_query_param (query, [&] (std::string_view key, std::string_view) {
    found = found || key == "start" || key == "end";
  });
  return found;
}

// @body from byte @first, @length bytes, without copying.
std::vector<Bytes>
slice_body (const std::vector<Bytes> &body, uint64_t first, uint64_t length)
{
  std::vector<Bytes> out;
  for (const Bytes &b : body) {
    if (length == 0)
      break;
    if (first >= b.size ()) {
      first -= b.size ();
      continue;
    }
    const uint64_t n = std::min<uint64_t> (b.size () - first, length);
    out.push_back (b.slice (size_t (first), size_t (n)));
    length -= n;
    first = 0;
  }
  return out;
}

// 200 with the whole body or 206 with the asked range (416 outside it).
OriginResponse
ranged (OriginResponse r, const OriginRequest &request)
{
  const uint64_t size = r.body_size ();
  r.headers.emplace_back ("Accept-Ranges", "bytes");
  ByteRange range;
  switch (parse_byte_range (request.range, size, &range)) {
  case ByteRangeVerdict::kWhole:
    return r;
  case ByteRangeVerdict::kUnsatisfiable: {
    OriginResponse out = OriginResponse::text (
        416, "the range " + request.range + " is outside the " + std::to_string (size) + " bytes");
    out.headers.emplace_back ("Content-Range", "bytes */" + std::to_string (size));
    return out;
  }
  case ByteRangeVerdict::kPartial:
    break;
  }
  r.status = 206;
  r.body = slice_body (r.body, range.first, range.length);
  r.headers.emplace_back ("Content-Range", "bytes " + std::to_string (range.first) + "-"
                                               + std::to_string (range.first + range.length - 1)
                                               + "/" + std::to_string (size));
  return r;
}

OriginResponse
playlist (std::string text, std::string cache_control)
{
  OriginResponse r;
  r.content_type = hls_content_type (HlsObjectKind::kMediaPlaylist);
  r.cache_control = std::move (cache_control);
  r.body.push_back (Bytes::take (std::vector<uint8_t> (text.begin (), text.end ())));
  return r;
}

std::string
describe (const DvrRange &range)
{
  std::string out = "from " + format_program_date_time (range.start_ns);
  if (range.end_ns)
    out += " to " + format_program_date_time (*range.end_ns);
  return out;
}

} // namespace

ByteRangeVerdict
parse_byte_range (const std::string &header, uint64_t size, ByteRange *out)
{
  std::string_view h = header;
  if (h.empty () || !h.starts_with ("bytes=") || h.find (',') != std::string_view::npos)
    return ByteRangeVerdict::kWhole;
  h.remove_prefix (6);
  auto dash = h.find ('-');
  if (dash == std::string_view::npos)
    return ByteRangeVerdict::kWhole;
  auto number = [] (std::string_view s, uint64_t *v) {
    auto [end, ec] = std::from_chars (s.data (), s.data () + s.size (), *v);
    return !s.empty () && ec == std::errc () && end == s.data () + s.size ();
  };
  uint64_t first = 0, last = 0;
  const std::string_view a = h.substr (0, dash), b = h.substr (dash + 1);
  if (a.empty ()) {
    // The last b bytes.
    if (!number (b, &last))
      return ByteRangeVerdict::kWhole;
    if (last == 0 || size == 0)
      return ByteRangeVerdict::kUnsatisfiable;
    out->length = std::min (last, size);
    out->first = size - out->length;
    return ByteRangeVerdict::kPartial;
  }
  if (!number (a, &first) || (!b.empty () && (!number (b, &last) || last < first)))
    return ByteRangeVerdict::kWhole;
  if (first >= size)
    return ByteRangeVerdict::kUnsatisfiable;
  if (b.empty () || last >= size)
    last = size - 1;
  out->first = first;
  out->length = last - first + 1;
  return ByteRangeVerdict::kPartial;
}

OriginResponse
dvr_error (int status, const std::string &message, const std::string &parameter)
{
  JsonBuilder *b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "error");
  json_builder_add_string_value (b, message.c_str ());
  if (!parameter.empty ()) {
    json_builder_set_member_name (b, "parameter");
    json_builder_add_string_value (b, parameter.c_str ());
  }
  json_builder_end_object (b);
  return OriginResponse::json (status, b);
}

// A few threads for what reads media (clips, S3): never the Origin's.
class DvrPlayback::Workers {
 public:
  explicit Workers (int n)
  {
    for (int i = 0; i < n; i++)
      threads_.emplace_back ([this] {
        pthread_setname_np (pthread_self (), "dvr-read");
        std::unique_lock lock (mutex_);
        for (;;) {
          wake_.wait (lock, [this] { return stopping_ || !jobs_.empty (); });
          if (stopping_)
            return;
          auto job = std::move (jobs_.front ());
          jobs_.pop_front ();
          lock.unlock ();
          job ();
          lock.lock ();
        }
      });
  }
  // Jobs not started are dropped; running ones finish.
  ~Workers ()
  {
    {
      std::lock_guard lock (mutex_);
      stopping_ = true;
      jobs_.clear ();
    }
    wake_.notify_all ();
    for (std::thread &t : threads_)
      t.join ();
  }
  void post (std::function<void ()> job)
  {
    {
      std::lock_guard lock (mutex_);
      jobs_.push_back (std::move (job));
    }
    wake_.notify_one ();
  }

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void ()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

DvrPlayback::DvrPlayback (std::shared_ptr<Recorder> recorder, std::shared_ptr<S3Client> archive,
                          MediaStore &store, GMainContext *context)
    : recorder_ (std::move (recorder)), archive_ (std::move (archive)), store_ (store),
      context_ (g_main_context_ref (context)), alive_ (std::make_shared<bool> (true))
{
  if (!recorder_)
    return;
  workers_ = std::make_unique<Workers> (archive_ ? 4 : 2);
  reader_
      = std::make_unique<DvrReader> (recorder_->options ().dir, recorder_->options ().period_ns);
  // On the recorder's thread: only post.
  listener_
      = recorder_->add_listener ([this, alive = alive_, context = context_] (
                                     const std::string &stream, const std::string &rendition) {
          invoke_on (context, [this, alive, stream, rendition] () {
            if (*alive)
              on_recorded (stream, rendition);
          });
        });
}

DvrPlayback::~DvrPlayback ()
{
  *alive_ = false;
  workers_.reset ();
  if (recorder_)
    recorder_->remove_listener (listener_);
  while (!waiters_.empty ()) {
    OriginRespond respond = std::move (waiters_.begin ()->second.respond);
    drop (waiters_.begin ());
    respond (OriginResponse::text (503, "the origin is shutting down"));
  }
  g_main_context_unref (context_);
}

bool
DvrPlayback::wants (const HlsObjectRef &ref, const OriginRequest &request)
{
  switch (ref.kind) {
  case HlsObjectKind::kDvrData:
  case HlsObjectKind::kClip:
  case HlsObjectKind::kDvrWindow:
    return true;
  case HlsObjectKind::kMultivariant:
  case HlsObjectKind::kMediaPlaylist:
    return has_range_key (request.query);
  default:
    return false;
  }
}

bool
DvrPlayback::live (const std::string &stream, const std::string &rendition)
{
  auto s = store_.find_stream (stream);
  if (!s)
    return false;
  auto p = s->progress (rendition);
  return p && !p->ended;
}

std::function<void ()>
DvrPlayback::handle (const std::string &stream, const HlsObjectRef &ref,
                     const OriginRequest &request, OriginRespond respond)
{
  if (!reader_) {
    respond (dvr_error (404, "stream " + stream
                                 + ": time-shifted playback needs the DVR recording, which is "
                                   "off (storage.dvr.enabled)"));
    return {};
  }
  if (ref.kind == HlsObjectKind::kDvrData)
    return period_file (stream, ref, request, respond);
  if (ref.kind == HlsObjectKind::kDvrWindow) {
    // A few stat calls and two index reads per rendition: off this thread.
    return off_thread ([this, stream] () { return window (stream); }, std::move (respond));
  }
  DvrRangeError error;
  auto range = parse_dvr_range (request.query, now_ns (), &error);
  if (!range) {
    respond (dvr_error (400, "stream " + stream + ": " + error.message, error.parameter));
    return {};
  }
  switch (ref.kind) {
  case HlsObjectKind::kClip:
    if (!range->requested || !range->end_ns) {
      respond (dvr_error (400, "stream " + stream + ": clip.mp4 needs start= and end=",
                          range->requested ? "end" : "start"));
      return {};
    }
    return off_thread (
        [this, stream, range = *range, request] () { return clip (stream, range, request); },
        std::move (respond));
  case HlsObjectKind::kMultivariant:
    respond (multivariant (stream, *range));
    return {};
  default:
    return media_playlist (stream, ref.rendition, *range, request, respond);
  }
}

DvrPlayback::Rendered
DvrPlayback::render_media (const std::string &stream, const std::string &rendition,
                           const DvrRange &range, bool delta)
{
  Rendered out;
  const auto segments
      = reader_->segments (stream, rendition, range.start_ns, range.end_ns.value_or (LLONG_MAX));
  if (segments.empty ()) {
    out.status = 404;
    out.text = "stream " + stream + " has no recording of rendition " + rendition + " "
               + describe (range);
    return out;
  }
  // A range is VOD once it has ended and its end is recorded (or nothing
  // more will be: the rendition is no longer live). Until then it is an
  // EVENT playlist that grows; a player that started on it while the end
  // was ahead sees the playlist become VOD, with EXT-X-ENDLIST, when it is.
  const DvrSegmentInput &last = segments.back ();
  const bool reached_end = range.end_ns && last.wallclock_ns + last.duration_ns >= *range.end_ns;
  const bool tail_complete = reached_end || !live (stream, rendition);
  const bool vod = range.end_ns && *range.end_ns <= now_ns () && tail_complete;
  const auto groups = group_dvr_segments (segments, kDvrGroupTargetNs, tail_complete);
  DvrPlaylistInput in;
  in.rendition = rendition;
  in.groups = &groups;
  in.event = !vod;
  in.delta = delta;
  out.text = render_dvr_playlist (in);
  out.next_msn = groups.size ();
  out.event = in.event;
  out.ended = !in.event || in.ended;
  out.target_s = dvr_target_duration_s (groups, kDvrGroupTargetNs);
  return out;
}

std::function<void ()>
DvrPlayback::media_playlist (const std::string &stream, const std::string &rendition,
                             const DvrRange &range, const OriginRequest &request,
                             OriginRespond &respond)
{
  ReloadDirectives d;
  std::string why;
  if (!parse_reload_directives (request.query, &d, &why)) {
    respond (dvr_error (400, "stream " + stream + ": " + why, "_HLS_msn"));
    return {};
  }
  Rendered r = render_media (stream, rendition, range, d.skip);
  if (r.status != 200) {
    respond (dvr_error (r.status, r.text));
    return {};
  }
  const std::string cache = r.ended
                                ? "public, max-age=60"
                                : "public, max-age=" + std::to_string (d.msn ? 6 * r.target_s : 1);
  if (!d.msn || r.ended || *d.msn < r.next_msn) {
    respond (playlist (std::move (r.text), cache));
    return {};
  }
  if (*d.msn > r.next_msn + 1) {
    respond (dvr_error (400,
                        "stream " + stream + ": _HLS_msn=" + std::to_string (*d.msn)
                            + " is more than one segment past the end of the playlist (the next "
                              "is "
                            + std::to_string (r.next_msn) + ")",
                        "_HLS_msn"));
    return {};
  }
  // Held until the recorder has written that segment, or three target
  // durations.
  const uint64_t id = next_waiter_++;
  Waiter &w = waiters_[id];
  w.id = id;
  w.stream = stream;
  w.rendition = rendition;
  w.query = request.query;
  w.msn = *d.msn;
  w.respond = std::move (respond);
  w.timer = timeout_add (
      unsigned (blocking_reload_timeout_ns (r.target_s) / 1000000),
      [this, id] () {
        on_timeout (id);
        return false;
      },
      context_);
  return [this, id, alive = alive_] () {
    if (!*alive)
      return;
    if (auto it = waiters_.find (id); it != waiters_.end ())
      drop (it);
  };
}

void
DvrPlayback::drop (std::map<uint64_t, Waiter>::iterator it)
{
  timeout_remove (it->second.timer, context_);
  waiters_.erase (it);
}

void
DvrPlayback::on_timeout (uint64_t id)
{
  auto it = waiters_.find (id);
  if (it == waiters_.end ())
    return;
  it->second.timer = 0; // it fired: its source goes by itself
  OriginRespond respond = std::move (it->second.respond);
  const std::string why = "stream " + it->second.stream + ": segment "
                          + std::to_string (it->second.msn) + " of the time-shifted "
                          + it->second.rendition
                          + " playlist was not recorded within three target durations";
  drop (it);
  respond (OriginResponse::text (503, why));
}

void
DvrPlayback::on_recorded (const std::string &stream, const std::string &rendition)
{
  // One render per distinct query, however many wait on it.
  std::map<std::string, Rendered> renders;
  std::vector<std::pair<OriginRespond, OriginResponse>> answers;
  for (auto it = waiters_.begin (); it != waiters_.end ();) {
    Waiter &w = it->second;
    if (w.stream != stream || w.rendition != rendition) {
      ++it;
      continue;
    }
    auto r = renders.find (w.query);
    if (r == renders.end ()) {
      DvrRangeError error;
      ReloadDirectives d;
      std::string why;
      auto range = parse_dvr_range (w.query, now_ns (), &error);
      parse_reload_directives (w.query, &d, &why);
      Rendered rendered;
      if (range)
        rendered = render_media (stream, rendition, *range, d.skip);
      else
        rendered.status = 400, rendered.text = error.message;
      r = renders.emplace (w.query, std::move (rendered)).first;
    }
    const Rendered &rendered = r->second;
    if (rendered.status == 200 && !rendered.ended && rendered.next_msn <= w.msn) {
      ++it;
      continue;
    }
    OriginResponse response
        = rendered.status == 200 ? playlist (
              rendered.text, "public, max-age=" + std::to_string (6 * rendered.target_s))
                                 : dvr_error (rendered.status, rendered.text);
    answers.emplace_back (std::move (w.respond), std::move (response));
    auto done = it++;
    drop (done);
  }
  for (auto &[respond, response] : answers)
    respond (std::move (response));
}

OriginResponse
DvrPlayback::multivariant (const std::string &stream, const DvrRange &range)
{
  std::vector<RenditionInfo> recorded;
  for (const RenditionInfo &info : reader_->renditions (stream))
    if (!reader_->segments (stream, info.name, range.start_ns, range.end_ns.value_or (LLONG_MAX))
             .empty ())
      recorded.push_back (info);
  if (recorded.empty ())
    return dvr_error (404, "stream " + stream + " has no recording " + describe (range));
  const bool vod = range.end_ns && *range.end_ns <= now_ns ();
  return playlist (render_multivariant_playlist (recorded, format_dvr_range_query (range)),
                   vod ? "public, max-age=60" : "public, max-age=1");
}

OriginResponse
DvrPlayback::window (const std::string &stream)
{
  const Recorder::Window w = Recorder::window (reader_->dir (), stream);
  if (!w.any)
    return dvr_error (404, "stream " + stream + " has nothing recorded");
  JsonBuilder *b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "stream");
  json_builder_add_string_value (b, stream.c_str ());
  json_builder_set_member_name (b, "start");
  json_builder_add_double_value (b, double (w.start_ns) / 1e9);
  json_builder_set_member_name (b, "end");
  json_builder_add_double_value (b, double (w.end_ns) / 1e9);
  json_builder_set_member_name (b, "renditions");
  json_builder_begin_array (b);
  for (const std::string &r : w.renditions)
    json_builder_add_string_value (b, r.c_str ());
  json_builder_end_array (b);
  json_builder_end_object (b);
  return OriginResponse::json (200, b);
}

std::function<void ()>
DvrPlayback::off_thread (std::function<OriginResponse ()> work, OriginRespond respond)
{
  auto cancelled = std::make_shared<bool> (false);
  workers_->post ([work = std::move (work), respond = std::move (respond), cancelled,
                   alive = alive_, context = context_] () mutable {
    auto response = std::make_shared<OriginResponse> (work ());
    invoke_on (context, [respond = std::move (respond), response, cancelled, alive] () {
      if (*alive && !*cancelled)
        respond (std::move (*response));
    });
  });
  return [cancelled] () { *cancelled = true; };
}

std::optional<Bytes>
DvrPlayback::period_bytes (const std::string &stream, const std::string &rendition,
                           int64_t period_s, uint64_t offset, uint64_t length, std::string *error)
{
  if (auto local = reader_->read (stream, rendition, period_s, offset, length, error))
    return local;
  if (!archive_)
    return std::nullopt;
  const std::string base = Recorder::rendition_dir (reader_->dir (), stream, rendition) + "/"
                           + std::to_string (period_s);
  std::string bytes;
  const S3Result r = archive_->get_object (Uploader::object_key (reader_->dir (), base + ".cmf"),
                                           offset, length, &bytes);
  if (!r.ok || bytes.size () != length) {
    *error = r.ok ? "S3 returned " + std::to_string (bytes.size ()) + " bytes of "
                        + std::to_string (length)
                  : r.message;
    return std::nullopt;
  }
  return Bytes::take (std::vector<uint8_t> (bytes.begin (), bytes.end ()));
}

std::function<void ()>
DvrPlayback::period_file (const std::string &stream, const HlsObjectRef &ref,
                          const OriginRequest &request, OriginRespond &respond)
{
  // Its size: the local file's, or what the upload marker says S3 has.
  const std::string base = Recorder::rendition_dir (reader_->dir (), stream, ref.rendition) + "/"
                           + std::to_string (ref.period_s);
  auto size = reader_->size (stream, ref.rendition, ref.period_s);
  const bool local = size.has_value ();
  if (!size && archive_)
    if (auto marker = read_upload_marker (base))
      size = marker->data_size;
  if (!size) {
    respond (dvr_error (404, "stream " + stream + " has no recorded period "
                                 + std::to_string (ref.period_s) + " of rendition "
                                 + ref.rendition));
    return {};
  }
  // A piece: those bytes, as a file of their own (Range applies within).
  uint64_t base_offset = 0;
  if (ref.length > 0) {
    if (ref.offset + ref.length > *size) {
      respond (dvr_error (404, "stream " + stream + ": period " + std::to_string (ref.period_s)
                                   + " of rendition " + ref.rendition + " has "
                                   + std::to_string (*size) + " bytes, not "
                                   + std::to_string (ref.offset + ref.length)));
      return {};
    }
    base_offset = ref.offset;
    size = ref.length;
  }
  ByteRange range{ 0, *size };
  const ByteRangeVerdict verdict = parse_byte_range (request.range, *size, &range);
  if (verdict == ByteRangeVerdict::kUnsatisfiable) {
    OriginResponse r = OriginResponse::text (416, "the range " + request.range + " is outside the "
                                                      + std::to_string (*size) + " bytes");
    r.headers.emplace_back ("Content-Range", "bytes */" + std::to_string (*size));
    respond (std::move (r));
    return {};
  }
  const std::string piece_type
      = ref.length > 0 && !ref.init_piece ? "video/iso.segment" : "video/mp4";
  range.first += base_offset;
  auto answer = [stream, size = *size, range, verdict, base_offset,
                 piece_type] (std::optional<Bytes> bytes, const std::string &error) {
    if (!bytes)
      return dvr_error (404, "stream " + stream + ": " + error);
    OriginResponse r;
    r.content_type = piece_type;
    // Recorded bytes never change; the file only grows.
    r.cache_control = "public, max-age=60";
    r.headers.emplace_back ("Accept-Ranges", "bytes");
    r.body.push_back (std::move (*bytes));
    if (verdict == ByteRangeVerdict::kPartial) {
      r.status = 206;
      const uint64_t first = range.first - base_offset;
      r.headers.emplace_back ("Content-Range", "bytes " + std::to_string (first) + "-"
                                                   + std::to_string (first + range.length - 1) + "/"
                                                   + std::to_string (size));
    }
    return r;
  };
  if (local) {
    // Mapped, not read: the front end's send touches the pages.
    std::string error;
    auto bytes
        = reader_->read (stream, ref.rendition, ref.period_s, range.first, range.length, &error);
    respond (answer (std::move (bytes), error));
    return {};
  }
  return off_thread (
      [this, stream, rendition = ref.rendition, period = ref.period_s, range, answer] () {
        std::string error;
        auto bytes = period_bytes (stream, rendition, period, range.first, range.length, &error);
        return answer (std::move (bytes), error);
      },
      std::move (respond));
}

OriginResponse
DvrPlayback::clip (const std::string &stream, const DvrRange &range, const OriginRequest &request)
{
  if (*range.end_ns - range.start_ns > kClipMaxNs)
    return dvr_error (400,
                      "stream " + stream + ": a clip is at most one hour; " + describe (range)
                          + " is longer",
                      "end");
  // The video rendition asked for (or the one with the most bits), and the
  // first audio rendition.
  const std::string wanted = query_value (request.query, "rendition");
  const RenditionInfo *video = nullptr, *audio = nullptr;
  const std::vector<RenditionInfo> infos = reader_->renditions (stream);
  for (const RenditionInfo &info : infos) {
    if (info.kind == RenditionKind::kAudio)
      audio = audio ? audio : &info;
    else if (!video || info.bandwidth > video->bandwidth)
      video = &info;
  }
  if (!wanted.empty ()) {
    auto it = std::find_if (infos.begin (), infos.end (),
                            [&] (const RenditionInfo &i) { return i.name == wanted; });
    if (it == infos.end ())
      return dvr_error (404,
                        "stream " + stream + " has no recorded rendition " + wanted.substr (0, 64),
                        "rendition");
    if (it->kind == RenditionKind::kAudio)
      video = nullptr, audio = &*it;
    else
      video = &*it;
  }

  std::vector<ClipTrack> tracks;
  for (const RenditionInfo *info : { video, audio }) {
    if (!info)
      continue;
    const auto segments = reader_->segments (stream, info->name, range.start_ns, *range.end_ns);
    // Each period's bytes once: mapped whole when local; from S3, its init
    // and the span of its segments that the clip takes.
    struct Span {
      uint64_t first = UINT64_MAX, end = 0;
      Bytes bytes;
    };
    std::map<int64_t, Span> spans;
    for (const DvrSegmentInput &s : segments) {
      Span &span = spans[s.period_s];
      span.first = std::min (span.first, s.offset);
      span.end = std::max (span.end, s.offset + s.length);
    }
    for (auto &[period, span] : spans) {
      std::string error;
      std::optional<Bytes> bytes;
      if (auto size = reader_->size (stream, info->name, period)) {
        bytes = reader_->read (stream, info->name, period, 0, *size, &error);
        span.first = 0;
      } else {
        bytes
            = period_bytes (stream, info->name, period, span.first, span.end - span.first, &error);
      }
      if (!bytes)
        return dvr_error (404, "stream " + stream + ": " + error);
      span.bytes = std::move (*bytes);
    }
    ClipTrack track;
    std::map<std::pair<int64_t, uint64_t>, Bytes> inits; // by period and offset
    for (const DvrSegmentInput &s : segments) {
      Span &span = spans[s.period_s];
      Bytes &init = inits[{ s.period_s, s.init_offset }];
      if (init.empty ()) {
        std::string error;
        auto bytes = span.first == 0 && s.init_offset + s.init_length <= span.bytes.size ()
                         ? std::optional<Bytes> (span.bytes.slice (s.init_offset, s.init_length))
                         : period_bytes (stream, info->name, s.period_s, s.init_offset,
                                         s.init_length, &error);
        if (!bytes)
          return dvr_error (404, "stream " + stream + ": " + error);
        init = std::move (*bytes);
      }
      // One clip, one init per track: it ends where the codec or size changes.
      if (!track.init.empty () && !track.init.same_content (init))
        break;
      if (track.init.empty ())
        track.init = init;
      track.segments.push_back (
          { span.bytes.slice (s.offset - span.first, s.length), s.wallclock_ns, s.duration_ns });
    }
    if (!track.segments.empty ())
      tracks.push_back (std::move (track));
    else if (info == video)
      return dvr_error (404, "stream " + stream + " has no recording of " + info->name + " "
                                 + describe (range));
  }
  if (tracks.empty ())
    return dvr_error (404, "stream " + stream + " has no recording " + describe (range));
  std::string error;
  auto built = build_clip (tracks, &error);
  if (!built)
    return dvr_error (500, "stream " + stream + ": the clip could not be made: " + error);
  OriginResponse r;
  r.content_type = "video/mp4";
  r.cache_control = "public, max-age=60";
  r.body = std::move (built->body);
  r.headers.emplace_back ("Content-Disposition",
                          "inline; filename=\"" + safe_file_name (stream) + "-"
                              + std::to_string (range.start_ns / kNsPerS) + ".mp4\"");
  return ranged (std::move (r), request);
}

} // namespace mirror
