// SPDX-License-Identifier: LGPL-2.1-or-later
// mirror-h3get: one GET over HTTP/3 (or HTTP/2, HTTP/1.1), printed with its
// timing; or --follow: a low-latency player's requests against a live LL-HLS
// media playlist, with each part's latency from its availability.
//
//   mirror-h3get [--h2|--http1] [-I] [-v] [--pin SPKI] URL
//   mirror-h3get --follow [--seconds N] [--h2|--http1] URL-of-media-playlist
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <getopt.h>
#include <string>

#include "h3_client.h"
#include "hls_viewer.h"
#include "json_out.h"

using namespace mirror::tools;

namespace {

void
usage (FILE *out)
{
  fprintf (out, "usage: mirror-h3get [options] URL\n"
                "       mirror-h3get --follow [--seconds N] [options] URL-of-media-playlist\n"
                "\n"
                "  --h2             HTTP/2 over TLS (ALPN h2; https:// only) instead of HTTP/3\n"
                "  --http1          HTTP/1.1 (TLS for https://) instead of HTTP/3\n"
                "  -I, --head       status, headers and timing only (the request is still a GET)\n"
                "  -o, --output F   write the body to F\n"
                "  -H, --header H   extra request header \"Name: value\"\n"
                "  -v, --verbose    connection events on stderr; -vv adds ngtcp2's log\n"
                "  --pin SPKI       require this server key (base64 SHA-256 of its SPKI)\n"
                "  --verify         check the certificate chain and name (system trust)\n"
                "  --cafile F       extra trust anchors for --verify\n"
                "  --timeout S      give up on the connection/request after S seconds (15)\n"
                "  --window BYTES   HTTP/3 and HTTP/2 receive windows (stream and connection)\n"
                "                   to start with and keep: small ones exercise flow-control\n"
                "                   credit\n"
                "  --no-udp-gro     HTTP/3: datagrams one by one, not a server's GSO batch\n"
                "                   whole (UDP_GRO)\n"
                "  --fail           exit 22 on an HTTP status >= 400\n"
                "  --json           one JSON object on stdout instead of text\n"
                "  --follow         follow the live edge with blocking reloads, fetch every part\n"
                "  --seconds N      how long to follow (10)\n"
                "\n"
                "The certificate is not checked unless --pin or --verify is given (the\n"
                "Origin's is self-signed).\n");
}

bool
looks_textual (const Response &r)
{
  const std::string *ct = r.header ("content-type");
  if (ct) {
    for (const char *t : { "text", "json", "mpegurl", "xml", "javascript" })
      if (ct->find (t) != std::string::npos)
        return true;
    return false;
  }
  for (unsigned char c : r.body)
    if (c < 9 || (c > 13 && c < 32))
      return false;
  return true;
}

// How the text output names the protocol; JSON says "h3", "h2", "http/1.1".
const char *
protocol_title (Protocol protocol)
{
  switch (protocol) {
  case Protocol::h3:
    return "HTTP/3";
  case Protocol::h2:
    return "HTTP/2";
  case Protocol::http1:
    break;
  }
  return "HTTP/1.1";
}

const char *
protocol_token (Protocol protocol)
{
  switch (protocol) {
  case Protocol::h3:
    return "h3";
  case Protocol::h2:
    return "h2";
  case Protocol::http1:
    break;
  }
  return "http/1.1";
}

double
ms (int64_t from, int64_t to)
{
  return from && to ? (to - from) / 1e6 : NAN;
}

int
do_get (EventLoop &loop, const Url &url, const sockaddr_storage &addr, socklen_t addrlen,
        Protocol protocol, const ClientConfig &config, Request req, bool head_only,
        const std::string &output, bool fail_on_http_error, bool json)
{
  auto conn = connect_http (loop, url, addr, addrlen, protocol, config);
  std::optional<Response> result;
  conn->fetch (std::move (req), [&] (Response &&r) {
    result = std::move (r);
    conn->close ();
    loop.quit ();
  });
  loop.run ();
  // Let the CONNECTION_CLOSE go out and nothing else linger.
  loop.run_until (monotonic_ns () + 5 * kNsPerMs);
  const ConnectionInfo &info = conn->info ();
  if (!result) {
    fprintf (stderr, "mirror-h3get: no response\n");
    return 1;
  }
  Response &r = *result;
  const char *proto = protocol_title (protocol);
  double t_connect = ms (info.started_ns, info.connected_ns);
  double t_handshake = ms (info.started_ns, info.handshake_ns);
  double t_first = ms (info.started_ns, r.headers_ns);
  double t_total = ms (info.started_ns, r.done_ns);

  if (!output.empty () && r.ok ()) {
    std::ofstream f (output, std::ios::binary);
    f.write (r.body.data (), (std::streamsize)r.body.size ());
    if (!f) {
      fprintf (stderr, "mirror-h3get: cannot write %s\n", output.c_str ());
      return 1;
    }
  }
  if (json) {
    JsonWriter j;
    j.begin_object ();
    j.field ("url", url.to_string ());
    j.field ("protocol", info.protocol);
    j.field ("tls", info.tls_details);
    j.field ("peer_pin", info.peer_pin);
    j.field ("error", r.ok () ? "" : error_kind_name (r.error));
    j.field ("error_text", r.error_text);
    j.field ("status", r.status);
    j.key ("headers");
    j.begin_object ();
    for (auto &[n, v] : r.headers)
      j.field (n, v);
    j.end_object ();
    j.field ("body_size", (double)r.body_size);
    if (!head_only)
      j.field (looks_textual (r) ? "body" : "body_base64_head",
               looks_textual (r) ? r.body : base64 (r.body.substr (0, 64)));
    j.field ("used_retry", info.used_retry);
    if (info.protocol == "h3") {
      j.field ("datagrams_received", (double)info.datagrams_received);
      j.field ("gro_reads", (double)info.gro_reads);
    }
    j.key ("timing_ms");
    j.begin_object ();
    j.field ("connect", t_connect);
    j.field ("handshake", t_handshake);
    j.field ("first_byte", t_first);
    j.field ("total", t_total);
    j.end_object ();
    j.end_object ();
    printf ("%s\n", j.str ().c_str ());
  } else if (r.ok ()) {
    printf ("%s %d\n", proto, r.status);
    for (auto &[n, v] : r.headers)
      printf ("%s: %s\n", n.c_str (), v.c_str ());
    printf ("\n");
    if (!head_only && output.empty ()) {
      if (looks_textual (r)) {
        fwrite (r.body.data (), 1, r.body.size (), stdout);
        if (!r.body.empty () && r.body.back () != '\n')
          printf ("\n");
      } else {
        std::string box = r.body.size () >= 8 ? r.body.substr (4, 4) : "";
        for (auto &c : box)
          if (c < 32 || c > 126)
            c = '.';
        printf ("[%llu bytes of binary body%s%s%s; -o FILE saves it]\n",
                (unsigned long long)r.body_size, box.empty () ? "" : ", first box '", box.c_str (),
                box.empty () ? "" : "'");
      }
    }
  }
  if (!json) {
    fprintf (stderr, "* %s %s%s%s\n", info.protocol.c_str (), url.authority ().c_str (),
             info.tls_details.empty () ? "" : ", ", info.tls_details.c_str ());
    if (!info.peer_pin.empty ())
      fprintf (stderr, "* server SPKI pin %s\n", info.peer_pin.c_str ());
    if (info.used_retry)
      fprintf (stderr, "* the server asked for address validation (Retry)\n");
    if (r.ok ())
      fprintf (stderr,
               "* timing: connect %.2f ms, handshake %.2f ms, first byte %.2f ms, total %.2f ms, "
               "%llu body bytes\n",
               t_connect, t_handshake, t_first, t_total, (unsigned long long)r.body_size);
    else
      fprintf (stderr, "* failed after %.2f ms (handshake %s)\n", t_total,
               info.handshake_ns ? "done" : "not done");
  }
  if (!r.ok ()) {
    if (!json)
      fprintf (stderr, "mirror-h3get: %s: %s\n", error_kind_name (r.error), r.error_text.c_str ());
    return 1;
  }
  return fail_on_http_error && r.status >= 400 ? 22 : 0;
}

int
do_follow (EventLoop &loop, const Url &url, const sockaddr_storage &addr, socklen_t addrlen,
           Protocol protocol, const ClientConfig &config, double seconds, double timeout_s,
           bool json)
{
  FollowStats stats;
  stats.start_ns = monotonic_ns ();
  HlsViewer::Options opt;
  opt.protocol = protocol;
  opt.playlist_url = url;
  opt.addr = addr;
  opt.addrlen = addrlen;
  opt.config = config;
  opt.request_timeout_ns = (int64_t)(timeout_s * kNsPerSecond);
  std::vector<PartEvent> parts;
  opt.on_part = [&] (const PartEvent &ev) {
    parts.push_back (ev);
    if (json)
      return;
    printf ("part %lld.%d  %7llu B  latency %7.1f ms  %s%s\n", (long long)ev.position.first,
            ev.position.second, (unsigned long long)ev.bytes, ev.latency_s * 1e3,
            ev.first_box.c_str (), ev.caught_up ? "  (caught up: fetched late)" : "");
    fflush (stdout);
  };
  opt.on_error = [&] (const std::string &kind, const std::string &text) {
    if (!json)
      fprintf (stderr, "error %s: %s\n", kind.c_str (), text.c_str ());
  };
  HlsViewer viewer (loop, opt, stats);
  viewer.start ();
  loop.run_until (stats.start_ns + (int64_t)(seconds * kNsPerSecond));
  viewer.stop ();
  loop.run_until (monotonic_ns () + 5 * kNsPerMs);

  std::vector<double> lat;
  for (auto &s : stats.part_latencies)
    lat.push_back (s.latency_s * 1e3);
  uint64_t responses = 0, errors = 0;
  for (auto &s : stats.seconds) {
    responses += s.responses;
    errors += s.errors;
  }
  if (json) {
    JsonWriter j;
    j.begin_object ();
    j.field ("url", url.to_string ());
    j.field ("protocol", protocol_token (protocol));
    j.field ("seconds", seconds);
    j.field ("parts", (double)stats.parts);
    j.field ("parts_caught_up", (double)stats.parts_caught_up);
    j.field ("hints_withdrawn", (double)stats.hints_withdrawn);
    j.field ("responses", (double)responses);
    j.field ("latency_p50_ms", percentile (lat, 50));
    j.field ("latency_p99_ms", percentile (lat, 99));
    j.field ("latency_max_ms", percentile (lat, 100));
    j.field ("errors", stats.errors);
    j.field ("first_errors", stats.first_errors);
    j.key ("part_list");
    j.begin_array ();
    for (auto &p : parts) {
      j.begin_object ();
      j.field ("msn", (double)p.position.first);
      j.field ("part", p.position.second);
      j.field ("uri", p.uri);
      j.field ("status", p.status);
      j.field ("bytes", (double)p.bytes);
      j.field ("box", p.first_box);
      j.field ("latency_ms", p.latency_s * 1e3);
      j.field ("caught_up", p.caught_up);
      j.end_object ();
    }
    j.end_array ();
    j.end_object ();
    printf ("%s\n", j.str ().c_str ());
  } else {
    printf ("summary: %llu parts (%llu fetched late, %llu hints withdrawn at segment ends) in "
            "%.1f s over %s, %llu responses; latency from availability p50 %.1f ms, p99 %.1f ms, "
            "max %.1f ms; %llu errors\n",
            (unsigned long long)stats.parts, (unsigned long long)stats.parts_caught_up,
            (unsigned long long)stats.hints_withdrawn, seconds, protocol_title (protocol),
            (unsigned long long)responses, percentile (lat, 50), percentile (lat, 99),
            percentile (lat, 100), (unsigned long long)errors);
    for (auto &[k, v] : stats.errors)
      printf ("  errors %s: %llu\n", k.c_str (), (unsigned long long)v);
  }
  return stats.parts > 0 && errors == 0 ? 0 : 1;
}

} // namespace

