// SPDX-License-Identifier: LGPL-2.1-or-later
// The ladder's text form: what the config and mirrortranscodebin accept.
#include <gtest/gtest.h>

#include "transcode/ladder.h"

namespace mirror {
namespace {

TEST (Ladder, ParsesRungsAndSource)
{
  std::string error;
  auto l = parse_ladder ("360p:640x360@400k, 720p:1280x720@2.5M,source", &error);
  ASSERT_TRUE (l) << error;
  ASSERT_EQ (l->size (), 3u);
  EXPECT_EQ ((*l)[0].name, "360p");
  EXPECT_EQ ((*l)[0].width, 640);
  EXPECT_EQ ((*l)[0].height, 360);
  EXPECT_EQ ((*l)[0].bitrate, 400000);
  EXPECT_EQ ((*l)[1].bitrate, 2500000);
  EXPECT_TRUE ((*l)[2].source);
  EXPECT_TRUE (ladder_transcodes (*l));
  EXPECT_EQ (format_ladder (*l), "360p:640x360@400000,720p:1280x720@2500000,source");
  EXPECT_EQ (format_ladder (*parse_ladder (format_ladder (*l), &error)), format_ladder (*l));
}

TEST (Ladder, SourceAloneDoesNotTranscode)
{
  std::string error;
  auto l = parse_ladder ("source", &error);
  ASSERT_TRUE (l);
  EXPECT_FALSE (ladder_transcodes (*l));
}

TEST (Ladder, RefusesWhatPlayersOrEncodersCannotTake)
{
  for (const char *bad :
       { "", "360p", "360p:640x360", "360p:641x360@400k", "360p:640x360@50k", "a/b:640x360@400k",
         "index:640x360@400k", "audio:640x360@400k", "x:640x360@400k,x:320x180@200k",
         "360p:640x360@4x00k", "360p:8000x360@400k", "source,source" }) {
    std::string error;
    EXPECT_FALSE (parse_ladder (bad, &error)) << bad;
    EXPECT_FALSE (error.empty ()) << bad;
  }
  std::string error;
  parse_ladder ("360p:640x360@400k,720p:1281x720@2M", &error);
  EXPECT_NE (error.find ("rendition 2"), std::string::npos) << error;
}

} // namespace
} // namespace mirror
