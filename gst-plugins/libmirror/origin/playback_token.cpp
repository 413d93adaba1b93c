// SPDX-License-Identifier: LGPL-2.1-or-later
#include "origin/playback_token.h"

#include <glib.h>

#include "hls/url_layout.h"

namespace mirror {

namespace {

// Whether @a and @b are equal, in time that depends on their lengths only.
bool
same_text (std::string_view a, std::string_view b)
{
  if (a.size () != b.size ())
    return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size (); i++)
    diff |= static_cast<unsigned char> (a[i] ^ b[i]);
  return diff == 0;
}

// A URI with "token=..." added to its query.
void
append_uri (std::string &out, std::string_view uri, std::string_view token)
{
  out.append (uri);
  out.push_back (uri.find ('?') == std::string_view::npos ? '?' : '&');
  out.append ("token=").append (token);
}

} // namespace

std::string
PlaybackTokens::mac (std::string_view stream, std::string_view expiry) const
{
  std::string message;
  message.reserve (stream.size () + 1 + expiry.size ());
  message.append (stream).append (":").append (expiry);
  gchar *hex = g_compute_hmac_for_data (
      G_CHECKSUM_SHA256, reinterpret_cast<const guchar *> (key_.data ()), key_.size (),
      reinterpret_cast<const guchar *> (message.data ()), message.size ());
  std::string out (hex);
  g_free (hex);
  return out;
}

std::string
PlaybackTokens::sign (std::string_view stream, int64_t expires_unix_s) const
{
  const std::string expiry = std::to_string (expires_unix_s);
  return expiry + "." + mac (stream, expiry);
}

PlaybackTokens::Verdict
PlaybackTokens::check (std::string_view stream, std::string_view token, int64_t now_unix_s) const
{
  if (token.empty ())
    return Verdict::kMissing;
  const size_t dot = token.find ('.');
  if (dot == 0 || dot == std::string_view::npos || dot > 12)
    return Verdict::kMalformed;
  const std::string_view expiry = token.substr (0, dot);
  int64_t expires = 0;
  for (char c : expiry) {
    if (c < '0' || c > '9')
      return Verdict::kMalformed;
    expires = expires * 10 + (c - '0');
  }
  if (token.size () - dot - 1 != 64)
    return Verdict::kMalformed;
  // The signature first: an expiry is only worth reporting when it is ours.
  if (!same_text (token.substr (dot + 1), mac (stream, expiry)))
    return Verdict::kWrong;
  if (expires <= now_unix_s)
    return Verdict::kExpired;
  return Verdict::kOk;
}

const char *
PlaybackTokens::why (Verdict verdict)
{
  switch (verdict) {
  case Verdict::kOk:
    return "valid";
  case Verdict::kMissing:
    return "needs a playback token (?token=)";
  case Verdict::kMalformed:
    return "the playback token is malformed (<expiry>.<64 hex digits>)";
  case Verdict::kExpired:
    return "the playback token has expired";
  case Verdict::kWrong:
    return "the playback token is not valid for this stream";
  }
  return "";
}

std::string_view
playback_token_in (std::string_view query)
{
  std::string_view token;
  for_each_query_param (query, [&] (std::string_view key, std::string_view value) {
    if (key == "token" && token.empty ())
      token = value;
  });
  return token;
}

std::string
add_token_to_playlist (std::string_view playlist, std::string_view token)
{
  static constexpr std::string_view kUri = "URI=\"";
  std::string out;
  out.reserve (playlist.size () + 64 * (token.size () + 7));
  while (!playlist.empty ()) {
    const size_t nl = playlist.find ('\n');
    std::string_view line = playlist.substr (0, nl);
    std::string_view end = "";
    if (!line.empty () && line.back () == '\r') {
      line.remove_suffix (1);
      end = "\r";
    }
    if (line.empty ()) {
      // nothing to rewrite
    } else if (line[0] != '#') {
      append_uri (out, line, token);
      line = {};
    } else {
      // Every URI="..." attribute of the tag.
      size_t at;
      while ((at = line.find (kUri)) != std::string_view::npos) {
        const size_t start = at + kUri.size ();
        const size_t close = line.find ('"', start);
        if (close == std::string_view::npos)
          break;
        out.append (line.substr (0, start));
        append_uri (out, line.substr (start, close - start), token);
        line.remove_prefix (close);
      }
    }
    out.append (line).append (end);
    if (nl == std::string_view::npos)
      break;
    out.push_back ('\n');
    playlist.remove_prefix (nl + 1);
  }
  return out;
}

} // namespace mirror
