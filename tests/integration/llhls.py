# SPDX-License-Identifier: LGPL-2.1-or-later
"""LL-HLS playlists as a player sees them: a parser for media and
multivariant playlists, and the rules players enforce (RFC 8216bis, Apple's
Low-Latency HLS), each breach returned as one sentence.

Standard library only. This is the one place the rules live: the C++ unit
tests run it too (tests/unit/hls/playlist_rules.cpp). Besides each
playlist's own rules, reload_violations checks what only shows across
reloads. Where a rule
needs to know which segment a part belongs to, it reads Mirror's URL layout
(seg{msn}.m4s, part{msn}.{part}.m4s); other names skip only those checks.

    python3 llhls.py FILE-or-URL...   prints the violations of each playlist
"""

import datetime
import math
import re
import sys

EPS = 1e-9
SEG_RE = re.compile(r"(?:^|/)seg(\d+)\.m4s$")
PART_RE = re.compile(r"(?:^|/)part(\d+)\.(\d+)\.m4s$")


def parse_attrs(text):
    """'A=1,B="x,y",C=YES' -> {'A': '1', 'B': 'x,y', 'C': 'YES'}."""
    out = {}
    i, n = 0, len(text)
    while i < n:
        eq = text.find("=", i)
        if eq < 0:
            break
        key = text[i:eq].strip()
        if eq + 1 < n and text[eq + 1] == '"':
            end = text.find('"', eq + 2)
            if end < 0:
                end = n
            value = text[eq + 2:end]
            i = text.find(",", end)
            i = n if i < 0 else i + 1
        else:
            end = text.find(",", eq)
            if end < 0:
                end = n
            value = text[eq + 1:end]
            i = end + 1
        out[key] = value
    return out


def _num(s, default=None):
    try:
        return float(s)
    except (TypeError, ValueError):
        return default


def parse_pdt(value):
    """EXT-X-PROGRAM-DATE-TIME value -> POSIX seconds (float), or None."""
    try:
        v = value.strip()
        if v.endswith("Z") or v.endswith("z"):
            v = v[:-1] + "+00:00"
        dt = datetime.datetime.fromisoformat(v)
        if dt.tzinfo is None:
            return None
        return dt.timestamp()
    except ValueError:
        return None


