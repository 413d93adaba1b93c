// SPDX-License-Identifier: LGPL-2.1-or-later
// What the HTTP/3 front end tests share; see quic_test_util.h.
#include "quic_test_util.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../common/wait_until.h"

namespace mirror::test {

sockaddr_in
loopback (uint16_t port)
{
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons (port);
  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  return a;
}

std::vector<uint8_t>
random_bytes (size_t len)
{
  std::vector<uint8_t> d (len);
  for (auto &b : d)
    b = (uint8_t)g_random_int ();
  return d;
}

std::vector<uint8_t>
bare_initial (size_t dcid_len)
{
  std::vector<uint8_t> initial = { 0xc3, 0x00, 0x00, 0x00, 0x01, (uint8_t)dcid_len };
  auto dcid = random_bytes (dcid_len);
  initial.insert (initial.end (), dcid.begin (), dcid.end ());
  initial.push_back (0);    // no SCID
  initial.push_back (0);    // no token
  initial.push_back (0x44); // length 1024
  initial.push_back (0x00);
  initial.resize (1200, 0);
  return initial;
}

UdpPeer::UdpPeer (uint16_t port)
{
  fd_ = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in to = loopback (port);
  connect (fd_, reinterpret_cast<sockaddr *> (&to), sizeof to);
}

UdpPeer::~UdpPeer ()
{
  close (fd_);
}

void
UdpPeer::send (const std::vector<uint8_t> &d)
{
  ::send (fd_, d.data (), d.size (), 0);
}

std::optional<std::vector<uint8_t>>
UdpPeer::receive (int timeout_ms)
{
  pollfd p{ fd_, POLLIN, 0 };
  if (poll (&p, 1, int (scaled (std::chrono::milliseconds (timeout_ms)).count ())) <= 0)
    return std::nullopt;
  std::vector<uint8_t> buf (65536);
  ssize_t n = recv (fd_, buf.data (), buf.size (), 0);
  if (n < 0)
    return std::nullopt;
  buf.resize ((size_t)n);
  return buf;
}

void
QuicStoreTest::open_store (const char *tmpdir_template)
{
  g_autofree char *tmpdir = g_dir_make_tmp (tmpdir_template, nullptr);
  ASSERT_TRUE (tmpdir);
  tmpdir_ = tmpdir;
  std::string error;
  auto identity = load_or_create_tls_identity ("", "", tmpdir_, &error);
  ASSERT_TRUE (identity) << error;
  identity_ = *identity;

  stream_ = media_.open_stream ("cam1", default_config ());
  stream_->add_rendition (video_info ("video"));
  stream_->set_init ("video", fake_init ());
  feed_ = std::make_unique<Feed> (*stream_, "video");
  feed_->segments (2);
  feed_->next_segment_part (); // 2.0; the hint is 2.1
}

void
QuicStoreTest::close_store ()
{
  feed_.reset ();
  stream_.reset ();
  media_.remove_stream ("cam1");
  if (!tmpdir_.empty ()) {
    gchar *argv[] = { (gchar *)"rm", (gchar *)"-rf", (gchar *)tmpdir_.c_str (), nullptr };
    g_spawn_sync (nullptr, argv, nullptr, G_SPAWN_SEARCH_PATH, nullptr, nullptr, nullptr, nullptr,
                  nullptr, nullptr);
  }
}

} // namespace mirror::test
