// SPDX-License-Identifier: LGPL-2.1-or-later
#include "hls/rendition_window.h"

#include <algorithm>
#include <chrono>

namespace mirror {

uint32_t
RenditionWindow::set_init (Bytes init)
{
  if (has_init_ && inits_.back ().second.same_content (init))
    return init_generation_;
  if (has_init_) {
    ++init_generation_;
    // Players must reset their decoder for the new init: say so.
    pending_discontinuity_ = true;
  }
  has_init_ = true;
  inits_.emplace_back (init_generation_, std::move (init));
  // A finished rendition that gets media again is live again.
  ended_ = false;
  return init_generation_;
}

std::optional<PartPosition>
RenditionWindow::add_part (const PartInput &in, const StreamTiming &timing)
{
  if (!has_init_) {
    counters_.parts_without_init++;
    return std::nullopt;
  }
  if (in.duration_ns <= 0 || in.bytes.empty ()) {
    counters_.empty_parts++;
    return std::nullopt;
  }
  if (ended_) {
    // Media after EOS: the feed came back. The old tail is complete already.
    ended_ = false;
    pending_discontinuity_ = true;
  }

  bool first = segments_.empty ();
  bool new_segment = first || segments_.back ().complete || in.part_index == 0 || in.segment_start
                     || in.msn != last_input_msn_;
  if (!first && in.msn < last_input_msn_)
    pending_discontinuity_ = true; // the muxer restarted its numbering

  if (new_segment) {
    if (!first && !segments_.back ().complete)
      complete_back (timing);
    SegmentRecord seg;
    seg.msn = first ? first_msn_ + in.msn : segments_.back ().msn + 1;
    seg.start_ns = first ? 0 : segments_.back ().end_ns ();
    seg.discontinuity = first ? starts_with_discontinuity_ : pending_discontinuity_;
    seg.init_generation = init_generation_;
    seg.wallclock_ns = in.wallclock_ns;
    if (!seg.wallclock_ns && !first && segments_.back ().wallclock_ns)
      seg.wallclock_ns = *segments_.back ().wallclock_ns + segments_.back ().duration_ns;
    if (!seg.wallclock_ns)
      seg.wallclock_ns = std::chrono::duration_cast<std::chrono::nanoseconds> (
                             std::chrono::system_clock::now ().time_since_epoch ())
                             .count ();
    if (seg.discontinuity)
      counters_.discontinuities++;
    counters_.keyless_segments += in.independent ? 0 : 1;
    pending_discontinuity_ = false;
    segments_.push_back (std::move (seg));
  }
  last_input_msn_ = in.msn;

  SegmentRecord &seg = segments_.back ();
  seg.parts.push_back (PartRecord{ in.bytes, in.duration_ns, in.independent });
  seg.duration_ns += in.duration_ns;
  max_part_units_ = std::max (max_part_units_, hls_units (in.duration_ns));
  counters_.parts++;
  counters_.shortened_parts += in.shortened ? 1 : 0;
  if (in.last_in_segment)
    complete_back (timing);

  trim ();
  return last_position ();
}

void
RenditionWindow::complete_back (const StreamTiming &timing)
{
  SegmentRecord &seg = segments_.back ();
  seg.complete = true;
  max_segment_units_ = std::max (max_segment_units_, hls_units (seg.duration_ns));
  if (hls_rounded_seconds (hls_units (seg.duration_ns)) > timing.target_duration_s)
    counters_.long_segments++;
  // Players reject short parts in the middle of a segment; they cannot be
  // fixed here without re-muxing, so they are served and counted.
  int64_t min_units = timing.part_target_units * 85 / 100;
  for (size_t i = 0; i + 1 < seg.parts.size (); ++i) {
    const PartRecord &p = seg.parts[i];
    if (!p.independent && hls_units (p.duration_ns) < min_units)
      counters_.short_parts++;
  }
}

void
RenditionWindow::finish (const StreamTiming &timing)
{
  if (!segments_.empty () && !segments_.back ().complete)
    complete_back (timing);
  ended_ = true;
}

std::optional<int64_t>
RenditionWindow::newest_part_wallclock_ns () const
{
  if (segments_.empty () || !segments_.back ().wallclock_ns)
    return std::nullopt;
  const SegmentRecord &seg = segments_.back ();
  int64_t at = *seg.wallclock_ns;
  for (size_t i = 0; i + 1 < seg.parts.size (); ++i)
    at += seg.parts[i].duration_ns;
  return at;
}

PartPosition
RenditionWindow::last_position () const
{
  if (segments_.empty ())
    return {};
  const SegmentRecord &seg = segments_.back ();
  return { seg.msn, uint32_t (seg.parts.size () - 1) };
}

PartPosition
RenditionWindow::reached () const
{
  if (segments_.empty () || !segments_.back ().complete)
    return last_position ();
  return { segments_.back ().msn, kSegmentComplete };
}

std::optional<PartPosition>
RenditionWindow::preload_hint () const
{
  if (ended_ || segments_.empty ())
    return std::nullopt;
  const SegmentRecord &seg = segments_.back ();
  if (seg.complete)
    return PartPosition{ seg.msn + 1, 0 };
  return PartPosition{ seg.msn, uint32_t (seg.parts.size ()) };
}

size_t
RenditionWindow::first_listed_index () const
{
  // Newest complete segments while they add up to less than playlist-length:
  // exactly 20 segments of 500 ms for 10 s, whatever their jitter.
  size_t i = segments_.size ();
  if (i > 0 && !segments_.back ().complete)
    --i; // the segment in progress is always listed
  int64_t total = 0;
  while (i > 0 && total < playlist_length_ns_) {
    --i;
    total += segments_[i].duration_ns;
  }
  return i;
}

uint64_t
RenditionWindow::discontinuity_sequence () const
{
  uint64_t seq = dropped_discontinuities_;
  size_t first = first_listed_index ();
  for (size_t i = 0; i < first; ++i)
    seq += segments_[i].discontinuity ? 1 : 0;
  return seq;
}

void
RenditionWindow::trim ()
{
  // Segments that left the playlist stay fetchable for one more
  // playlist-length, so a player that loaded the last playlist still can.
  size_t first = first_listed_index ();
  int64_t keep_from
      = first < segments_.size () ? segments_[first].start_ns - playlist_length_ns_ : 0;
  while (!segments_.empty () && segments_.front ().complete
         && segments_.front ().end_ns () <= keep_from) {
    dropped_discontinuities_ += segments_.front ().discontinuity ? 1 : 0;
    segments_.pop_front ();
  }
  uint32_t oldest_gen = segments_.empty () ? init_generation_ : segments_.front ().init_generation;
  while (inits_.size () > 1 && inits_.front ().first < oldest_gen)
    inits_.pop_front ();
}

const SegmentRecord *
RenditionWindow::find_segment (uint64_t msn) const
{
  if (segments_.empty () || msn < segments_.front ().msn || msn > segments_.back ().msn)
    return nullptr;
  return &segments_[msn - segments_.front ().msn];
}

std::optional<Bytes>
RenditionWindow::init (std::optional<uint32_t> generation) const
{
  if (inits_.empty ())
    return std::nullopt;
  if (!generation)
    return inits_.back ().second;
  for (const auto &[gen, bytes] : inits_)
    if (gen == *generation)
      return bytes;
  return std::nullopt;
}

std::optional<std::vector<Bytes>>
RenditionWindow::segment (uint64_t msn) const
{
  const SegmentRecord *seg = find_segment (msn);
  if (!seg || !seg->complete)
    return std::nullopt;
  // A CMAF segment is its chunks back to back (the first begins with styp).
  std::vector<Bytes> chunks;
  chunks.reserve (seg->parts.size ());
  for (const PartRecord &p : seg->parts)
    chunks.push_back (p.bytes);
  return chunks;
}

std::optional<Bytes>
RenditionWindow::part (PartPosition pos, const StreamTiming &timing) const
{
  const SegmentRecord *seg = find_segment (pos.msn);
  if (!seg || pos.part >= seg->parts.size ())
    return std::nullopt;
  int64_t horizon = edge_ns () - 6 * timing.target_duration_s * kNsPerSecond;
  if (seg->complete && seg->end_ns () <= horizon)
    return std::nullopt;
  return seg->parts[pos.part].bytes;
}

} // namespace mirror
