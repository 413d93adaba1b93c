// SPDX-License-Identifier: LGPL-2.1-or-later
// What the HTTP/3 front end tests share (test_quic_frontend.cpp,
// test_quic_workers.cpp): a fixture base holding a TLS identity in a
// temporary directory and a hand-fed store with one live stream, a UDP
// peer for hand-made datagrams, random bytes, and running a function on a
// GMainContext's thread for its result.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <netinet/in.h>

#include <glib.h>

#include "../hls/hls_test_feed.h"
#include "hls/media_store.h"
#include "origin/tls_identity.h"
#include "util/main_context.h"

namespace mirror::test {

// Runs fn on the context's thread and waits for its result.
template <typename T>
T
on_context (GMainContext *context, std::function<T ()> fn)
{
  std::promise<T> result;
  auto f = result.get_future ();
  invoke_on (context, [&] () { result.set_value (fn ()); });
  return f.get ();
}

// 127.0.0.1:port.
sockaddr_in loopback (uint16_t port);

// len random bytes.
std::vector<uint8_t> random_bytes (size_t len);

// A QUIC v1 Initial with a client-chosen DCID of dcid_len random bytes, no
// SCID, no token, padded to 1200 bytes.
std::vector<uint8_t> bare_initial (size_t dcid_len);

// A UDP socket connected to 127.0.0.1:port from a source port of its own,
// for hand-made datagrams.
class UdpPeer {
 public:
  explicit UdpPeer (uint16_t port);
  ~UdpPeer ();
  UdpPeer (const UdpPeer &) = delete;
  UdpPeer &operator= (const UdpPeer &) = delete;

  void send (const std::vector<uint8_t> &d);
  // The next datagram within timeout_ms (stretched by MIRROR_TEST_SLOWDOWN,
  // as scaled () does), or nothing.
  std::optional<std::vector<uint8_t>> receive (int timeout_ms);

 private:
  int fd_ = -1;
};

// A fixture with a TLS identity (generated into a temporary directory) and
// a store with stream "cam1": its init, two segments and part 2.0 (the
// preload hint is 2.1).
class QuicStoreTest : public ::testing::Test {
 protected:
  // From SetUp (); tmpdir_template as for g_dir_make_tmp.
  void open_store (const char *tmpdir_template);
  // From TearDown (), once the front ends are gone.
  void close_store ();

  std::string tmpdir_;
  TlsIdentity identity_;
  MediaStore media_;
  std::shared_ptr<StreamStore> stream_;
  std::unique_ptr<Feed> feed_;
};

} // namespace mirror::test
