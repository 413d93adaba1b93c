// SPDX-License-Identifier: LGPL-2.1-or-later
// mirroringestbin's `uri` property: what it accepts and how it names what it
// refuses.
#include <gtest/gtest.h>

#include "ingest/ingest_uri.h"

namespace mirror {
namespace {

TEST (IngestUri, SrtListenerCallerAndRtp)
{
  std::string error;
  auto u = parse_ingest_uri ("srt://:6000?streamid=cam1", &error);
  ASSERT_TRUE (u) << error;
  EXPECT_EQ (u->kind, IngestUri::Kind::kSrtListener);
  EXPECT_EQ (u->port, 6000);
  EXPECT_EQ (u->stream_id, "cam1");

  u = parse_ingest_uri (
      "srt://:6001?streamid=cam2&latency=200&passphrase=0123456789abc&pbkeylen=32", &error);
  ASSERT_TRUE (u) << error;
  EXPECT_EQ (u->latency_ms, 200);
  EXPECT_EQ (u->pbkeylen, 32);
  EXPECT_EQ (u->redacted ().find ("0123456789abc"), std::string::npos);

  u = parse_ingest_uri ("srt://10.0.0.1:9000?mode=caller&streamid=x", &error);
  ASSERT_TRUE (u) << error;
  EXPECT_EQ (u->kind, IngestUri::Kind::kSrtCaller);
  EXPECT_EQ (u->host, "10.0.0.1");

  u = parse_ingest_uri ("rtp://:5004?ssrc=0x4d2&encoding=h265&source=10.1.1.1&pt=100", &error);
  ASSERT_TRUE (u) << error;
  EXPECT_EQ (u->ssrc, 1234u);
  EXPECT_EQ (u->encoding, "H265");
  EXPECT_EQ (u->effective_payload_type (), 100);
  EXPECT_EQ (u->effective_clock_rate (), 90000);

  u = parse_ingest_uri ("rtp://:5004?ssrc=7&encoding=MPEG4-GENERIC", &error);
  ASSERT_TRUE (u) << error;
  EXPECT_EQ (u->encoding, "AAC");
  EXPECT_EQ (u->effective_payload_type (), 98);
  EXPECT_EQ (u->effective_clock_rate (), 48000);
}

TEST (IngestUri, RefusalsNameTheValue)
{
  struct {
    const char *uri, *needle;
  } bad[] = {
    { "", "no uri" },
    { "http://:6000?streamid=a", "scheme \"http\"" },
    { "srt://:6000", "streamid" },
    { "srt://:99999?streamid=a", "99999" },
    { "srt://:6000?streamid=a&latency=-5", "latency" },
    { "srt://:6000?streamid=a&mode=rendezvous", "rendezvous" },
    { "srt://:6000?mode=caller&streamid=a", "host" },
    { "srt://:6000?streamid=a&streamld=b", "streamld" },
    { "rtp://:5004?encoding=H265", "ssrc" },
    { "rtp://:5004?ssrc=1&encoding=VP8", "VP8" },
    { "rtp://:5004?ssrc=1", "encoding" },
    { "rtp://:65535?ssrc=1&encoding=H264", "RTCP" },
    { "rtp://:5004?ssrc=1&encoding=AAC&source=nohost", "nohost" },
  };
  for (auto &b : bad) {
    std::string error;
    EXPECT_FALSE (parse_ingest_uri (b.uri, &error)) << b.uri << " accepted";
    EXPECT_NE (error.find (b.needle), std::string::npos) << b.uri << ": " << error;
  }
}

TEST (IngestUri, RedactionHidesEveryPassphrase)
{
  EXPECT_EQ (redact_uri_passphrase ("srt://:1?passphrase=secret1234&streamid=a"),
             "srt://:1?passphrase=***&streamid=a");
  EXPECT_EQ (redact_uri_passphrase ("srt://:1?streamid=a"), "srt://:1?streamid=a");
}

} // namespace
} // namespace mirror
