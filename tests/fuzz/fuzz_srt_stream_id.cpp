// SPDX-License-Identifier: LGPL-2.1-or-later
// SRT streamids as callers send them: the parser the listen callback runs on
// every handshake (plain names and "#!::k=v,..." access control), and the
// admission checks that follow it on the id alone: the allow list (fnmatch
// patterns, as SrtPort::is_allowed) and the per-stream passphrase lookup.
// Input: the raw streamid; after a NUL, allow-list patterns split on '\n'.
#include <fnmatch.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "ingest/srt_stream_id.h"

extern "C" int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const std::string input (reinterpret_cast<const char *> (data), size);
  const size_t nul = input.find ('\0');
  // libsrt hands the callback a C string: nothing after a NUL reaches it.
  const std::string raw = input.substr (0, nul);
  std::vector<std::string> allow_list;
  if (nul != std::string::npos) {
    size_t at = nul + 1;
    while (at <= input.size () && allow_list.size () < 8) {
      size_t nl = input.find ('\n', at);
      allow_list.push_back (input.substr (at, nl == std::string::npos ? nl : nl - at));
      if (nl == std::string::npos)
        break;
      at = nl + 1;
    }
  }

  std::string id, why;
  const bool ok = mirror::parse_srt_stream_id_checked (raw, &id, &why);
  if (!ok) {
    FUZZ_CHECK (!why.empty (), "a refused streamid must say why");
    return 0;
  }
  // An admitted id names URLs and files: it must be a valid resource name,
  // and parsing it again (as a plain name) must give itself.
  std::string why_not;
  FUZZ_CHECK (mirror::is_valid_srt_resource_name (id, &why_not), "'" + id + "': " + why_not);
  FUZZ_CHECK (id.size () >= 1 && id.size () <= 256, id);
  FUZZ_CHECK (id.find ('/') == std::string::npos && id != "." && id != "..", id);
  std::string again;
  FUZZ_CHECK (mirror::parse_srt_stream_id_checked (id, &again, &why) && again == id,
              "'" + id + "' does not parse as itself");

  // The allow-list decision (SrtPort::is_allowed): an empty list admits all.
  bool allowed = allow_list.empty ();
  for (const auto &pattern : allow_list)
    allowed = allowed || fnmatch (pattern.c_str (), id.c_str (), 0) == 0;
  (void)allowed;
  return 0;
}
