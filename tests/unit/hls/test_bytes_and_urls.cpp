// SPDX-License-Identifier: LGPL-2.1-or-later
// mirror::Bytes ownership, the URL layout and the playlist number formats.
#include <gtest/gtest.h>

#include "hls/hls_timing.h"
#include "hls/url_layout.h"
#include "util/bytes.h"

namespace mirror {
namespace {

TEST (Bytes, ReleaseHookRunsOnceWhenTheLastCopyGoes)
{
  static const uint8_t data[] = { 1, 2, 3, 4 };
  int released = 0;
  {
    Bytes a = Bytes::wrap (data, sizeof data, [&released] () { ++released; });
    Bytes b = a;
    Bytes tail = a.slice (2, 10);
    EXPECT_EQ (tail.size (), 2u);
    EXPECT_EQ (tail.data ()[0], 3);
    a = Bytes ();
    b = Bytes ();
    EXPECT_EQ (released, 0); // the slice still holds it
  }
  EXPECT_EQ (released, 1);
}

TEST (Bytes, CopiesAndCompares)
{
  Bytes a = Bytes::copy ("moov");
  Bytes b = Bytes::take ({ 'm', 'o', 'o', 'v' });
  EXPECT_TRUE (a.same_content (b));
  EXPECT_EQ (a.view (), "moov");
  EXPECT_TRUE (Bytes ().empty ());
  EXPECT_TRUE (Bytes ().same_content (Bytes::copy ("")));
}

TEST (UrlLayout, NamesRoundTrip)
{
  EXPECT_EQ (hls_media_playlist_uri ("video"), "video.m3u8");
  EXPECT_EQ (hls_init_uri ("video", 2), "video/init2.mp4");
  EXPECT_EQ (hls_segment_uri ("video", 41), "video/seg41.m4s");
  EXPECT_EQ (hls_part_uri ("video", 41, 3), "video/part41.3.m4s");

  auto seg = parse_hls_object_path ("video/seg41.m4s");
  ASSERT_TRUE (seg);
  EXPECT_EQ (seg->kind, HlsObjectKind::kSegment);
  EXPECT_EQ (seg->rendition, "video");
  EXPECT_EQ (seg->msn, 41u);

  auto part = parse_hls_object_path ("audio_1/part41.3.m4s");
  ASSERT_TRUE (part);
  EXPECT_EQ (part->kind, HlsObjectKind::kPart);
  EXPECT_EQ (part->msn, 41u);
  EXPECT_EQ (part->part, 3u);

  auto init = parse_hls_object_path ("video/init2.mp4");
  ASSERT_TRUE (init);
  EXPECT_EQ (init->kind, HlsObjectKind::kInit);
  EXPECT_EQ (init->init_generation, 2u);
  auto alias = parse_hls_object_path ("video/init.mp4");
  ASSERT_TRUE (alias);
  EXPECT_FALSE (alias->init_generation);

  EXPECT_EQ (parse_hls_object_path ("index.m3u8")->kind, HlsObjectKind::kMultivariant);
  EXPECT_EQ (parse_hls_object_path ("video.m3u8")->kind, HlsObjectKind::kMediaPlaylist);
}

TEST (UrlLayout, RejectsEverythingElse)
{
  for (const char *bad : { "", "../x.m3u8", "video/../seg1.m4s", "video/seg.m4s", "video/seg-1.m4s",
                           "video/seg01.m4s", "video/part1.m4s", "video/part1..m4s",
                           "video/part1.2.3.m4s", "video/seg1.mp4", "a/b/seg1.m4s", "vi deo.m3u8",
                           ".m3u8", "video/init-1.mp4", "video/seg99999999999999999999.m4s" })
    EXPECT_FALSE (parse_hls_object_path (bad)) << bad;
}

TEST (UrlLayout, ContentTypes)
{
  EXPECT_STREQ (hls_content_type (HlsObjectKind::kMediaPlaylist), "application/vnd.apple.mpegurl");
  EXPECT_STREQ (hls_content_type (HlsObjectKind::kInit), "video/mp4");
  EXPECT_STREQ (hls_content_type (HlsObjectKind::kPart), "video/iso.segment");
}

TEST (HlsTiming, PrintsFiveDecimalsAndRounds)
{
  EXPECT_EQ (format_hls_units (hls_units (100000000)), "0.10000");
  EXPECT_EQ (format_hls_units (hls_units (99900000)), "0.09990");
  EXPECT_EQ (format_hls_units (hls_units (99999999)), "0.10000"); // 30 fps in ns
  EXPECT_EQ (format_hls_units (hls_units (1600000000)), "1.60000");
  EXPECT_EQ (hls_rounded_seconds (hls_units (1499990000)), 1);
  EXPECT_EQ (hls_rounded_seconds (hls_units (1500000000)), 2);
  EXPECT_EQ (format_program_date_time (1795780800LL * 1000000000LL + 123456789),
             "2026-11-27T12:00:00.123Z");
}

} // namespace
} // namespace mirror