int
main (int argc, char **argv)
{
  static const option long_options[] = {
    { "http1", no_argument, nullptr, '1' },
    { "h2", no_argument, nullptr, '2' },
    { "head", no_argument, nullptr, 'I' },
    { "output", required_argument, nullptr, 'o' },
    { "header", required_argument, nullptr, 'H' },
    { "verbose", no_argument, nullptr, 'v' },
    { "pin", required_argument, nullptr, 'p' },
    { "verify", no_argument, nullptr, 'V' },
    { "cafile", required_argument, nullptr, 'c' },
    { "timeout", required_argument, nullptr, 't' },
    { "fail", no_argument, nullptr, 'f' },
    { "json", no_argument, nullptr, 'j' },
    { "follow", no_argument, nullptr, 'F' },
    { "seconds", required_argument, nullptr, 's' },
    { "help", no_argument, nullptr, 'h' },
    { "window", required_argument, nullptr, 'W' },
    { "no-udp-gro", no_argument, nullptr, 'G' },
    { nullptr, 0, nullptr, 0 },
  };
  // GnuTLS writes to TCP sockets with plain send (): a peer that closes
  // must not kill us with SIGPIPE.
  signal (SIGPIPE, SIG_IGN);
  Protocol protocol = Protocol::h3;
  int protocol_options = 0;
  bool head_only = false, fail_on_http_error = false, json = false, follow = false;
  std::string output;
  double timeout_s = 15, seconds = 10;
  ClientConfig config;
  std::vector<std::pair<std::string, std::string>> headers;
  int c;
  while ((c = getopt_long (argc, argv, "Io:H:vh", long_options, nullptr)) != -1) {
    switch (c) {
    case '1':
      protocol = Protocol::http1;
      ++protocol_options;
      break;
    case '2':
      protocol = Protocol::h2;
      ++protocol_options;
      break;
    case 'I':
      head_only = true;
      break;
    case 'o':
      output = optarg;
      break;
    case 'H': {
      std::string h = optarg;
      size_t colon = h.find (':');
      if (colon == std::string::npos) {
        fprintf (stderr, "mirror-h3get: header \"%s\" has no colon\n", optarg);
        return 2;
      }
      std::string name = h.substr (0, colon), value = h.substr (colon + 1);
      for (auto &ch : name)
        ch = (char)tolower ((unsigned char)ch);
      while (!value.empty () && value[0] == ' ')
        value.erase (0, 1);
      headers.emplace_back (name, value);
      break;
    }
    case 'v':
      ++config.verbose;
      break;
    case 'p':
      config.tls.spki_pin = optarg;
      if (config.tls.spki_pin.rfind ("sha256/", 0) == 0)
        config.tls.spki_pin.erase (0, 7);
      break;
    case 'V':
      config.tls.verify_chain = true;
      break;
    case 'c':
      config.tls.ca_file = optarg;
      break;
    case 't':
      timeout_s = atof (optarg);
      break;
    case 'f':
      fail_on_http_error = true;
      break;
    case 'j':
      json = true;
      break;
    case 'F':
      follow = true;
      break;
    case 's':
      seconds = atof (optarg);
      break;
    case 'G':
      config.udp_gro = false;
      break;
    case 'W': {
      uint64_t w = strtoull (optarg, nullptr, 10);
      if (w < 1024) {
        fprintf (stderr, "mirror-h3get: --window %s is under 1024 bytes\n", optarg);
        return 2;
      }
      config.stream_window = config.max_stream_window = w;
      config.connection_window = config.max_connection_window = w;
      break;
    }
    case 'h':
      usage (stdout);
      return 0;
    default:
      usage (stderr);
      return 2;
    }
  }
  if (optind != argc - 1) {
    usage (stderr);
    return 2;
  }
  auto url = Url::parse (argv[optind]);
  if (!url) {
    fprintf (stderr, "mirror-h3get: \"%s\" is not an http:// or https:// URL\n", argv[optind]);
    return 2;
  }
  if (protocol_options > 1) {
    fprintf (stderr, "mirror-h3get: --h2 and --http1 exclude each other\n");
    return 2;
  }
  if (protocol != Protocol::http1 && url->scheme != "https") {
    fprintf (stderr, "mirror-h3get: %s needs an https:// URL (or use --http1)\n",
             protocol_title (protocol));
    return 2;
  }
  config.connect_timeout_ns = (int64_t)(timeout_s * kNsPerSecond);
  sockaddr_storage addr;
  socklen_t addrlen;
  std::string error;
  if (!resolve (*url, &addr, &addrlen, &error)) {
    fprintf (stderr, "mirror-h3get: %s\n", error.c_str ());
    return 1;
  }
  EventLoop loop;
  if (follow)
    return do_follow (loop, *url, addr, addrlen, protocol, config, seconds, timeout_s, json);
  Request req;
  req.path = url->path_and_query;
  req.headers = headers;
  req.timeout_ns = (int64_t)(timeout_s * kNsPerSecond);
  return do_get (loop, *url, addr, addrlen, protocol, config, std::move (req), head_only, output,
                 fail_on_http_error, json);
}
