# SPDX-License-Identifier: LGPL-2.1-or-later
"""llhls.py on hand-written playlists: the good ones pass, and each bad one is
caught for the reason it is bad. No mirrord needed."""

import unittest

import llhls

HEADER = ("#EXTM3U\n"
          "#EXT-X-VERSION:9\n"
          "#EXT-X-TARGETDURATION:1\n"
          "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=6.0,HOLD-BACK=3.0,"
          "PART-HOLD-BACK=0.30000\n"
          "#EXT-X-PART-INF:PART-TARGET=0.10000\n")

# What Mirror's renderer printed in its unit test (tests/unit/hls/test_media_playlist.cpp).
UNIT_TEST_PLAYLIST = HEADER + """#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-DISCONTINUITY-SEQUENCE:0
#EXT-X-MAP:URI="video/init0.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-11-27T12:00:00.000Z
#EXT-X-PART:DURATION=0.10000,URI="video/part0.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.09990,URI="video/part0.1.m4s"
#EXT-X-PART:DURATION=0.10000,URI="video/part0.2.m4s"
#EXT-X-PART:DURATION=0.09990,URI="video/part0.3.m4s"
#EXT-X-PART:DURATION=0.10000,URI="video/part0.4.m4s"
#EXTINF:0.49980,
video/seg0.m4s
#EXT-X-PROGRAM-DATE-TIME:2026-11-27T12:00:00.499Z
#EXT-X-PART:DURATION=0.09990,URI="video/part1.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.10000,URI="video/part1.1.m4s"
#EXT-X-PART:DURATION=0.09990,URI="video/part1.2.m4s"
#EXT-X-PART:DURATION=0.10000,URI="video/part1.3.m4s"
#EXT-X-PART:DURATION=0.09990,URI="video/part1.4.m4s"
#EXTINF:0.49970,
video/seg1.m4s
#EXT-X-PROGRAM-DATE-TIME:2026-11-27T12:00:00.999Z
#EXT-X-PART:DURATION=0.10000,URI="video/part2.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.09990,URI="video/part2.1.m4s"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="video/part2.2.m4s"
"""

START = 1795780800.0  # 2026-11-27T12:00:00Z


def pdt(t):
    import datetime
    dt = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def media(first=20, complete=8, open_parts=3, parts_per_seg=10, part=0.1, rend="source",
          skip=0, version=9, header=None, ended=False, last_part=None, reports=True):
    """A live playlist as Mirror renders it: `complete` 1 s segments from msn
    `first`, parts listed for those ending within 3 s of the edge, then
    `open_parts` parts of the segment in progress and the preload hint."""
    head = header if header is not None else HEADER
    if version != 9:
        head = head.replace("#EXT-X-VERSION:9", f"#EXT-X-VERSION:{version}")
    out = [head, f"#EXT-X-MEDIA-SEQUENCE:{first}\n", "#EXT-X-DISCONTINUITY-SEQUENCE:0\n"]
    if skip:
        out.append(f"#EXT-X-SKIP:SKIPPED-SEGMENTS={skip}\n")
    out.append(f'#EXT-X-MAP:URI="{rend}/init0.mp4"\n')
    # PROGRAM-DATE-TIME: msn 20 starts at START.
    durations = [part] * parts_per_seg
    if last_part is not None:
        durations[-1] = last_part
    seg_len = sum(durations)
    edge = complete * seg_len + open_parts * part
    for i in range(skip, complete):
        msn = first + i
        out.append(f"#EXT-X-PROGRAM-DATE-TIME:{pdt(START + (msn - 20) * seg_len)}\n")
        if edge - (i + 1) * seg_len < 3 - 0.001:
            for k, d in enumerate(durations):
                ind = ",INDEPENDENT=YES" if k == 0 else ""
                out.append(f'#EXT-X-PART:DURATION={d:.5f},URI="{rend}/part{msn}.{k}.m4s"{ind}\n')
        out.append(f"#EXTINF:{seg_len:.5f},\n{rend}/seg{msn}.m4s\n")
    msn = first + complete
    if open_parts:
        out.append(f"#EXT-X-PROGRAM-DATE-TIME:{pdt(START + (msn - 20) * seg_len)}\n")
        for k in range(open_parts):
            ind = ",INDEPENDENT=YES" if k == 0 else ""
            out.append(f'#EXT-X-PART:DURATION={part:.5f},URI="{rend}/part{msn}.{k}.m4s"{ind}\n')
    if ended:
        out.append("#EXT-X-ENDLIST\n")
    else:
        out.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{rend}/part{msn}.{open_parts}.m4s"\n')
        if reports:
            out.append(f'#EXT-X-RENDITION-REPORT:URI="audio.m3u8",LAST-MSN={msn},LAST-PART=1\n')
    return "".join(out)


