// SPDX-License-Identifier: LGPL-2.1-or-later
// Time-shifted playback's query (?start=T1&end=T2, ISO 8601 or Unix seconds)
// and the Range header of DVR period files. A range that parses must be
// ordered, in the past and at most 24 hours long, and must come back the
// same from the query the multivariant playlist writes for its renditions;
// a partial byte range must lie inside the body. Input: "query\nRange".
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.h"
#include "hls/dvr_range.h"
#include "origin/dvr_playback.h"

namespace {

// 2026-12-06T12:00:00Z: fixed, so that an input always does the same.
constexpr int64_t kNowNs = 1796472000LL * 1000000000;

} // namespace

extern "C" int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const std::string input (reinterpret_cast<const char *> (data), size);
  const size_t nl = input.find ('\n');
  const std::string query = input.substr (0, nl);
  const std::string range_header = nl == std::string::npos ? "" : input.substr (nl + 1);

  mirror::DvrRangeError error;
  auto range = mirror::parse_dvr_range (query, kNowNs, &error);
  if (!range) {
    FUZZ_CHECK (error.parameter == "start" || error.parameter == "end", error.parameter);
    FUZZ_CHECK (!error.message.empty (), "a 400 without a message");
  } else if (range->requested) {
    FUZZ_CHECK (range->start_ns <= kNowNs, "a range in the future");
    if (range->end_ns)
      FUZZ_CHECK (*range->end_ns > range->start_ns, "a reversed range");
    const int64_t until = range->end_ns ? *range->end_ns : kNowNs;
    FUZZ_CHECK (until - range->start_ns <= mirror::kDvrMaxRangeNs, "a range over 24 hours");
    // The renditions' URIs carry the range on: it must read back the same.
    const std::string again = mirror::format_dvr_range_query (*range);
    mirror::DvrRangeError again_error;
    auto reread = mirror::parse_dvr_range (again, kNowNs, &again_error);
    FUZZ_CHECK (reread.has_value (), "'" + query + "' written as '" + again + "': " + again_error.message);
    FUZZ_CHECK (reread->start_ns == range->start_ns && reread->end_ns == range->end_ns,
                "'" + query + "' written as '" + again + "' reads back differently");
  }
  if (query.size () <= 64) {
    if (auto t = mirror::parse_dvr_time (query))
      (void)mirror::format_dvr_range_query (mirror::DvrRange{ true, *t, std::nullopt });
  }

  for (uint64_t body : { uint64_t (0), uint64_t (1), uint64_t (1000), uint64_t (1) << 40 }) {
    mirror::ByteRange byte_range;
    switch (mirror::parse_byte_range (range_header, body, &byte_range)) {
    case mirror::ByteRangeVerdict::kPartial:
      FUZZ_CHECK (byte_range.length > 0, range_header);
      FUZZ_CHECK (byte_range.first < body && byte_range.length <= body - byte_range.first,
                  range_header + " over " + std::to_string (body) + " bytes");
      break;
    case mirror::ByteRangeVerdict::kWhole:
    case mirror::ByteRangeVerdict::kUnsatisfiable:
      break;
    }
  }
  return 0;
}
