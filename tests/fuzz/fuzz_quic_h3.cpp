// SPDX-License-Identifier: LGPL-2.1-or-later
// The HTTP/3 front end past the handshake: a real HTTP/3 client (tools/h3,
// ngtcp2 + nghttp3) connects to a QuicFrontend on loopback and asks for
// the paths the input names, while the front end's own ngtcp2 and nghttp3
// callbacks fail where the input says (util/fault_point.h). Whatever fails,
// the front end must stay up: the next input's client must get answers.
// Input: a fault plan (which of the front end's callback calls fail, as
// 16-bit call numbers), then request paths, one a line.
#include <fuzzer/FuzzedDataProvider.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <glib.h>

#include "fuzz_check.h"
#include "fuzz_origin.h"
#include "h3_client.h"
#include "origin/quic_frontend.h"
#include "origin/tls_identity.h"
#include "util/fault_point.h"

namespace {

mirror::fuzz::Origin *origin;
std::string pin;

// The fault plan: which calls of the front end's callbacks fail, counted
// from the start of an input. Atomics: the front end's thread reads them,
// maybe still for the connection before.
constexpr uint32_t kNever = UINT32_MAX;
std::array<std::atomic<uint32_t>, 4> failing = { kNever, kNever, kNever, kNever };
std::atomic<uint32_t> calls{ 0 };

bool
fail_this_call ()
{
  const uint32_t call = calls.fetch_add (1);
  for (const auto &f : failing)
    if (f.load () == call)
      return true;
  return false;
}

void
set_plan (const std::vector<uint32_t> &plan)
{
  for (size_t i = 0; i < failing.size (); ++i)
    failing[i] = i < plan.size () ? plan[i] : kNever;
  calls = 0;
}

// Runs requests on one new connection until they are answered (or fail),
// within a few seconds; how many came back 200.
int
run_client (const std::vector<std::string> &paths)
{
  mirror::tools::EventLoop loop;
  mirror::tools::ClientConfig config;
  config.tls.spki_pin = pin;
  config.connect_timeout_ns = 2 * mirror::tools::kNsPerSecond;
  config.idle_timeout_ns = 2 * mirror::tools::kNsPerSecond;
  auto url = mirror::tools::Url::parse ("https://127.0.0.1:" + std::to_string (origin->port ()) + "/");
  sockaddr_storage addr{};
  auto *in = reinterpret_cast<sockaddr_in *> (&addr);
  in->sin_family = AF_INET;
  in->sin_port = htons (origin->port ());
  in->sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  auto conn = mirror::tools::connect_http (loop, *url, addr, sizeof (sockaddr_in),
                                           mirror::tools::Protocol::h3, config);
  size_t pending = paths.size ();
  int ok = 0;
  for (const auto &path : paths) {
    mirror::tools::Request request;
    request.path = path;
    request.timeout_ns = 2 * mirror::tools::kNsPerSecond;
    conn->fetch (std::move (request), [&] (mirror::tools::Response &&r) {
      ok += r.ok () && r.status == 200;
      if (--pending == 0)
        loop.quit ();
    });
  }
  loop.run_until (g_get_monotonic_time () * 1000 + 4 * mirror::tools::kNsPerSecond);
  conn->close ();
  loop.run_until (g_get_monotonic_time () * 1000 + 20 * 1000000);
  conn.reset ();
  return ok;
}

} // namespace

extern "C" int
LLVMFuzzerInitialize (int *, char ***)
{
  g_log_set_always_fatal (GLogLevelFlags (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR));
  origin = mirror::fuzz::quic_origin ("mirror-fuzz-h3-XXXXXX", &pin);
  mirror::fault_hook = fail_this_call;
  return 0;
}

extern "C" int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  FuzzedDataProvider in (data, size);
  std::vector<uint32_t> plan;
  const int faults = in.ConsumeIntegralInRange<int> (0, 4);
  for (int i = 0; i < faults; ++i)
    plan.push_back (in.ConsumeIntegralInRange<uint32_t> (0, 400));
  std::vector<std::string> paths;
  const std::string rest = in.ConsumeRemainingBytesAsString ();
  size_t at = 0;
  while (at < rest.size () && paths.size () < 6) {
    size_t nl = rest.find ('\n', at);
    std::string path = rest.substr (at, nl == std::string::npos ? nl : nl - at);
    if (!path.empty () && path[0] == '/' && path.find_first_of ("\r\n") == std::string::npos)
      paths.push_back (path);
    at = nl == std::string::npos ? rest.size () : nl + 1;
  }
  if (paths.empty ())
    paths.push_back ("/live/cam1/index.m3u8");

  set_plan (plan);
  run_client (paths);
  set_plan ({});
  // Whatever failed, a fresh connection is served.
  if (!plan.empty ())
    FUZZ_CHECK (run_client ({ "/live/cam1/video.m3u8" }) == 1,
                "the front end no longer answers after its callbacks failed");
  return 0;
}