GOOD_MULTIVARIANT = """#EXTM3U
#EXT-X-VERSION:9
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="audio",DEFAULT=YES,AUTOSELECT=YES,URI="audio.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=628000,CODECS="avc1.64000d,mp4a.40.2",RESOLUTION=320x240,FRAME-RATE=25.000,AUDIO="audio"
source.m3u8
"""


def replace_once(text, old, new):
    assert text.count(old) >= 1, f"{old!r} not in playlist"
    return text.replace(old, new, 1)


class GoodPlaylists(unittest.TestCase):
    def assertClean(self, text):
        self.assertEqual(llhls.media_violations(text), [], text)

    def test_the_unit_test_rendering(self):
        self.assertClean(UNIT_TEST_PLAYLIST)

    def test_live_window(self):
        text = media()
        self.assertClean(text)
        pl = llhls.MediaPlaylist(text)
        self.assertEqual(pl.media_sequence, 20)
        self.assertEqual(len(pl.complete_segments), 8)
        self.assertEqual(pl.open_segment.msn, 28)
        self.assertEqual(pl.next_part_position(), (28, 3))
        self.assertEqual(pl.preload_hint_position(), (28, 3))
        # Parts listed for the three newest complete segments only.
        self.assertEqual([s.msn for s in pl.segments if s.parts], [25, 26, 27, 28])
        part = pl.segment(27).parts[4]
        self.assertAlmostEqual(pl.part_pdt(part), START + 7 + 0.4, places=3)

    def test_segment_just_closed(self):
        self.assertClean(media(open_parts=0))

    def test_short_last_part_of_a_segment(self):
        # 9 x 0.1 + 0.04: the last part of its segment may be short.
        self.assertClean(media(last_part=0.04))

    def test_short_independent_parts(self):
        text = replace_once(media(), 'DURATION=0.10000,URI="source/part26.5.m4s"',
                            'DURATION=0.05000,URI="source/part26.5.m4s",INDEPENDENT=YES')
        text = replace_once(text, "#EXTINF:1.00000,\nsource/seg26.m4s", "#EXTINF:0.95000,\nsource/seg26.m4s")
        self.assertClean(text)

    def test_short_newest_part_of_the_open_segment(self):
        # It may be the last of its segment: nobody can tell yet.
        self.assertClean(replace_once(media(), 'DURATION=0.10000,URI="source/part28.2.m4s"',
                                      'DURATION=0.04000,URI="source/part28.2.m4s"'))

    def test_delta_update(self):
        self.assertClean(media(complete=12, skip=6))
        self.assertEqual(llhls.MediaPlaylist(media(complete=12, skip=6)).segments[0].msn, 26)

    def test_no_can_skip_until_is_fine(self):
        self.assertClean(media(header=HEADER.replace("CAN-SKIP-UNTIL=6.0,", "")))

    def test_ended(self):
        self.assertClean(media(open_parts=0, ended=True))

    def test_reloads_that_advance(self):
        self.assertEqual(llhls.reload_violations(media(first=20, open_parts=3), media(first=20, open_parts=5)), [])
        self.assertEqual(llhls.reload_violations(media(first=20, open_parts=9), media(first=21, open_parts=0)), [])

    def test_multivariant(self):
        self.assertEqual(llhls.multivariant_violations(GOOD_MULTIVARIANT), [])
        mv = llhls.Multivariant(GOOD_MULTIVARIANT)
        self.assertEqual(mv.variants[0]["URI"], "source.m3u8")
        self.assertEqual(mv.variants[0]["CODECS"], "avc1.64000d,mp4a.40.2")
        self.assertEqual(mv.audio_group("audio")[0]["URI"], "audio.m3u8")

    def test_attribute_lists(self):
        self.assertEqual(llhls.parse_attrs('A=1,B="x,y",C=YES'), {"A": "1", "B": "x,y", "C": "YES"})


