// SPDX-License-Identifier: LGPL-2.1-or-later
#include "cmaf/clip_builder.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>

#include "cmaf/box_writer.h"

namespace mirror {

namespace {

struct Box {
  std::string type;
  size_t offset = 0; // of its header, in the buffer walked
  size_t size = 0;   // header included
  size_t header = 8;
};

uint32_t
get32 (const uint8_t *p)
{
  return uint32_t (p[0]) << 24 | uint32_t (p[1]) << 16 | uint32_t (p[2]) << 8 | p[3];
}

void
put32 (uint8_t *p, uint32_t v)
{
  p[0] = uint8_t (v >> 24);
  p[1] = uint8_t (v >> 16);
  p[2] = uint8_t (v >> 8);
  p[3] = uint8_t (v);
}

// The boxes in [begin, end) of data; false on a box that does not fit.
bool
walk (const uint8_t *data, size_t begin, size_t end, std::vector<Box> *out)
{
  out->clear ();
  size_t at = begin;
  while (at < end) {
    if (end - at < 8)
      return false;
    Box b;
    b.offset = at;
    b.size = get32 (data + at);
    b.type.assign (reinterpret_cast<const char *> (data + at + 4), 4);
    if (b.size == 1) {
      if (end - at < 16)
        return false;
      uint64_t large = uint64_t (get32 (data + at + 8)) << 32 | get32 (data + at + 12);
      b.size = size_t (large);
      b.header = 16;
    } else if (b.size == 0) {
      b.size = end - at;
    }
    if (b.size < b.header || b.size > end - at)
      return false;
    out->push_back (b);
    at += b.size;
  }
  return true;
}

const Box *
find (const std::vector<Box> &boxes, const char *type)
{
  for (const Box &b : boxes)
    if (b.type == type)
      return &b;
  return nullptr;
}

// A track's init, taken apart.
struct TrackInit {
  std::vector<uint8_t> ftyp, mvhd, trak, trex;
  uint32_t timescale_mvhd = 0;
  uint32_t timescale = 0; // the track's media (mdhd)
};

// The full box @type's version byte and body start, inside @parent's
// children [begin, end) of @data; nullptr when absent.
const Box *
child (const uint8_t *data, size_t begin, size_t end, const char *type, std::vector<Box> *scratch)
{
  if (!walk (data, begin, end, scratch))
    return nullptr;
  return find (*scratch, type);
}

bool
parse_init (const Bytes &init, TrackInit *out, std::string *error)
{
  const uint8_t *d = init.data ();
  std::vector<Box> top, moov, mvex;
  if (!walk (d, 0, init.size (), &top) || !find (top, "moov")) {
    *error = "an init segment without a moov";
    return false;
  }
  const Box &m = *find (top, "moov");
  if (const Box *f = find (top, "ftyp"))
    out->ftyp.assign (d + f->offset, d + f->offset + f->size);
  if (!walk (d, m.offset + m.header, m.offset + m.size, &moov)) {
    *error = "a damaged moov";
    return false;
  }
  const Box *mvhd = find (moov, "mvhd"), *trak = find (moov, "trak"), *mv = find (moov, "mvex");
  if (!mvhd || !trak || !mv || !walk (d, mv->offset + mv->header, mv->offset + mv->size, &mvex)
      || !find (mvex, "trex")) {
    *error = "an init segment without mvhd, trak or mvex/trex";
    return false;
  }
  const Box *trex = find (mvex, "trex");
  out->mvhd.assign (d + mvhd->offset, d + mvhd->offset + mvhd->size);
  out->trak.assign (d + trak->offset, d + trak->offset + trak->size);
  out->trex.assign (d + trex->offset, d + trex->offset + trex->size);
  // Box header, version and flags, then creation and modification times
  // (4 or 8 bytes each), then the timescale.
  const bool v1 = out->mvhd.size () > 8 && out->mvhd[8] == 1;
  const size_t ts = 12 + (v1 ? 16 : 8);
  if (out->mvhd.size () < ts + 4 || out->trex.size () < 16) {
    *error = "a short mvhd or trex";
    return false;
  }
  out->timescale_mvhd = get32 (out->mvhd.data () + ts);
  std::vector<Box> scratch;
  const uint8_t *t = out->trak.data ();
  const Box *mdia = child (t, 8, out->trak.size (), "mdia", &scratch);
  const Box *mdhd
      = mdia ? child (t, mdia->offset + 8, mdia->offset + mdia->size, "mdhd", &scratch) : nullptr;
  const size_t mts = mdhd ? mdhd->offset + 12 + (t[mdhd->offset + 8] == 1 ? 16 : 8) : 0;
  if (!mdhd || mts + 4 > mdhd->offset + mdhd->size || get32 (t + mts) == 0) {
    *error = "a trak without a media timescale (mdia/mdhd)";
    return false;
  }
  out->timescale = get32 (t + mts);
  return true;
}

// tkhd's track_ID inside a copied trak.
bool
set_track_id (std::vector<uint8_t> &trak, uint32_t id)
{
  std::vector<Box> inside;
  if (!walk (trak.data (), 8, trak.size (), &inside))
    return false;
  const Box *tkhd = find (inside, "tkhd");
  if (!tkhd)
    return false;
  const bool v1 = trak[tkhd->offset + 8] == 1;
  const size_t at = tkhd->offset + 12 + (v1 ? 16 : 8);
  if (at + 4 > tkhd->offset + tkhd->size)
    return false;
  put32 (trak.data () + at, id);
  return true;
}

// One fragment to place: a copied, patched moof and its mdat's bytes.
struct Piece {
  int64_t wallclock_ns;
  size_t track;
  size_t tfdt_at = 0; // of the decode time in moof
  bool tfdt_v1 = false;
  uint64_t decode_time = 0;
  std::vector<uint8_t> moof;
  Bytes mdat;
};

// moof (patched for @track_id) and mdat pairs of one recorded segment.
bool
split_segment (const ClipSegment &s, size_t track, uint32_t track_id, std::vector<Piece> *out,
               std::string *error)
{
  std::vector<Box> boxes;
  const uint8_t *d = s.bytes.data ();
  if (!walk (d, 0, s.bytes.size (), &boxes)) {
    *error = "a damaged recorded segment";
    return false;
  }
  for (size_t i = 0; i < boxes.size (); i++) {
    if (boxes[i].type != "moof")
      continue;
    if (i + 1 >= boxes.size () || boxes[i + 1].type != "mdat") {
      *error = "a moof without its mdat";
      return false;
    }
    if (boxes[i].size < 24 || std::memcmp (d + boxes[i].offset + 12, "mfhd", 4) != 0) {
      *error = "a moof that does not start with its mfhd";
      return false;
    }
    Piece p;
    p.wallclock_ns = s.wallclock_ns;
    p.track = track;
    p.moof.assign (d + boxes[i].offset, d + boxes[i].offset + boxes[i].size);
    std::vector<Box> inside, traf;
    if (!walk (p.moof.data (), 8, p.moof.size (), &inside) || !find (inside, "traf")) {
      *error = "a moof without a traf";
      return false;
    }
    const Box &t = *find (inside, "traf");
    if (!walk (p.moof.data (), t.offset + 8, t.offset + t.size, &traf) || !find (traf, "tfhd")
        || find (traf, "tfhd")->size < 16) {
      *error = "a traf without a tfhd";
      return false;
    }
    put32 (p.moof.data () + find (traf, "tfhd")->offset + 12, track_id);
    const Box *tfdt = find (traf, "tfdt");
    if (!tfdt || tfdt->size < 16) {
      *error = "a traf without a tfdt";
      return false;
    }
    p.tfdt_v1 = p.moof[tfdt->offset + 8] == 1;
    p.tfdt_at = tfdt->offset + 12;
    if (p.tfdt_v1 && tfdt->size < 20) {
      *error = "a short tfdt";
      return false;
    }
    const uint8_t *v = p.moof.data () + p.tfdt_at;
    p.decode_time = p.tfdt_v1 ? uint64_t (get32 (v)) << 32 | get32 (v + 4) : get32 (v);
    p.mdat = s.bytes.slice (boxes[i + 1].offset, boxes[i + 1].size);
    out->push_back (std::move (p));
  }
  return true;
}

} // namespace

std::optional<Clip>
build_clip (const std::vector<ClipTrack> &tracks, std::string *error)
{
  if (tracks.empty () || tracks.front ().segments.empty ()) {
    *error = "nothing to put in the clip";
    return std::nullopt;
  }
  std::vector<TrackInit> inits (tracks.size ());
  for (size_t i = 0; i < tracks.size (); i++)
    if (!parse_init (tracks[i].init, &inits[i], error))
      return std::nullopt;

  Clip clip;
  const ClipTrack &lead = tracks.front ();
  const int64_t start = lead.segments.front ().wallclock_ns;
  const int64_t end = lead.segments.back ().wallclock_ns + lead.segments.back ().duration_ns;
  clip.duration_ns = end - start;

  // The moov: the lead's mvhd with the clip's duration and the next track
  // ID, every trak renumbered from 1, and mvex with mehd and every trex.
  cmaf::BoxWriter w;
  if (!inits[0].ftyp.empty ())
    w.bytes (inits[0].ftyp);
  auto moov = w.begin_box ("moov");
  std::vector<uint8_t> mvhd = inits[0].mvhd;
  const bool v1 = mvhd[8] == 1;
  const uint64_t duration = uint64_t (clip.duration_ns) * inits[0].timescale_mvhd / 1000000000ULL;
  const size_t duration_at = 12 + (v1 ? 16 : 8) + 4;
  if (v1) {
    put32 (mvhd.data () + duration_at, uint32_t (duration >> 32));
    put32 (mvhd.data () + duration_at + 4, uint32_t (duration));
  } else {
    put32 (mvhd.data () + duration_at, uint32_t (std::min<uint64_t> (duration, 0xffffffffULL)));
  }
  put32 (mvhd.data () + mvhd.size () - 4, uint32_t (tracks.size () + 1));
  w.bytes (mvhd);
  for (size_t i = 0; i < tracks.size (); i++) {
    std::vector<uint8_t> trak = inits[i].trak;
    if (!set_track_id (trak, uint32_t (i + 1))) {
      *error = "a trak without a tkhd";
      return std::nullopt;
    }
    w.bytes (trak);
  }
  auto mvex = w.begin_box ("mvex");
  auto mehd = w.begin_full_box ("mehd", 1, 0);
  w.u64 (duration);
  w.end_box (mehd);
  for (size_t i = 0; i < tracks.size (); i++) {
    std::vector<uint8_t> trex = inits[i].trex;
    put32 (trex.data () + 12, uint32_t (i + 1));
    w.bytes (trex);
  }
  w.end_box (mvex);
  w.end_box (moov);
  std::vector<uint8_t> head = w.take ();

  // The fragments, each track's in its order, all in time order.
  std::vector<Piece> pieces;
  for (size_t i = 0; i < tracks.size (); i++) {
    for (const ClipSegment &s : tracks[i].segments) {
      // Other tracks start with the lead and end with it.
      if (i > 0 && (s.wallclock_ns + s.duration_ns <= start || s.wallclock_ns >= end))
        continue;
      if (!split_segment (s, i, uint32_t (i + 1), &pieces, error))
        return std::nullopt;
    }
  }
  // Every track's decode times start where the lead's first fragment does:
  // the clip's time zero. What another track has before it goes.
  uint64_t lead_first = UINT64_MAX;
  for (const Piece &p : pieces)
    if (p.track == 0)
      lead_first = std::min (lead_first, p.decode_time);
  const double zero_s = double (lead_first) / inits[0].timescale;
  std::vector<Piece> kept;
  for (Piece &p : pieces) {
    const uint64_t zero = uint64_t (zero_s * inits[p.track].timescale + 0.5);
    if (p.decode_time < zero)
      continue;
    const uint64_t t = p.decode_time - zero;
    uint8_t *v = p.moof.data () + p.tfdt_at;
    if (p.tfdt_v1) {
      put32 (v, uint32_t (t >> 32));
      put32 (v + 4, uint32_t (t));
    } else {
      put32 (v, uint32_t (t));
    }
    kept.push_back (std::move (p));
  }
  pieces = std::move (kept);
  std::stable_sort (pieces.begin (), pieces.end (), [] (const Piece &a, const Piece &b) {
    return a.wallclock_ns != b.wallclock_ns ? a.wallclock_ns < b.wallclock_ns : a.track < b.track;
  });

  clip.size = head.size ();
  clip.body.push_back (Bytes::take (std::move (head)));
  uint32_t sequence = 1;
  for (Piece &p : pieces) {
    put32 (p.moof.data () + 20, sequence++); // mfhd is the moof's first box
    clip.size += p.moof.size () + p.mdat.size ();
    clip.body.push_back (Bytes::take (std::move (p.moof)));
    clip.body.push_back (std::move (p.mdat));
  }
  return clip;
}

} // namespace mirror
