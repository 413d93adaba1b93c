// SPDX-License-Identifier: LGPL-2.1-or-later
#include "hls/stream_store.h"

#include <algorithm>
#include <chrono>

#include <glib.h>

#include "hls/playlist.h"
#include "hls/url_layout.h"
#include "util/file_name.h"

namespace mirror {

StreamNumbering
numbering_from_clock (int64_t clock_ns, int64_t segment_target_ns)
{
  StreamNumbering n;
  if (clock_ns <= 0)
    return n;
  // From 2026-01-01, so the numbers stay below 2^31 (some players do 32-bit
  // arithmetic on them) until 2043 with 500 ms segments. Segments are never much shorter
  // than their target, so the old stream's numbers stay behind a clock that
  // counts two per target.
  const int64_t since = std::max<int64_t> (0, clock_ns - kNumberingEpochNs);
  n.first_msn = uint64_t (since / std::max<int64_t> (1, segment_target_ns / 2));
  // Not the discontinuity sequence: hls.js keeps per-sequence state in an
  // array it walks from 0 on every playlist update, so a clock there would
  // cost it seconds per update. It comes from StreamConfig::numbering_dir.
  n.first_discontinuity_sequence = 0;
  n.starts_with_discontinuity = true;
  return n;
}

struct StreamStore::Rendition {
  Rendition (const RenditionInfo &i, int64_t playlist_length_ns, const StreamNumbering &n)
      : info (i), window (playlist_length_ns, n.first_msn, n.first_discontinuity_sequence,
                          n.starts_with_discontinuity)
  {}
  RenditionInfo info;
  // PART-TARGET of its playlist: what its publisher announced until the
  // first part, fixed from then on (or grown by a part that exceeds it).
  int64_t part_target_units = 0;
  RenditionWindow window;
  PartWaitList waiters;
  // Audio until the stream's start is settled (StreamStore::add_part).
  std::vector<PartInput> held;
  int64_t held_ns = 0;
  uint64_t parts_before_start = 0;
  // The newest segment handed to the recorder.
  std::optional<uint64_t> recorded_msn;
  struct Cached {
    uint64_t version = 0;
    std::shared_ptr<const std::string> text;
  } cached[2]; // full, delta
};

namespace {

// The file under @dir that keeps stream @id's next discontinuity sequence.
std::string
ledger_path (const std::string &dir, const std::string &id)
{
  return dir + "/" + safe_file_name (id);
}

StreamNumbering
numbering_for (const std::string &id, const StreamConfig &config)
{
  StreamNumbering n = numbering_from_clock (
      config.numbering_clock_ns >= 0 ? config.numbering_clock_ns
                                     : std::chrono::duration_cast<std::chrono::nanoseconds> (
                                           std::chrono::system_clock::now ().time_since_epoch ())
                                           .count (),
      config.segment_target_ns);
  gchar *text = nullptr;
  if (!config.numbering_dir.empty ()
      && g_file_get_contents (ledger_path (config.numbering_dir, id).c_str (), &text, nullptr,
                              nullptr)) {
    n.first_discontinuity_sequence = g_ascii_strtoull (text, nullptr, 10);
    g_free (text);
  }
  if (config.shared_timeline)
    n.first_discontinuity_sequence = std::max (
        n.first_discontinuity_sequence, config.shared_timeline->next_discontinuity_sequence (id));
  return n;
}

} // namespace

StreamStore::StreamStore (std::string id, StreamConfig config)
    : id_ (std::move (id)), config_ (config), numbering_ (numbering_for (id_, config_)),
      ledger_ (numbering_.first_discontinuity_sequence)
{
  timing_.part_target_units = std::max<int64_t> (1, hls_units (config_.part_target_ns));
  timing_.target_duration_s = target_duration_for (config_.segment_target_ns);
}

StreamStore::~StreamStore ()
{
  close ();
}

StreamStore::Rendition *
StreamStore::find (const std::string &name)
{
  auto it = renditions_.find (name);
  return it == renditions_.end () ? nullptr : it->second.get ();
}

bool
StreamStore::add_rendition (const RenditionInfo &info)
{
  if (!is_valid_rendition_name (info.name) || info.name == "index")
    return false;
  std::lock_guard<std::mutex> lock (mutex_);
  Rendition *r = find (info.name);
  if (r) {
    r->info = info;
  } else {
    auto added = std::make_unique<Rendition> (info, config_.playlist_length_ns, numbering_);
    r = added.get ();
    renditions_.emplace (info.name, std::move (added));
    order_.push_back (info.name);
  }
  if (!r->window.has_parts ())
    r->part_target_units = info.part_target_ns > 0
                               ? std::max<int64_t> (1, hls_units (info.part_target_ns))
                               : timing_.part_target_units;
  ++version_;
  return true;
}

bool
StreamStore::set_init (const std::string &rendition, Bytes init)
{
  std::lock_guard<std::mutex> lock (mutex_);
  Rendition *r = find (rendition);
  if (!r)
    return false;
  r->window.set_init (std::move (init));
  ++version_;
  return true;
}

void
StreamStore::update_timing (const RenditionWindow &w)
{
  // mirrorcmafmux's segments never outgrow the announced TARGETDURATION
  // (PartCutter cuts one short of a keyframe if it must); a publisher's
  // longer one would break the rule on EXTINF, so the target grows, never
  // shrinks, and the window counts it (RenditionCounters::long_segments).
  timing_.target_duration_s
      = std::max (timing_.target_duration_s, hls_rounded_seconds (w.max_segment_units ()));
}

StreamTiming
StreamStore::timing_of (const Rendition &r) const
{
  StreamTiming t = timing_;
  t.part_target_units = r.part_target_units;
  return t;
}

std::optional<PartPosition>
StreamStore::publish_locked (Rendition *r, const PartInput &part, Published *published)
{
  // A part longer than PART-TARGET would put the playlist out of spec:
  // the target grows (counted), before the segment the part may complete
  // is checked against 85% of it. mirrorcmafmux's parts never do this.
  if (hls_units (part.duration_ns) > r->part_target_units) {
    r->part_target_units = hls_units (part.duration_ns);
    r->window.count_long_part ();
  }
  auto pos = r->window.add_part (part, timing_of (*r));
  if (!pos)
    return std::nullopt;
  // The renditions' discontinuity sequences stay matched (RFC 8216bis
  // 6.2.2; hls.js pairs audio with video by it): a discontinuity in one
  // (a new codec on the video alone) marks the next segment of every
  // rendition that has had fewer.
  const uint64_t discontinuities = r->window.counters ().discontinuities;
  for (auto &[name, other] : renditions_)
    if (other.get () != r && other->window.counters ().discontinuities < discontinuities)
      other->window.mark_discontinuity ();
  update_timing (r->window);
  ++version_;
  published->next_sequence = std::max (published->next_sequence,
                                       numbering_.first_discontinuity_sequence + discontinuities);
  // Up to the part, or past its segment's end when it completed one.
  // Renditions are never removed while the store lives.
  published->wakes.emplace_back (&r->waiters, r->window.reached ());
  collect_completed_locked (r, published);
  return pos;
}

void
StreamStore::collect_completed_locked (Rendition *r, Published *published)
{
  if (!config_.recorder)
    return;
  const auto &segments = r->window.segments ();
  size_t first = segments.size ();
  while (first > 0) {
    const SegmentRecord &s = segments[first - 1];
    if (s.complete && r->recorded_msn && s.msn <= *r->recorded_msn)
      break;
    first--;
  }
  for (size_t i = first; i < segments.size (); i++) {
    const SegmentRecord &s = segments[i];
    if (!s.complete || s.parts.empty ())
      break;
    RecordedSegment out;
    out.stream = id_;
    out.rendition = r->info.name;
    out.msn = s.msn;
    out.wallclock_ns = s.wallclock_ns.value_or (0);
    out.duration_ns = s.duration_ns;
    out.independent = s.parts.front ().independent;
    out.info = r->info;
    out.discontinuity = s.discontinuity;
    out.init_generation = s.init_generation;
    out.init = r->window.init (s.init_generation).value_or (Bytes{});
    for (const PartRecord &p : s.parts)
      out.parts.push_back (p.bytes);
    r->recorded_msn = s.msn;
    published->recorded.push_back (std::move (out));
  }
}

void
StreamStore::settle_start_locked (std::optional<int64_t> video_start, Published *published)
{
  start_settled_ = true;
  for (const std::string &name : order_) {
    Rendition *r = find (name);
    if (r->held.empty ())
      continue;
    // Parts without a clock of their own follow the one before.
    std::optional<int64_t> at;
    for (const PartInput &part : r->held) {
      if (part.wallclock_ns)
        at = part.wallclock_ns;
      if (video_start && at && *at + part.duration_ns <= *video_start) {
        r->parts_before_start++;
      } else if (part.wallclock_ns || !at) {
        publish_locked (r, part, published);
      } else {
        PartInput dated = part; // it may now start the rendition's first segment
        dated.wallclock_ns = at;
        publish_locked (r, dated, published);
      }
      if (at)
        *at += part.duration_ns;
    }
    if (r->parts_before_start > 0)
      g_message ("stream %s: %s starts with the video: %" G_GUINT64_FORMAT
                 " earlier parts (%.2f s) left out",
                 id_.c_str (), name.c_str (), r->parts_before_start,
                 (double)r->held_ns / kNsPerSecond);
    r->held.clear ();
  }
}

void
StreamStore::wake (const Published &published)
{
  {
    WakeBatch batch;
    for (const auto &[waiters, reached] : published.wakes)
      waiters->wake (reached);
  }
  record_discontinuities (published.next_sequence);
  for (const RecordedSegment &segment : published.recorded)
    config_.recorder->submit (segment);
}

std::optional<PartPosition>
StreamStore::add_part (const std::string &rendition, const PartInput &part)
{
  Published published;
  std::optional<PartPosition> pos;
  {
    std::lock_guard<std::mutex> lock (mutex_);
    Rendition *r = find (rendition);
    if (!r || closed_)
      return std::nullopt;
    if (!start_settled_) {
      if (r->info.kind == RenditionKind::kAudio) {
        r->held.push_back (part);
        r->held_ns += part.duration_ns;
        const bool video_known
            = std::any_of (renditions_.begin (), renditions_.end (), [] (const auto &entry) {
                return entry.second->info.kind == RenditionKind::kVideo;
              });
        if (r->held_ns < (video_known ? kVideoWaitNs : kAudioAloneNs))
          return PartPosition{};
        settle_start_locked (std::nullopt, &published);
        pos = r->window.last_position ();
      } else if (r->window.has_init () && part.duration_ns > 0 && !part.bytes.empty ()) {
        settle_start_locked (part.wallclock_ns, &published);
      }
    }
    if (!pos)
      pos = publish_locked (r, part, &published);
  }
  wake (published);
  return pos;
}

void
StreamStore::record_discontinuities (uint64_t next)
{
  // Only when a discontinuity was added (rare: a reconnect, a restart, a
  // new init), written whole or not at all. Without a ledger, called for
  // every part, it takes no lock.
  if (config_.numbering_dir.empty () && !config_.shared_timeline)
    return;
  std::lock_guard<std::mutex> lock (ledger_mutex_);
  if (next <= ledger_)
    return;
  ledger_ = next;
  if (config_.shared_timeline)
    config_.shared_timeline->record (id_, next);
  if (config_.numbering_dir.empty ())
    return;
  g_mkdir_with_parents (config_.numbering_dir.c_str (), 0700);
  const std::string text = std::to_string (next) + "\n";
  GError *error = nullptr;
  if (!g_file_set_contents (ledger_path (config_.numbering_dir, id_).c_str (), text.c_str (),
                            (gssize)text.size (), &error)) {
    g_warning ("stream %s: cannot keep its discontinuity sequence (%s): a restart may reuse it",
               id_.c_str (), error->message);
    g_clear_error (&error);
  }
}

void
StreamStore::mark_discontinuity (const std::string &rendition)
{
  std::lock_guard<std::mutex> lock (mutex_);
  if (Rendition *r = find (rendition)) {
    r->window.mark_discontinuity ();
    ++version_;
  }
}

void
StreamStore::finish (const std::string &rendition)
{
  PartWaitList *waiters;
  Published published;
  {
    std::lock_guard<std::mutex> lock (mutex_);
    Rendition *r = find (rendition);
    if (!r)
      return;
    // Audio that ends before any video came: what it held is all there is.
    if (!start_settled_ && !r->held.empty ())
      settle_start_locked (std::nullopt, &published);
    r->window.finish (timing_of (*r));
    collect_completed_locked (r, &published);
    update_timing (r->window);
    ++version_;
    waiters = &r->waiters;
  }
  WakeBatch batch;
  wake (published);
  waiters->wake_all ();
}

void
StreamStore::close ()
{
  std::vector<PartWaitList *> all;
  {
    std::lock_guard<std::mutex> lock (mutex_);
    closed_ = true;
    for (auto &[name, r] : renditions_)
      all.push_back (&r->waiters);
  }
  for (PartWaitList *w : all)
    w->wake_all ();
}

std::shared_ptr<const std::string>
StreamStore::media_playlist (const std::string &rendition, bool delta)
{
  std::lock_guard<std::mutex> lock (mutex_);
  Rendition *r = find (rendition);
  if (!r)
    return nullptr;
  auto &cached = r->cached[delta ? 1 : 0];
  if (cached.text && cached.version == version_)
    return cached.text;

  MediaPlaylistInput in;
  in.rendition = rendition;
  in.window = &r->window;
  in.timing = timing_of (*r);
  in.delta = delta;
  for (const std::string &name : order_) {
    const Rendition &sibling = *renditions_.at (name);
    if (name != rendition && sibling.window.has_parts ())
      in.reports.push_back ({ name, sibling.window.last_position () });
  }
  cached.text = std::make_shared<const std::string> (render_media_playlist (in));
  cached.version = version_;
  ++renders_;
  return cached.text;
}

std::shared_ptr<const std::string>
StreamStore::multivariant_playlist ()
{
  std::lock_guard<std::mutex> lock (mutex_);
  if (multivariant_ && multivariant_version_ == version_)
    return multivariant_;
  std::vector<RenditionInfo> infos;
  for (const std::string &name : order_)
    infos.push_back (renditions_.at (name)->info);
  multivariant_ = std::make_shared<const std::string> (render_multivariant_playlist (infos));
  multivariant_version_ = version_;
  return multivariant_;
}

std::optional<Bytes>
StreamStore::init (const std::string &rendition, std::optional<uint32_t> generation)
{
  std::lock_guard<std::mutex> lock (mutex_);
  Rendition *r = find (rendition);
  return r ? r->window.init (generation) : std::nullopt;
}

std::optional<std::vector<Bytes>>
StreamStore::segment (const std::string &rendition, uint64_t msn)
{
  std::lock_guard<std::mutex> lock (mutex_);
  Rendition *r = find (rendition);
  return r ? r->window.segment (msn) : std::nullopt;
}

PartAvailability
StreamStore::fetch_part (const std::string &rendition, PartPosition pos, Bytes *out,
                         PartWaitList::WakeFn on_ready, uint64_t *wait_id)
{
  std::lock_guard<std::mutex> lock (mutex_);
  Rendition *r = find (rendition);
  if (!r)
    return PartAvailability::kMissing;
  if (auto bytes = r->window.part (pos, timing_)) {
    *out = std::move (*bytes);
    return PartAvailability::kReady;
  }
  // Only the hinted part may be asked for early; the RFC has it held until
  // all of it can go at once, which is when it is published here whole.
  auto hint = r->window.preload_hint ();
  if (!on_ready || closed_ || !hint || *hint != pos)
    return PartAvailability::kMissing;
  uint64_t id = r->waiters.add (pos, std::move (on_ready));
  if (wait_id)
    *wait_id = id;
  return PartAvailability::kHeld;
}

RenditionProgress
StreamStore::progress_locked (const Rendition &r) const
{
  RenditionProgress p;
  p.has_parts = r.window.has_parts ();
  p.last = r.window.last_position ();
  p.reached = r.window.reached ();
  p.ended = r.window.ended () || closed_;
  p.part_target_ns = timing_of (r).part_target_ns ();
  return p;
}

std::optional<StreamStore::Hold>
StreamStore::hold_playlist (const std::string &rendition, const ReloadDirectives &d,
                            PartWaitList::WakeFn on_ready)
{
  std::lock_guard<std::mutex> lock (mutex_);
  Rendition *r = find (rendition);
  if (!r)
    return std::nullopt;
  Hold hold;
  hold.decision = decide_reload (d, progress_locked (*r));
  if (hold.decision.verdict == ReloadVerdict::kHold)
    hold.wait_id = r->waiters.add (hold.decision.hold_until, std::move (on_ready));
  return hold;
}

bool
StreamStore::cancel_wait (const std::string &rendition, uint64_t wait_id)
{
  PartWaitList *waiters;
  {
    std::lock_guard<std::mutex> lock (mutex_);
    Rendition *r = find (rendition);
    if (!r)
      return false;
    waiters = &r->waiters;
  }
  return waiters->cancel (wait_id);
}

std::optional<RenditionProgress>
StreamStore::progress (const std::string &rendition)
{
  std::lock_guard<std::mutex> lock (mutex_);
  Rendition *r = find (rendition);
  if (!r)
    return std::nullopt;
  return progress_locked (*r);
}

StreamTiming
StreamStore::timing ()
{
  std::lock_guard<std::mutex> lock (mutex_);
  return timing_;
}

std::vector<std::string>
StreamStore::rendition_names ()
{
  std::lock_guard<std::mutex> lock (mutex_);
  return order_;
}

std::vector<RenditionInfo>
StreamStore::renditions ()
{
  std::lock_guard<std::mutex> lock (mutex_);
  std::vector<RenditionInfo> out;
  for (const std::string &name : order_)
    if (const Rendition *r = find (name))
      out.push_back (r->info);
  return out;
}

std::optional<RenditionCounters>
StreamStore::counters (const std::string &rendition)
{
  std::lock_guard<std::mutex> lock (mutex_);
  Rendition *r = find (rendition);
  if (!r)
    return std::nullopt;
  RenditionCounters c = r->window.counters ();
  c.parts_before_start = r->parts_before_start;
  return c;
}

std::optional<int64_t>
StreamStore::live_edge_wallclock_ns ()
{
  std::lock_guard<std::mutex> lock (mutex_);
  std::optional<int64_t> oldest;
  if (closed_)
    return oldest;
  for (const auto &[name, r] : renditions_) {
    if (r->window.ended ())
      continue;
    if (auto at = r->window.newest_part_wallclock_ns ())
      if (!oldest || *at < *oldest)
        oldest = at;
  }
  return oldest;
}

uint64_t
StreamStore::render_count ()
{
  std::lock_guard<std::mutex> lock (mutex_);
  return renders_;
}

} // namespace mirror