class BadPlaylists(unittest.TestCase):
    def assertCaught(self, text, *needles):
        found = llhls.media_violations(text)
        self.assertTrue(found, f"not caught:\n{text}")
        joined = "\n".join(found)
        for n in needles:
            self.assertIn(n, joined)

    def test_fractional_target_duration(self):
        self.assertCaught(media().replace("#EXT-X-TARGETDURATION:1", "#EXT-X-TARGETDURATION:1.5"),
                          "not an integer")

    def test_missing_target_duration(self):
        self.assertCaught(media().replace("#EXT-X-TARGETDURATION:1\n", ""), "TARGETDURATION missing")

    def test_extinf_above_target_duration(self):
        text = replace_once(media(), "#EXTINF:1.00000,\nsource/seg21.m4s", "#EXTINF:1.60000,\nsource/seg21.m4s")
        self.assertCaught(text, "rounds above TARGETDURATION")

    def test_part_longer_than_part_target(self):
        text = replace_once(media(), 'DURATION=0.10000,URI="source/part27.3.m4s"',
                            'DURATION=0.10010,URI="source/part27.3.m4s"')
        self.assertCaught(text, "part27.3.m4s DURATION 0.1001 longer than PART-TARGET")

    def test_short_dependent_part(self):
        text = replace_once(media(), 'DURATION=0.10000,URI="source/part26.5.m4s"',
                            'DURATION=0.08000,URI="source/part26.5.m4s"')
        self.assertCaught(text, "part26.5.m4s DURATION 0.08 under 85%")

    def test_short_dependent_part_of_the_open_segment(self):
        text = replace_once(media(), 'DURATION=0.10000,URI="source/part28.1.m4s"',
                            'DURATION=0.04000,URI="source/part28.1.m4s"')
        self.assertCaught(text, "part28.1.m4s DURATION 0.04 under 85%")

    def test_part_hold_back(self):
        self.assertCaught(media(header=HEADER.replace("PART-HOLD-BACK=0.30000", "PART-HOLD-BACK=0.25000")),
                          "PART-HOLD-BACK 0.25 under 3 x PART-TARGET")
        self.assertCaught(media(header=HEADER.replace(",PART-HOLD-BACK=0.30000", "")), "PART-HOLD-BACK missing")

    def test_hold_back(self):
        self.assertCaught(media(header=HEADER.replace("HOLD-BACK=3.0,", "HOLD-BACK=2.0,")),
                          "HOLD-BACK 2.0 under 3 x TARGETDURATION")

    def test_can_skip_until(self):
        self.assertCaught(media(header=HEADER.replace("CAN-SKIP-UNTIL=6.0", "CAN-SKIP-UNTIL=4.0")),
                          "CAN-SKIP-UNTIL 4.0 under 6 x TARGETDURATION")

    def test_no_blocking_reload(self):
        self.assertCaught(media(header=HEADER.replace("CAN-BLOCK-RELOAD=YES,", "")), "CAN-BLOCK-RELOAD")

    def test_newest_segment_without_parts(self):
        text = media()
        lines = [l for l in text.splitlines(True) if 'part27.' not in l or "PRELOAD" in l]
        self.assertCaught("".join(lines), "seg27.m4s ends 0.300 s before the edge but its parts are not listed")

    def test_no_parts_at_all(self):
        text = "".join(l for l in media(open_parts=0).splitlines(True) if not l.startswith("#EXT-X-PART:"))
        self.assertCaught(text, "parts are not listed")

    def test_old_segment_still_with_parts(self):
        text = media()
        extra = "".join(f'#EXT-X-PART:DURATION=0.10000,URI="source/part23.{k}.m4s"\n' for k in range(10))
        text = replace_once(text, "#EXTINF:1.00000,\nsource/seg23.m4s", extra + "#EXTINF:1.00000,\nsource/seg23.m4s")
        self.assertCaught(text, "seg23.m4s ends 4.300 s before the edge but its parts are still listed")

    def test_part_listed_after_its_segment(self):
        text = media()
        line = '#EXT-X-PART:DURATION=0.10000,URI="source/part26.9.m4s"\n'
        text = replace_once(text, line, "")
        text = replace_once(text, '#EXT-X-PART:DURATION=0.10000,URI="source/part27.0.m4s"', line.strip() +
                            '\n#EXT-X-PART:DURATION=0.10000,URI="source/part27.0.m4s"')
        self.assertCaught(text, "part26.9.m4s listed before source/seg27.m4s")

    def test_parts_do_not_add_up(self):
        text = replace_once(media(), "#EXTINF:1.00000,\nsource/seg26.m4s", "#EXTINF:0.96000,\nsource/seg26.m4s")
        self.assertCaught(text, "parts of source/seg26.m4s add up to 1.00000")

    def test_no_program_date_time(self):
        text = "".join(l for l in media().splitlines(True) if "PROGRAM-DATE-TIME" not in l)
        self.assertCaught(text, "EXT-X-PROGRAM-DATE-TIME missing")

    def test_bad_program_date_time(self):
        self.assertCaught(media().replace("Z\n", "\n", 1), "not a date-time with a zone")

    def test_no_map(self):
        self.assertCaught(media().replace('#EXT-X-MAP:URI="source/init0.mp4"\n', ""), "EXT-X-MAP missing")

    def test_no_preload_hint(self):
        text = "".join(l for l in media().splitlines(True) if "PRELOAD-HINT" not in l)
        self.assertCaught(text, "0 EXT-X-PRELOAD-HINT TYPE=PART tags")

    def test_two_preload_hints(self):
        text = media() + '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="source/part28.4.m4s"\n'
        self.assertCaught(text, "2 EXT-X-PRELOAD-HINT TYPE=PART tags")

    def test_preload_hint_not_the_next_part(self):
        text = media().replace('URI="source/part28.3.m4s"\n', 'URI="source/part28.4.m4s"\n')
        self.assertCaught(text, "not the next part (want part28.3)")
        text = media(open_parts=0).replace('URI="source/part28.0.m4s"\n', 'URI="source/part27.10.m4s"\n')
        self.assertCaught(text, "not the next part (want part28.0)")

    def test_preload_hint_already_listed(self):
        text = media().replace('PRELOAD-HINT:TYPE=PART,URI="source/part28.3.m4s"',
                               'PRELOAD-HINT:TYPE=PART,URI="source/part28.2.m4s"')
        self.assertCaught(text, "names a part already listed")

    def test_skip_needs_version_9(self):
        self.assertCaught(media(complete=12, skip=6, version=8), "EXT-X-SKIP needs EXT-X-VERSION 9")

    def test_skip_without_can_skip_until(self):
        self.assertCaught(media(complete=12, skip=6, header=HEADER.replace("CAN-SKIP-UNTIL=6.0,", "")),
                          "does not advertise CAN-SKIP-UNTIL")

    def test_segment_at_the_wrong_sequence_number(self):
        self.assertCaught(media().replace("#EXT-X-MEDIA-SEQUENCE:20", "#EXT-X-MEDIA-SEQUENCE:19"),
                          "source/seg20.m4s is at media sequence number 19")

    def test_not_a_playlist(self):
        self.assertCaught(media()[len("#EXTM3U\n"):], "does not start with #EXTM3U")

    def test_no_part_target(self):
        self.assertCaught(media().replace("#EXT-X-PART-INF:PART-TARGET=0.10000\n", ""), "PART-TARGET missing")