def part_position(uri):
    """(msn, part) from Mirror's part{msn}.{part}.m4s, else None."""
    m = PART_RE.search(uri or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def segment_number(uri):
    m = SEG_RE.search(uri or "")
    return int(m.group(1)) if m else None


class Part:
    def __init__(self, attrs):
        self.attrs = attrs
        self.duration = _num(attrs.get("DURATION"))
        self.uri = attrs.get("URI", "")
        self.independent = attrs.get("INDEPENDENT") == "YES"
        self.gap = attrs.get("GAP") == "YES"
        # Filled by the parser: the segment this part belongs to and its place.
        self.msn = None
        self.index = None
        self.start_offset = 0.0  # seconds from its segment's start

    @property
    def position(self):
        return (self.msn, self.index)

    def __repr__(self):
        return f"Part({self.uri}, {self.duration})"


class Segment:
    """A media segment; complete ones have an EXTINF, the one in progress
    (at most one, at the end) has only parts."""

    def __init__(self, msn):
        self.msn = msn
        self.duration = None
        self.uri = None
        self.parts = []
        self.pdt = None         # POSIX seconds of its first sample, if tagged
        self.pdt_text = None
        self.map_uri = None     # EXT-X-MAP in scope
        self.discontinuity = False
        self.complete = False

    def __repr__(self):
        return f"Segment({self.msn}, {self.uri}, {self.duration}, parts={len(self.parts)})"


class MediaPlaylist:
    def __init__(self, text):
        self.text = text
        self.lines = [l.strip() for l in text.splitlines() if l.strip()]
        self.version = None
        self.target_duration = None
        self.target_duration_text = None
        self.part_target = None
        self.server_control = {}
        self.has_server_control = False
        self.media_sequence = 0
        self.has_media_sequence = False
        self.discontinuity_sequence = 0
        self.skipped = 0
        self.has_skip = False
        self.segments = []          # complete and in-progress, in order
        self.preload_hints = []     # attr dicts
        self.rendition_reports = []  # attr dicts
        self.maps = []
        self.ended = False
        self.pdt_count = 0
        self.problems = []          # syntax trouble found while parsing
        self._parse()

    # The segment in progress (parts only), or None.
    @property
    def open_segment(self):
        if self.segments and not self.segments[-1].complete:
            return self.segments[-1]
        return None

    @property
    def complete_segments(self):
        return [s for s in self.segments if s.complete]

    @property
    def parts(self):
        return [p for s in self.segments for p in s.parts]

    @property
    def last_part(self):
        ps = self.parts
        return ps[-1] if ps else None

    def last_position(self):
        """(msn, part) of the newest listed part, or of the newest segment's
        last part when no parts are listed; None for an empty playlist."""
        for s in reversed(self.segments):
            if s.parts:
                return (s.msn, len(s.parts) - 1)
            return (s.msn, -1)
        return None

    def next_part_position(self):
        """Where the next part will be, by the playlist's own structure."""
        if not self.segments:
            return (self.media_sequence + self.skipped, 0)
        last = self.segments[-1]
        if last.complete:
            return (last.msn + 1, 0)
        return (last.msn, len(last.parts))

    def preload_hint_position(self):
        """(msn, part) of the single TYPE=PART preload hint, when parseable."""
        hints = [h for h in self.preload_hints if h.get("TYPE") == "PART"]
        return part_position(hints[0].get("URI")) if len(hints) == 1 else None

    def segment(self, msn):
        for s in self.segments:
            if s.msn == msn:
                return s
        return None

    def part_pdt(self, part):
        """Wall-clock (POSIX s) of the part's first sample, from its segment's
        PROGRAM-DATE-TIME plus the durations of the parts before it."""
        seg = self.segment(part.msn)
        if seg is None or seg.pdt is None:
            return None
        return seg.pdt + part.start_offset

    def _parse(self):
        seq_set = False
        current = None
        pending_pdt = None
        pending_disc = False
        map_uri = None
        next_msn = None

        def open_segment():
            nonlocal current, pending_pdt, pending_disc, next_msn
            if next_msn is None:
                next_msn = self.media_sequence + self.skipped
            current = Segment(next_msn)
            next_msn += 1
            current.map_uri = map_uri
            if pending_pdt is not None:
                current.pdt_text = pending_pdt
                current.pdt = parse_pdt(pending_pdt)
                if current.pdt is None:
                    self.problems.append(f"EXT-X-PROGRAM-DATE-TIME:{pending_pdt} is not a date-time with a zone")
            current.discontinuity = pending_disc
            pending_pdt, pending_disc = None, False
            self.segments.append(current)

        expect_uri = False
        for line in self.lines:
            if expect_uri and not line.startswith("#"):
                current.uri = line
                current.complete = True
                current = None
                expect_uri = False
                continue
            if expect_uri and line.startswith("#EXT-X-PART:"):
                self.problems.append("EXT-X-PART between an EXTINF and its URI")
            tag, _, value = line.partition(":")
            if tag == "#EXT-X-VERSION":
                self.version = int(value) if value.isdigit() else None
                if self.version is None:
                    self.problems.append(f"EXT-X-VERSION:{value} is not an integer")
            elif tag == "#EXT-X-TARGETDURATION":
                self.target_duration_text = value
                self.target_duration = _num(value)
            elif tag == "#EXT-X-PART-INF":
                self.part_target = _num(parse_attrs(value).get("PART-TARGET"))
            elif tag == "#EXT-X-SERVER-CONTROL":
                self.has_server_control = True
                self.server_control = parse_attrs(value)
            elif tag == "#EXT-X-MEDIA-SEQUENCE":
                if self.segments or seq_set:
                    self.problems.append("EXT-X-MEDIA-SEQUENCE after the first segment or twice")
                self.has_media_sequence = True
                self.media_sequence = int(value) if value.isdigit() else 0
                seq_set = True
            elif tag == "#EXT-X-DISCONTINUITY-SEQUENCE":
                self.discontinuity_sequence = int(value) if value.isdigit() else 0
            elif tag == "#EXT-X-SKIP":
                self.has_skip = True
                sk = parse_attrs(value).get("SKIPPED-SEGMENTS", "")
                if not sk.isdigit():
                    self.problems.append("EXT-X-SKIP without an integer SKIPPED-SEGMENTS")
                if self.segments:
                    self.problems.append("EXT-X-SKIP after the first segment")
                self.skipped = int(sk) if sk.isdigit() else 0
            elif tag == "#EXT-X-MAP":
                map_uri = parse_attrs(value).get("URI")
                self.maps.append(map_uri)
                if current is not None and current.parts:
                    self.problems.append("EXT-X-MAP inside a segment's parts")
                elif current is not None:
                    current.map_uri = map_uri
            elif tag == "#EXT-X-PROGRAM-DATE-TIME":
                self.pdt_count += 1
                if current is not None and not current.parts:
                    current.pdt_text = value
                    current.pdt = parse_pdt(value)
                    if current.pdt is None:
                        self.problems.append(f"EXT-X-PROGRAM-DATE-TIME:{value} is not a date-time with a zone")
                elif current is not None:
                    self.problems.append("EXT-X-PROGRAM-DATE-TIME between a segment's parts")
                else:
                    pending_pdt = value
            elif tag == "#EXT-X-DISCONTINUITY":
                if current is not None and current.parts:
                    self.problems.append("EXT-X-DISCONTINUITY between a segment's parts")
                pending_disc = True
            elif tag == "#EXT-X-PART":
                if current is None:
                    open_segment()
                p = Part(parse_attrs(value))
                if p.duration is None:
                    self.problems.append(f"EXT-X-PART without DURATION: {line}")
                    p.duration = 0.0
                if not p.uri:
                    self.problems.append(f"EXT-X-PART without URI: {line}")
                p.msn = current.msn
                p.index = len(current.parts)
                p.start_offset = sum(q.duration for q in current.parts)
                current.parts.append(p)
            elif tag == "#EXTINF":
                if current is None:
                    open_segment()
                d = _num(value.split(",", 1)[0])
                if d is None:
                    self.problems.append(f"EXTINF without a duration: {line}")
                    d = 0.0
                current.duration = d
                expect_uri = True
            elif tag == "#EXT-X-PRELOAD-HINT":
                self.preload_hints.append(parse_attrs(value))
            elif tag == "#EXT-X-RENDITION-REPORT":
                self.rendition_reports.append(parse_attrs(value))
            elif tag == "#EXT-X-ENDLIST":
                self.ended = True
        if expect_uri:
            self.problems.append("EXTINF without a URI line")
            current.complete = True


def parse_media(text):
    return text if isinstance(text, MediaPlaylist) else MediaPlaylist(text)


def pdt_drift(playlist):
    """(msn, seconds) for each segment whose PROGRAM-DATE-TIME is not where
    the one before it plus its EXTINF puts it (a discontinuity excepted):
    where PDTs follow arrival jitter, or the timeline has a hole."""
    out = []
    dated = [s for s in playlist.segments if s.pdt is not None and s.duration is not None]
    for a, b in zip(dated, dated[1:]):
        if b.discontinuity or b.msn != a.msn + 1:
            continue
        out.append((b.msn, round(b.pdt - (a.pdt + a.duration), 4)))
    return out


def media_violations(playlist):
    """The rules one media playlist text must pass; [] when it does."""
    pl = parse_media(playlist)
    bad = list(pl.problems)
    if not pl.lines or pl.lines[0] != "#EXTM3U":
        bad.append("does not start with #EXTM3U")
    if any(l.startswith("#EXT-X-STREAM-INF") for l in pl.lines):
        bad.append("media playlist carries EXT-X-STREAM-INF")

    td = pl.target_duration
    if td is None or td <= 0 or td != math.floor(td) or not (pl.target_duration_text or "").isdigit():
        bad.append(f"TARGETDURATION missing or not an integer ({pl.target_duration_text!r})")
        td = None
    pt = pl.part_target
    if pt is None or pt <= 0:
        if pl.parts or not pl.ended:
            bad.append("PART-TARGET missing (no EXT-X-PART-INF)")
        pt = None
    if pt is not None and td is not None and pt > td + EPS:
        bad.append(f"PART-TARGET {pt} above TARGETDURATION {td}")

    # Versions: EXT-X-MAP (without I-FRAMES-ONLY) needs 6, EXT-X-SKIP needs 9.
    if pl.version is None:
        bad.append("EXT-X-VERSION missing")
    else:
        if pl.has_skip and pl.version < 9:
            bad.append(f"EXT-X-SKIP needs EXT-X-VERSION 9, playlist says {pl.version}")
        if pl.maps and pl.version < 6:
            bad.append(f"EXT-X-MAP needs EXT-X-VERSION 6, playlist says {pl.version}")

    sc = pl.server_control
    if not pl.has_server_control:
        bad.append("EXT-X-SERVER-CONTROL missing")
    else:
        if sc.get("CAN-BLOCK-RELOAD") != "YES":
            bad.append("no CAN-BLOCK-RELOAD=YES")
        if pt is not None:
            phb = _num(sc.get("PART-HOLD-BACK"))
            if phb is None:
                bad.append("PART-HOLD-BACK missing though PART-INF is present")
            elif phb < 3 * pt - EPS:
                bad.append(f"PART-HOLD-BACK {phb} under 3 x PART-TARGET ({pt})")
        if td is not None:
            hb = _num(sc.get("HOLD-BACK"))
            if "HOLD-BACK" in sc and (hb is None or hb < 3 * td - EPS):
                bad.append(f"HOLD-BACK {sc.get('HOLD-BACK')} under 3 x TARGETDURATION ({td:g})")
            if "CAN-SKIP-UNTIL" in sc:
                csu = _num(sc.get("CAN-SKIP-UNTIL"))
                if csu is None or csu < 6 * td - EPS:
                    bad.append(f"CAN-SKIP-UNTIL {sc.get('CAN-SKIP-UNTIL')} under 6 x TARGETDURATION ({td:g})")
    if pl.has_skip and "CAN-SKIP-UNTIL" not in sc:
        bad.append("EXT-X-SKIP in a playlist that does not advertise CAN-SKIP-UNTIL")

    if not pl.maps:
        bad.append("EXT-X-MAP missing")
    elif pl.segments and pl.segments[0].map_uri is None:
        bad.append("first listed segment has no EXT-X-MAP before it")
    if pl.pdt_count == 0:
        bad.append("EXT-X-PROGRAM-DATE-TIME missing")
    elif pl.segments and pl.segments[0].pdt is None:
        bad.append("first listed segment has no EXT-X-PROGRAM-DATE-TIME")

    # Segments and their parts.
    for i, seg in enumerate(pl.segments):
        if not seg.complete and i != len(pl.segments) - 1:
            bad.append(f"parts of segment {seg.msn} not closed by an EXTINF")
        if seg.complete:
            if td is not None and math.floor(seg.duration + 0.5) > td:
                bad.append(f"EXTINF {seg.duration} of {seg.uri} rounds above TARGETDURATION {td:g}")
            num = segment_number(seg.uri)
            if num is not None and num != seg.msn:
                bad.append(f"{seg.uri} is at media sequence number {seg.msn}")
        for k, p in enumerate(seg.parts):
            pos = part_position(p.uri)
            if pos is not None and pos[0] != seg.msn:
                bad.append(f"{p.uri} listed before {seg.uri or f'the EXTINF of segment {seg.msn}'}")
            elif pos is not None and pos[1] != k:
                bad.append(f"{p.uri} is part {k} of segment {seg.msn}")
            if pt is not None and p.duration > pt + EPS:
                bad.append(f"{p.uri} DURATION {p.duration} longer than PART-TARGET {pt}")
            # The newest part of the segment in progress may turn out to be
            # its last: neither server nor player can tell yet.
            last_of_segment = k == len(seg.parts) - 1
            if pt is not None and not p.independent and not last_of_segment \
                    and p.duration < 0.85 * pt - EPS:
                bad.append(f"{p.uri} DURATION {p.duration} under 85% of PART-TARGET {pt}")
        if seg.complete and seg.parts:
            total = sum(p.duration for p in seg.parts)
            if abs(total - seg.duration) > 0.0001 * len(seg.parts) + EPS:
                bad.append(f"parts of {seg.uri} add up to {total:.5f}, its EXTINF says {seg.duration}")

    # Parts for (at least) the last three target durations, no more: a
    # complete segment has parts exactly when it ends within 3 x TD of the edge.
    if td is not None and not pl.ended and pt is not None:
        open_seg = pl.open_segment
        from_end = sum(p.duration for p in open_seg.parts) if open_seg else 0.0
        for seg in reversed(pl.complete_segments):
            # Printed durations round to 10 us: leave the boundary itself alone.
            surely_within = from_end < 3 * td - 0.001
            surely_outside = from_end > 3 * td + 0.001
            if surely_within and not seg.parts:
                bad.append(f"{seg.uri} ends {from_end:.3f} s before the edge but its parts are not listed")
            if surely_outside and seg.parts:
                bad.append(f"{seg.uri} ends {from_end:.3f} s before the edge but its parts are still listed")
            from_end += seg.duration
        if not pl.parts:
            bad.append("no EXT-X-PART at all in a live low-latency playlist")

    # Exactly one preload hint of TYPE=PART, naming the next part.
    part_hints = [h for h in pl.preload_hints if h.get("TYPE") == "PART"]
    for h in pl.preload_hints:
        if h.get("TYPE") not in ("PART", "MAP"):
            bad.append(f"EXT-X-PRELOAD-HINT with TYPE={h.get('TYPE')}")
        if not h.get("URI"):
            bad.append("EXT-X-PRELOAD-HINT without URI")
    if not pl.ended:
        if len(part_hints) != 1:
            bad.append(f"{len(part_hints)} EXT-X-PRELOAD-HINT TYPE=PART tags, want exactly one")
        else:
            uri = part_hints[0].get("URI", "")
            if any(p.uri == uri for p in pl.parts):
                bad.append(f"EXT-X-PRELOAD-HINT {uri} names a part already listed")
            pos = part_position(uri)
            if pos is not None and pl.parts and part_position(pl.parts[-1].uri) is not None:
                want = pl.next_part_position()
                if pos != want:
                    bad.append(f"EXT-X-PRELOAD-HINT {uri} is not the next part "
                               f"(want part{want[0]}.{want[1]})")
    elif part_hints:
        bad.append("EXT-X-PRELOAD-HINT in an ended playlist")

    for r in pl.rendition_reports:
        if not r.get("URI"):
            bad.append("EXT-X-RENDITION-REPORT without URI")
        if "LAST-MSN" in r and not r["LAST-MSN"].isdigit():
            bad.append(f"EXT-X-RENDITION-REPORT LAST-MSN={r['LAST-MSN']}")
        if "LAST-PART" in r and not r["LAST-PART"].isdigit():
            bad.append(f"EXT-X-RENDITION-REPORT LAST-PART={r['LAST-PART']}")
    return bad


def reload_violations(previous, current):
    """Rules between two reloads of the same media playlist (current newer)."""
    a, b = parse_media(previous), parse_media(current)
    bad = []
    if b.media_sequence < a.media_sequence:
        bad.append(f"EXT-X-MEDIA-SEQUENCE went back from {a.media_sequence} to {b.media_sequence}")
    if b.discontinuity_sequence < a.discontinuity_sequence:
        bad.append(f"EXT-X-DISCONTINUITY-SEQUENCE went back from {a.discontinuity_sequence} "
                   f"to {b.discontinuity_sequence}")
    pa, pb = a.last_position(), b.last_position()
    if pa and pb and pb < pa:
        bad.append(f"the live edge went back from {pa} to {pb}")
    if a.ended and not b.ended:
        bad.append("EXT-X-ENDLIST went away")
    # A segment keeps its URI and duration; a part its URI and duration.
    for sb in b.segments:
        sa = a.segment(sb.msn)
        if sa is None:
            continue
        if sa.complete and sb.complete:
            if sa.uri != sb.uri:
                bad.append(f"segment {sb.msn} was {sa.uri}, now {sb.uri}")
            if abs(sa.duration - sb.duration) > 1e-6:
                bad.append(f"segment {sb.msn} was {sa.duration} s, now {sb.duration} s")
        if sa.complete and not sb.complete:
            bad.append(f"segment {sb.msn} was complete, now it is not")
        for pa_, pb_ in zip(sa.parts, sb.parts):
            if pa_.uri != pb_.uri or abs(pa_.duration - pb_.duration) > 1e-6:
                bad.append(f"part {pb_.position} was {pa_.uri} {pa_.duration}, now {pb_.uri} {pb_.duration}")
        if sa.pdt is not None and sb.pdt is not None and abs(sa.pdt - sb.pdt) > 0.0015:
            bad.append(f"segment {sb.msn} PROGRAM-DATE-TIME was {sa.pdt_text}, now {sb.pdt_text}")
    # Limits are announced once (RFC 8216bis: TARGETDURATION MUST NOT change;
    # players keep the first PART-TARGET, and PART-HOLD-BACK follows it).
    if a.target_duration and b.target_duration and b.target_duration != a.target_duration:
        bad.append(f"TARGETDURATION changed from {a.target_duration:g} to {b.target_duration:g}")
    if a.part_target and b.part_target and abs(b.part_target - a.part_target) > EPS:
        bad.append(f"PART-TARGET changed from {a.part_target} to {b.part_target}")
    return bad


class Multivariant:
    def __init__(self, text):
        self.text = text
        self.lines = [l.strip() for l in text.splitlines() if l.strip()]
        self.version = None
        self.variants = []   # attr dicts with 'URI' added
        self.media = []      # EXT-X-MEDIA attr dicts
        self.independent_segments = False
        self.problems = []
        pending = None
        for line in self.lines:
            if pending is not None and not line.startswith("#"):
                pending["URI"] = line
                self.variants.append(pending)
                pending = None
                continue
            tag, _, value = line.partition(":")
            if tag == "#EXT-X-VERSION":
                self.version = int(value) if value.isdigit() else None
            elif tag == "#EXT-X-STREAM-INF":
                if pending is not None:
                    self.problems.append("EXT-X-STREAM-INF without a URI line")
                pending = parse_attrs(value)
            elif tag == "#EXT-X-MEDIA":
                self.media.append(parse_attrs(value))
            elif tag == "#EXT-X-INDEPENDENT-SEGMENTS":
                self.independent_segments = True
        if pending is not None:
            self.problems.append("EXT-X-STREAM-INF without a URI line")

    def audio_group(self, group_id):
        return [m for m in self.media if m.get("TYPE") == "AUDIO" and m.get("GROUP-ID") == group_id]


def parse_multivariant(text):
    return text if isinstance(text, Multivariant) else Multivariant(text)


def multivariant_violations(playlist):
    mv = parse_multivariant(playlist)
    bad = list(mv.problems)
    if not mv.lines or mv.lines[0] != "#EXTM3U":
        bad.append("does not start with #EXTM3U")
    for l in mv.lines:
        if l.startswith(("#EXTINF", "#EXT-X-TARGETDURATION", "#EXT-X-PART:", "#EXT-X-MEDIA-SEQUENCE")):
            bad.append(f"multivariant playlist carries a media playlist tag: {l}")
            break
    if not mv.variants:
        bad.append("no EXT-X-STREAM-INF")
    for v in mv.variants:
        if not v.get("BANDWIDTH", "").isdigit():
            bad.append(f"variant {v.get('URI')} without an integer BANDWIDTH")
        if not v.get("CODECS"):
            bad.append(f"variant {v.get('URI')} without CODECS")
        res = v.get("RESOLUTION")
        if res is not None and not re.fullmatch(r"\d+x\d+", res):
            bad.append(f"variant {v.get('URI')} RESOLUTION={res}")
        if "AUDIO" in v and not mv.audio_group(v["AUDIO"]):
            bad.append(f"variant {v.get('URI')} names AUDIO group {v['AUDIO']} that has no EXT-X-MEDIA")
    groups = {}
    for m in mv.media:
        for key in ("TYPE", "GROUP-ID", "NAME"):
            if not m.get(key):
                bad.append(f"EXT-X-MEDIA without {key}: {m}")
        if m.get("TYPE") in ("AUDIO", "VIDEO", "SUBTITLES") and not m.get("URI"):
            bad.append(f"EXT-X-MEDIA {m.get('NAME')} without URI")
        groups.setdefault((m.get("TYPE"), m.get("GROUP-ID")), []).append(m)
    for key, ms in groups.items():
        defaults = [m for m in ms if m.get("DEFAULT") == "YES"]
        if len(defaults) > 1:
            bad.append(f"group {key[1]} has {len(defaults)} DEFAULT=YES renditions")
    return bad


BYTERANGE_RE = re.compile(r"^(\d+)@(\d+)$")


def dvr_violations(playlist):
    """The rules of a time-shifted (VOD or EVENT) media playlist: no parts,
    a PDT on every segment that follows the one before unless a
    discontinuity says otherwise, explicit offsets on any byte range,
    EXT-X-ENDLIST on VOD, blocking reload and delta-update limits on
    EVENT."""
    pl = parse_media(playlist)
    bad = list(pl.problems)
    if not pl.lines or pl.lines[0] != "#EXTM3U":
        bad.append("does not start with #EXTM3U")
    types = [l.partition(":")[2] for l in pl.lines if l.startswith("#EXT-X-PLAYLIST-TYPE:")]
    if len(types) != 1 or types[0] not in ("VOD", "EVENT"):
        bad.append(f"EXT-X-PLAYLIST-TYPE must appear once as VOD or EVENT: {types}")
    kind = types[0] if types else None
    if kind == "VOD" and not pl.ended:
        bad.append("a VOD playlist without EXT-X-ENDLIST")
    if kind == "VOD" and (pl.has_skip or pl.has_server_control):
        bad.append("a VOD playlist with EXT-X-SKIP or EXT-X-SERVER-CONTROL")
    if pl.parts or pl.preload_hints:
        bad.append("EXT-X-PART or EXT-X-PRELOAD-HINT in a time-shifted playlist")
    td = pl.target_duration
    if td is None or td <= 0 or not (pl.target_duration_text or "").isdigit():
        bad.append(f"TARGETDURATION missing or not an integer ({pl.target_duration_text!r})")
        td = None
    if pl.version is None or pl.version < 6:
        bad.append(f"EXT-X-VERSION {pl.version}: EXT-X-MAP needs 6 (byte ranges 4)")
    if not pl.has_media_sequence:
        bad.append("EXT-X-MEDIA-SEQUENCE missing")
    if pl.has_skip and "CAN-SKIP-UNTIL" not in pl.server_control:
        bad.append("EXT-X-SKIP in a playlist that does not advertise CAN-SKIP-UNTIL")
    if kind == "EVENT":
        sc = pl.server_control
        if sc.get("CAN-BLOCK-RELOAD") != "YES":
            bad.append("an EVENT playlist without CAN-BLOCK-RELOAD=YES")
        csu = _num(sc.get("CAN-SKIP-UNTIL"))
        if td is not None and (csu is None or csu < 6 * td - EPS):
            bad.append(f"CAN-SKIP-UNTIL {sc.get('CAN-SKIP-UNTIL')} under 6 x TARGETDURATION ({td:g})")
    if not pl.maps:
        bad.append("EXT-X-MAP missing")
    elif pl.segments and pl.segments[0].map_uri is None:
        bad.append("first listed segment has no EXT-X-MAP before it")
    for seg in pl.segments:
        if not seg.complete:
            bad.append(f"segment {seg.msn} without a URI")
        if seg.pdt is None:
            bad.append(f"segment {seg.msn} ({seg.uri}) has no EXT-X-PROGRAM-DATE-TIME")
        if td is not None and seg.duration is not None and math.floor(seg.duration + 0.5) > td:
            bad.append(f"EXTINF {seg.duration} of segment {seg.msn} rounds above TARGETDURATION {td:g}")
    # Byte ranges, where used, with explicit offsets (one without continues
    # the previous range of the same resource, which a player that starts
    # or seeks mid-playlist cannot know).
    for line in pl.lines:
        tag, _, value = line.partition(":")
        if tag == "#EXT-X-BYTERANGE" and not BYTERANGE_RE.match(value):
            bad.append(f"EXT-X-BYTERANGE:{value} without an explicit offset")
        elif tag == "#EXT-X-MAP":
            br = parse_attrs(value).get("BYTERANGE")
            if br is not None and not BYTERANGE_RE.match(br):
                bad.append(f"EXT-X-MAP with BYTERANGE={br} without an explicit offset")
    # The clock: each segment's PDT where the one before plus its EXTINF
    # puts it, unless a discontinuity is marked.
    for msn, drift in pdt_drift(pl):
        if abs(drift) > 0.2:
            bad.append(f"segment {msn} starts {drift:+.3f} s from where the one before ends, "
                       f"without EXT-X-DISCONTINUITY")
    return bad


def violations(text):
    """Any kind of playlist, told apart by its tags."""
    if "#EXT-X-STREAM-INF" in text:
        return multivariant_violations(text)
    if "#EXT-X-PLAYLIST-TYPE:" in text:
        return dvr_violations(text)
    return media_violations(text)


def main(argv):
    import urllib.request
    import ssl
    status = 0
    for src in argv[1:]:
        if re.match(r"https?://", src):
            ctx = ssl._create_unverified_context()
            with urllib.request.urlopen(src, context=ctx, timeout=10) as r:
                text = r.read().decode()
        else:
            with open(src) as f:
                text = f.read()
        bad = violations(text)
        print(f"{src}: {'ok' if not bad else f'{len(bad)} violation(s)'}")
        for b in bad:
            print(f"  {b}")
        status |= bool(bad)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
