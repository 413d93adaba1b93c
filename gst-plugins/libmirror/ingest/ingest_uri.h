// SPDX-License-Identifier: LGPL-2.1-or-later
// The ingest bin's `uri` property, parsed and checked once so that the rest
// of the element deals with typed settings only.
//
//   srt://:6000?streamid=cam1[&latency=MS][&passphrase=P][&pbkeylen=16|24|32]
//       listen through the process-wide SRT hub for that port
//   srt://host:port?mode=caller[&streamid=ID][&latency=MS][&passphrase=P][&pbkeylen=N]
//       pull from a remote listener (stock srtsrc)
//   rtp://:5004?ssrc=1234&encoding=H265|H264|AAC[&source=IP][&pt=N][&clock-rate=HZ][&config=HEX]
//       receive one RTP session through the process-wide RTP hub
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace mirror {

struct IngestUri {
  enum class Kind { kSrtListener, kSrtCaller, kRtp };

  Kind kind = Kind::kSrtListener;
  std::string text; // as given, for messages (may hold a passphrase: see redacted)
  std::string host; // empty: any address (listeners)
  uint16_t port = 0;

  // SRT
  std::string stream_id;
  int64_t latency_ms = -1; // -1: not given
  std::string passphrase;
  int pbkeylen = 0; // 0: not given

  // RTP
  uint32_t ssrc = 0;
  std::string encoding;  // "H265", "H264" or "AAC" (MPEG4-GENERIC is read as AAC)
  std::string source;    // sender address; empty: any
  int payload_type = -1; // -1: the encoding's default (96, 97, 98)
  int clock_rate = 0;    // 0: the encoding's default (90000; 48000 for AAC)
  std::string config;    // AAC AudioSpecificConfig, hex (RFC 3640 "config")

  bool is_srt () const { return kind != Kind::kRtp; }
  bool is_video () const { return encoding != "AAC"; }
  // The URI with any passphrase replaced by "***".
  std::string redacted () const;
  // Defaults filled in.
  int effective_payload_type () const;
  int effective_clock_rate () const;
};

// @text with the value of any passphrase= replaced by "***".
std::string redact_uri_passphrase (const std::string &text);

// nullopt and *error (what is wrong, naming the offending part and value) when
// @text is not a usable ingest URI.
std::optional<IngestUri> parse_ingest_uri (const std::string &text, std::string *error);

} // namespace mirror