class BadReloads(unittest.TestCase):
    def test_media_sequence_goes_back(self):
        found = llhls.reload_violations(media(first=21), media(first=20))
        self.assertTrue(any("EXT-X-MEDIA-SEQUENCE went back from 21 to 20" in f for f in found), found)

    def test_edge_goes_back(self):
        found = llhls.reload_violations(media(open_parts=5), media(open_parts=3))
        self.assertTrue(any("live edge went back" in f for f in found), found)

    def test_segment_changes(self):
        before = media()
        after = replace_once(before, "source/seg24.m4s", "source/seg24b.m4s")
        found = llhls.reload_violations(before, after)
        self.assertTrue(any("segment 24 was source/seg24.m4s, now source/seg24b.m4s" in f for f in found), found)

    def test_part_target_changes(self):
        before = media(header=HEADER.replace("PART-TARGET=0.10000", "PART-TARGET=0.12000"))
        found = llhls.reload_violations(before, media())
        self.assertTrue(any("PART-TARGET changed from 0.12 to 0.1" in f for f in found), found)
        found = llhls.reload_violations(media(), before)
        self.assertTrue(any("PART-TARGET changed from 0.1 to 0.12" in f for f in found), found)


class BadMultivariant(unittest.TestCase):
    def test_missing_audio_group(self):
        text = "\n".join(l for l in GOOD_MULTIVARIANT.splitlines() if "EXT-X-MEDIA:" not in l)
        self.assertIn('variant source.m3u8 names AUDIO group audio that has no EXT-X-MEDIA',
                      llhls.multivariant_violations(text))

    def test_missing_codecs(self):
        text = GOOD_MULTIVARIANT.replace('CODECS="avc1.64000d,mp4a.40.2",', "")
        self.assertIn("variant source.m3u8 without CODECS", llhls.multivariant_violations(text))

    def test_variant_without_uri(self):
        text = GOOD_MULTIVARIANT.replace("source.m3u8\n", "")
        self.assertIn("EXT-X-STREAM-INF without a URI line", llhls.multivariant_violations(text))

    def test_media_tags_in_multivariant(self):
        self.assertTrue(llhls.multivariant_violations(GOOD_MULTIVARIANT + "#EXT-X-TARGETDURATION:1\n"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
