// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ingest/ingest_uri.h"

#include <glib.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>

namespace mirror {

namespace {

std::string
unescape (const std::string &text)
{
  gchar *s = g_uri_unescape_string (text.c_str (), nullptr);
  std::string out = s ? s : text;
  g_free (s);
  return out;
}

bool
parse_int (const std::string &text, int64_t min, int64_t max, int64_t *out)
{
  if (text.empty ())
    return false;
  errno = 0;
  char *end = nullptr;
  long long v = std::strtoll (text.c_str (), &end, 0);
  if (errno != 0 || *end != '\0' || v < min || v > max)
    return false;
  *out = v;
  return true;
}

std::string
upper (const std::string &text)
{
  gchar *s = g_ascii_strup (text.c_str (), -1);
  std::string out = s;
  g_free (s);
  return out;
}

bool
fail (std::string *error, std::string message)
{
  if (error)
    *error = std::move (message);
  return false;
}

// "host:port", "[v6]:port" or ":port".
bool
split_authority (const std::string &authority, std::string *host, uint16_t *port,
                 std::string *error)
{
  std::string port_text;
  if (!authority.empty () && authority[0] == '[') {
    size_t close = authority.find (']');
    if (close == std::string::npos || close + 1 >= authority.size () || authority[close + 1] != ':')
      return fail (error, "\"" + authority + "\" is not [address]:port");
    *host = authority.substr (1, close - 1);
    port_text = authority.substr (close + 2);
  } else {
    size_t colon = authority.rfind (':');
    if (colon == std::string::npos)
      return fail (error, "no port in \"" + authority + "\" (want host:port or :port)");
    *host = authority.substr (0, colon);
    port_text = authority.substr (colon + 1);
  }
  int64_t p = 0;
  if (!parse_int (port_text, 1, 65535, &p)
      || port_text.find_first_not_of ("0123456789") != std::string::npos)
    return fail (error, "port \"" + port_text + "\" is not a number from 1 to 65535");
  *port = (uint16_t)p;
  return true;
}

bool
parse_srt (IngestUri &uri, std::map<std::string, std::string> &query, std::string *error)
{
  std::string mode = query.count ("mode") ? query["mode"] : "listener";
  query.erase ("mode");
  if (mode == "caller") {
    uri.kind = IngestUri::Kind::kSrtCaller;
    if (uri.host.empty ())
      return fail (error, "mode=caller needs the listener's host (srt://host:port?mode=caller)");
  } else if (mode == "listener") {
    uri.kind = IngestUri::Kind::kSrtListener;
  } else {
    return fail (error, "mode \"" + mode + "\" is not supported (listener or caller)");
  }

  if (query.count ("streamid")) {
    uri.stream_id = query["streamid"];
    query.erase ("streamid");
  }
  if (uri.kind == IngestUri::Kind::kSrtListener && uri.stream_id.empty ())
    return fail (error,
                 "no streamid (the SRT hub routes callers by it: srt://:PORT?streamid=NAME)");

  if (query.count ("latency")) {
    int64_t v = 0;
    if (!parse_int (query["latency"], 0, 60000, &v))
      return fail (error,
                   "latency \"" + query["latency"] + "\" is not milliseconds from 0 to 60000");
    uri.latency_ms = v;
    query.erase ("latency");
  }
  if (query.count ("passphrase")) {
    uri.passphrase = query["passphrase"];
    query.erase ("passphrase");
    if (uri.passphrase.size () < 10 || uri.passphrase.size () > 79)
      return fail (error, "passphrase must have 10 to 79 characters");
  }
  if (query.count ("pbkeylen")) {
    int64_t v = 0;
    if (!parse_int (query["pbkeylen"], 0, 32, &v) || (v != 0 && v != 16 && v != 24 && v != 32))
      return fail (error, "pbkeylen \"" + query["pbkeylen"] + "\" is not 16, 24 or 32");
    uri.pbkeylen = (int)v;
    query.erase ("pbkeylen");
  }
  return true;
}

bool
parse_rtp (IngestUri &uri, std::map<std::string, std::string> &query, std::string *error)
{
  uri.kind = IngestUri::Kind::kRtp;
  if (uri.port == 65535)
    return fail (error, "port 65535 leaves no room for RTCP on port + 1");

  if (!query.count ("ssrc"))
    return fail (error,
                 "no ssrc (the RTP hub routes sessions by it: rtp://:PORT?ssrc=N&encoding=H265)");
  int64_t v = 0;
  if (!parse_int (query["ssrc"], 0, G_MAXUINT32, &v))
    return fail (error, "ssrc \"" + query["ssrc"] + "\" is not a 32-bit number");
  uri.ssrc = (uint32_t)v;
  query.erase ("ssrc");

  if (!query.count ("encoding"))
    return fail (error, "no encoding (H265, H264 or AAC)");
  std::string encoding = upper (query["encoding"]);
  if (encoding == "MPEG4-GENERIC")
    encoding = "AAC";
  if (encoding != "H265" && encoding != "H264" && encoding != "AAC")
    return fail (error, "encoding \"" + query["encoding"] + "\" is not H265, H264 or AAC");
  uri.encoding = encoding;
  query.erase ("encoding");

  if (query.count ("source")) {
    uri.source = query["source"];
    query.erase ("source");
    if (!g_hostname_is_ip_address (uri.source.c_str ()))
      return fail (error, "source \"" + uri.source + "\" is not an IP address");
  }
  if (query.count ("pt")) {
    if (!parse_int (query["pt"], 0, 127, &v))
      return fail (error, "pt \"" + query["pt"] + "\" is not a payload type from 0 to 127");
    uri.payload_type = (int)v;
    query.erase ("pt");
  }
  if (query.count ("clock-rate")) {
    if (!parse_int (query["clock-rate"], 1000, 1000000, &v))
      return fail (error,
                   "clock-rate \"" + query["clock-rate"] + "\" is not Hz from 1000 to 1000000");
    uri.clock_rate = (int)v;
    query.erase ("clock-rate");
  }
  if (query.count ("config")) {
    uri.config = query["config"];
    query.erase ("config");
    if (uri.config.empty () || uri.config.size () % 2 != 0
        || uri.config.find_first_not_of ("0123456789abcdefABCDEF") != std::string::npos)
      return fail (error, "config \"" + uri.config + "\" is not hexadecimal bytes");
  }
  return true;
}

} // namespace

std::string
redact_uri_passphrase (const std::string &text)
{
  std::string out = text;
  size_t at = out.find ("passphrase=");
  while (at != std::string::npos) {
    at += strlen ("passphrase=");
    size_t end = out.find ('&', at);
    out.replace (at, end == std::string::npos ? std::string::npos : end - at, "***");
    at = out.find ("passphrase=", at);
  }
  return out;
}

std::string
IngestUri::redacted () const
{
  return redact_uri_passphrase (text);
}

int
IngestUri::effective_payload_type () const
{
  if (payload_type >= 0)
    return payload_type;
  if (encoding == "H264")
    return 97;
  if (encoding == "AAC")
    return 98;
  return 96;
}

int
IngestUri::effective_clock_rate () const
{
  if (clock_rate > 0)
    return clock_rate;
  return encoding == "AAC" ? 48000 : 90000;
}

std::optional<IngestUri>
parse_ingest_uri (const std::string &text, std::string *error)
{
  IngestUri uri;
  uri.text = text;
  if (text.empty ()) {
    fail (error, "no uri set (want srt://:PORT?streamid=NAME, srt://HOST:PORT?mode=caller or "
                 "rtp://:PORT?ssrc=N&encoding=H265)");
    return std::nullopt;
  }

  size_t sep = text.find ("://");
  if (sep == std::string::npos) {
    fail (error, "not a URI (want srt://... or rtp://...)");
    return std::nullopt;
  }
  std::string scheme = text.substr (0, sep);
  if (scheme != "srt" && scheme != "rtp") {
    fail (error, "unknown scheme \"" + scheme + "\" (srt or rtp)");
    return std::nullopt;
  }

  std::string rest = text.substr (sep + 3);
  std::string query_text;
  size_t q = rest.find ('?');
  if (q != std::string::npos) {
    query_text = rest.substr (q + 1);
    rest = rest.substr (0, q);
  }
  if (!rest.empty () && rest.back () == '/')
    rest.pop_back ();
  if (!split_authority (rest, &uri.host, &uri.port, error))
    return std::nullopt;

  std::map<std::string, std::string> query;
  if (!query_text.empty ()) {
    gchar **pairs = g_strsplit (query_text.c_str (), "&", -1);
    for (gchar **p = pairs; *p; p++) {
      if (**p == '\0')
        continue;
      const gchar *eq = strchr (*p, '=');
      std::string key = eq ? std::string (*p, eq - *p) : std::string (*p);
      std::string value = eq ? unescape (eq + 1) : std::string ();
      query[unescape (key)] = value;
    }
    g_strfreev (pairs);
  }

  bool ok = scheme == "srt" ? parse_srt (uri, query, error) : parse_rtp (uri, query, error);
  if (!ok)
    return std::nullopt;
  if (!query.empty ()) {
    fail (error, "unknown query key \"" + query.begin ()->first + "\"");
    return std::nullopt;
  }
  return uri;
}

} // namespace mirror
