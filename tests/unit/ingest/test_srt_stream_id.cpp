// SPDX-License-Identifier: LGPL-2.1-or-later
// Stream id parsing and the reject codes callers see.
#include <gtest/gtest.h>
#include <srt/access_control.h>

#include "ingest/srt_hub.h"
#include "ingest/srt_reject.h"
#include "ingest/srt_stream_id.h"

namespace mirror {
namespace {

TEST (SrtStreamId, PlainIdsAreTheirOwnName)
{
  EXPECT_EQ (parse_srt_stream_id ("cam1"), "cam1");
  EXPECT_EQ (parse_srt_stream_id ("studio-B_2.main~x"), "studio-B_2.main~x");
  EXPECT_EQ (parse_srt_stream_id (std::string (256, 'a')), std::string (256, 'a'));
}

TEST (SrtStreamId, AccessControlFormNamesTheResource)
{
  EXPECT_EQ (parse_srt_stream_id ("#!::r=cam1,m=publish"), "cam1");
  EXPECT_EQ (parse_srt_stream_id ("#!::m=publish,r=cam1"), "cam1");
  EXPECT_EQ (parse_srt_stream_id ("#!::u=alice,r=cam1,m=publish,s=abc"), "cam1");
  // m= left out: an ingest only takes publishers anyway.
  EXPECT_EQ (parse_srt_stream_id ("#!::r=cam1"), "cam1");
}

TEST (SrtStreamId, MalformedIdsAreRefusedWithAReason)
{
  for (const char *raw :
       { "", "cam 1", "cam/1", "..", ".", "caméra", "cam\n1", "#!::", "#!::m=publish",
         "#!::r=cam1,m=request", "#!::r=cam1,m=", "#!::r=", "#!::r=cam1,r=cam2",
         "#!::r=cam1,,m=publish", "#!::r=cam 1", "#!:r=cam1", "#!r=cam1", "#!::u=bob" }) {
    std::string id, why;
    EXPECT_FALSE (parse_srt_stream_id_checked (raw, &id, &why)) << "'" << raw << "'";
    EXPECT_FALSE (why.empty ()) << "'" << raw << "'";
    EXPECT_EQ (parse_srt_stream_id (raw), std::nullopt) << "'" << raw << "'";
  }
  EXPECT_EQ (parse_srt_stream_id (std::string (257, 'a')), std::nullopt);
  EXPECT_EQ (parse_srt_stream_id ("#!::r=" + std::string (600, 'a')), std::nullopt);
}

TEST (SrtStreamId, RejectCodesAreHttpLike)
{
  EXPECT_EQ (srt_reject_code (SrtRejectReason::kMalformedStreamId), SRT_REJX_BAD_REQUEST);
  EXPECT_EQ (srt_reject_code (SrtRejectReason::kNotAllowed), SRT_REJX_FORBIDDEN);
  EXPECT_EQ (srt_reject_code (SrtRejectReason::kAlreadyLive), SRT_REJX_CONFLICT);
  EXPECT_EQ (srt_reject_code (SrtRejectReason::kTooManyConnections), SRT_REJX_DOWN);
  EXPECT_EQ (srt_reject_code (SrtRejectReason::kNoConsumer), SRT_REJX_DOWN);
  EXPECT_EQ (srt_reject_code (SrtRejectReason::kBadPassphrase), SRT_REJX_UNAUTHORIZED);
  EXPECT_STREQ (to_string (SrtRejectReason::kAlreadyLive), "already-live");
}

} // namespace
} // namespace mirror
