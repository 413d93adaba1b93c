// SPDX-License-Identifier: LGPL-2.1-or-later
// The multivariant playlist of a stream.
#include <gtest/gtest.h>

#include "hls/multivariant.h"
#include "hls/stream_store.h"
#include "hls_test_feed.h"

namespace mirror::test {
namespace {

TEST (Multivariant, VideoVariantsWithAnAudioGroup)
{
  RenditionInfo hd = video_info ("hd");
  hd.codecs = "avc1.640028";
  hd.width = 1920;
  hd.height = 1080;
  hd.frame_rate = 29.97;
  hd.bandwidth = 5000000;
  std::string text = render_multivariant_playlist ({ video_info (), hd, audio_info () });
  EXPECT_EQ (text, "#EXTM3U\n"
                   "#EXT-X-VERSION:9\n"
                   "#EXT-X-INDEPENDENT-SEGMENTS\n"
                   "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio\",LANGUAGE=\"en\","
                   "DEFAULT=YES,AUTOSELECT=YES,URI=\"audio.m3u8\"\n"
                   "#EXT-X-STREAM-INF:BANDWIDTH=464000,CODECS=\"avc1.64001e,mp4a.40.2\","
                   "RESOLUTION=640x360,FRAME-RATE=30.000,AUDIO=\"audio\"\n"
                   "video.m3u8\n"
                   "#EXT-X-STREAM-INF:BANDWIDTH=5064000,CODECS=\"avc1.640028,mp4a.40.2\","
                   "RESOLUTION=1920x1080,FRAME-RATE=29.970,AUDIO=\"audio\"\n"
                   "hd.m3u8\n");
}

TEST (Multivariant, VideoOnlyAndAudioOnly)
{
  std::string video = render_multivariant_playlist ({ video_info () });
  EXPECT_NE (video.find ("#EXT-X-STREAM-INF:BANDWIDTH=400000,CODECS=\"avc1.64001e\","
                         "RESOLUTION=640x360,FRAME-RATE=30.000\nvideo.m3u8\n"),
             std::string::npos);
  EXPECT_EQ (video.find ("EXT-X-MEDIA:"), std::string::npos);
  std::string audio = render_multivariant_playlist ({ audio_info () });
  EXPECT_NE (audio.find ("#EXT-X-STREAM-INF:BANDWIDTH=64000,CODECS=\"mp4a.40.2\"\naudio.m3u8\n"),
             std::string::npos);
}

TEST (Multivariant, StoreRendersInOrderAddedAndCaches)
{
  StreamStore store ("cam-1", default_config ());
  store.add_rendition (video_info ());
  store.add_rendition (audio_info ());
  auto first = store.multivariant_playlist ();
  EXPECT_EQ (store.multivariant_playlist (), first);
  EXPECT_NE (first->find ("video.m3u8"), std::string::npos);
  RenditionInfo changed = video_info ();
  changed.bandwidth = 800000;
  store.add_rendition (changed);
  EXPECT_NE (store.multivariant_playlist ()->find ("BANDWIDTH=864000"), std::string::npos);
}

} // namespace
} // namespace mirror::test
