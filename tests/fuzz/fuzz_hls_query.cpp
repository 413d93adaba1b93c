// SPDX-License-Identifier: LGPL-2.1-or-later
// The query and path of an LL-HLS request: the object path under
// /live/{stream}/, the blocking-reload directives (_HLS_msn, _HLS_part,
// _HLS_skip) and the decision taken on them against a rendition's progress,
// checking that a held request waits for something not yet reached and a
// refused one says why. Input: progress (a few bytes), then "path?query".
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.h"
#include "hls/blocking_reload.h"
#include "hls/url_layout.h"

extern "C" int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  FuzzedDataProvider in (data, size);
  mirror::RenditionProgress progress;
  progress.has_parts = in.ConsumeBool ();
  progress.ended = in.ConsumeBool ();
  // Mostly small numbers, now and then anything (the ends of the range).
  auto number = [&in] () -> uint64_t {
    return in.ConsumeBool () ? in.ConsumeIntegral<uint64_t> () : in.ConsumeIntegralInRange<uint64_t> (0, 20);
  };
  progress.last.msn = number ();
  progress.last.part = in.ConsumeBool () ? mirror::kSegmentComplete : uint32_t (number ());
  progress.reached = in.ConsumeBool () ? progress.last : mirror::PartPosition{ number (), uint32_t (number ()) };
  progress.part_target_ns = in.ConsumeIntegralInRange<int64_t> (0, 2000000000);
  const std::string request = in.ConsumeRemainingBytesAsString ();
  const size_t q = request.find ('?');
  const std::string path = request.substr (0, q);
  const std::string query = q == std::string::npos ? "" : request.substr (q + 1);

  if (auto ref = mirror::parse_hls_object_path (path)) {
    FUZZ_CHECK (ref->rendition.empty () || mirror::is_valid_rendition_name (ref->rendition),
                ref->rendition);
    FUZZ_CHECK (ref->rendition.find ('/') == std::string::npos, path);
    (void)mirror::hls_content_type (ref->kind);
    if (ref->kind == mirror::HlsObjectKind::kMediaPlaylist)
      FUZZ_CHECK (mirror::hls_media_playlist_uri (ref->rendition) == path, path);
  }

  size_t params = 0;
  mirror::for_each_query_param (query, [&] (std::string_view key, std::string_view value) {
    FUZZ_CHECK (key.data () >= query.data () && key.data () + key.size () <= query.data () + query.size (),
                "a key outside the query");
    FUZZ_CHECK (value.size () <= query.size (), "a value longer than the query");
    params++;
  });
  FUZZ_CHECK (params <= query.size () + 1, query);

  mirror::ReloadDirectives directives;
  std::string why;
  if (!mirror::parse_reload_directives (query, &directives, &why)) {
    FUZZ_CHECK (!why.empty (), "a 400 without a reason");
    return 0;
  }
  const mirror::ReloadDecision decision = mirror::decide_reload (directives, progress);
  switch (decision.verdict) {
  case mirror::ReloadVerdict::kAnswerNow:
    break;
  case mirror::ReloadVerdict::kBadRequest:
    FUZZ_CHECK (!decision.why.empty (), "a 400 without a reason");
    FUZZ_CHECK (directives.msn || directives.part, "a 400 without a directive");
    break;
  case mirror::ReloadVerdict::kHold:
    FUZZ_CHECK (!progress.ended, "held on an ended playlist");
    FUZZ_CHECK (directives.msn.has_value (), "held without _HLS_msn");
    FUZZ_CHECK (!progress.has_parts || progress.reached < decision.hold_until,
                "held for a part already reached");
    break;
  }
  return 0;
}
