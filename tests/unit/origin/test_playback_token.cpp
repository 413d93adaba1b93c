// SPDX-License-Identifier: LGPL-2.1-or-later
// Signed playback URLs: tokens, their verdicts, and playlists that carry them.
#include <gtest/gtest.h>

#include <glib.h>

#include "origin/playback_token.h"

using namespace mirror;
using Verdict = PlaybackTokens::Verdict;

TEST (PlaybackToken, SignsAndChecksEveryVerdict)
{
  PlaybackTokens tokens ("0123456789abcdef");
  const std::string t = tokens.sign ("cam1", 2000000000);
  // <expiry>.<HMAC-SHA256 of "cam1:2000000000" in hex>: what any tool can make.
  gchar *mac = g_compute_hmac_for_string (G_CHECKSUM_SHA256, (const guchar *)"0123456789abcdef", 16,
                                          "cam1:2000000000", -1);
  EXPECT_EQ (t, std::string ("2000000000.") + mac);
  g_free (mac);

  EXPECT_EQ (tokens.check ("cam1", t, 1999999999), Verdict::kOk);
  EXPECT_EQ (tokens.check ("cam1", t, 2000000000), Verdict::kExpired);
  EXPECT_EQ (tokens.check ("cam2", t, 1), Verdict::kWrong);
  EXPECT_EQ (PlaybackTokens ("another-key-0000").check ("cam1", t, 1), Verdict::kWrong);
  EXPECT_EQ (tokens.check ("cam1", "", 1), Verdict::kMissing);
  std::string later = t;
  later[0] = '3'; // a later expiry, same signature
  EXPECT_EQ (tokens.check ("cam1", later, 1), Verdict::kWrong);
  for (const char *bad :
       { "2000000000", ".abc", "20x0.abcd", "2000000000.abc",
         "12345678901234.0000000000000000000000000000000000000000000000000000000000000000" })
    EXPECT_EQ (tokens.check ("cam1", bad, 1), Verdict::kMalformed) << bad;
}

TEST (PlaybackToken, FoundInTheQuery)
{
  EXPECT_EQ (playback_token_in ("token=1.ab"), "1.ab");
  EXPECT_EQ (playback_token_in ("_HLS_msn=4&token=1.ab&_HLS_part=2"), "1.ab");
  EXPECT_EQ (playback_token_in ("_HLS_msn=4&tokens=1"), "");
  EXPECT_EQ (playback_token_in (""), "");
}

TEST (PlaybackToken, EveryUriOfAPlaylistCarriesIt)
{
  const std::string in = "#EXTM3U\n"
                         "#EXT-X-TARGETDURATION:1\n"
                         "#EXT-X-MAP:URI=\"init.mp4\"\n"
                         "#EXT-X-PART:DURATION=0.1,URI=\"video/part3.0.m4s\",INDEPENDENT=YES\n"
                         "#EXTINF:0.5,\n"
                         "video/seg3.m4s\r\n"
                         "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"video/part4.1.m4s\"\n"
                         "#EXT-X-RENDITION-REPORT:URI=\"audio.m3u8?x=1\",LAST-MSN=4\n"
                         "\n"
                         "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"a\",URI=\"audio.m3u8\"\n"
                         "video.m3u8";
  const std::string out = add_token_to_playlist (in, "9.f0");
  EXPECT_EQ (out,
             "#EXTM3U\n"
             "#EXT-X-TARGETDURATION:1\n"
             "#EXT-X-MAP:URI=\"init.mp4?token=9.f0\"\n"
             "#EXT-X-PART:DURATION=0.1,URI=\"video/part3.0.m4s?token=9.f0\",INDEPENDENT=YES\n"
             "#EXTINF:0.5,\n"
             "video/seg3.m4s?token=9.f0\r\n"
             "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"video/part4.1.m4s?token=9.f0\"\n"
             "#EXT-X-RENDITION-REPORT:URI=\"audio.m3u8?x=1&token=9.f0\",LAST-MSN=4\n"
             "\n"
             "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"a\",URI=\"audio.m3u8?token=9.f0\"\n"
             "video.m3u8?token=9.f0");
}
