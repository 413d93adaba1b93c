// SPDX-License-Identifier: LGPL-2.1-or-later
// The SoupAcceptor under a real SoupServer on loopback: every way a client
// can leave a connection ends with the connection closed on our side; quiet
// connections close after the idle timeout, held requests do not; a held
// request is released when its client goes.
#include <thread>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "../../common/wait_until.h"
#include "http/soup_acceptor.h"

namespace mirror {
namespace {

using namespace std::chrono_literals;

// One server on a private main context, pumped by the test itself.
class AcceptorTest : public ::testing::Test {
 protected:
  void start (int64_t idle_timeout_ms)
  {
    context_ = g_main_context_new ();
    g_main_context_push_thread_default (context_);
    server_ = soup_server_new ("server-header", "test", nullptr);
    soup_server_add_handler (
        server_, nullptr,
        [] (SoupServer *, SoupServerMessage *msg, const char *path, GHashTable *, gpointer self) {
          static_cast<AcceptorTest *> (self)->on_request (msg, path);
        },
        this, nullptr);
    SoupAcceptor::Limits limits;
    limits.idle_timeout_ms = idle_timeout_ms;
    acceptor_ = std::make_unique<SoupAcceptor> (server_, limits);
    std::string error;
    port_ = acceptor_->listen ("127.0.0.1", 0, nullptr, &error);
    ASSERT_NE (port_, 0) << error;
  }

  void TearDown () override
  {
    for (int fd : clients_)
      close (fd);
    acceptor_.reset ();
    if (held_)
      g_object_unref (held_);
    if (server_)
      g_object_unref (server_);
    if (context_) {
      g_main_context_pop_thread_default (context_);
      g_main_context_unref (context_);
    }
  }

  void on_request (SoupServerMessage *msg, const char *path)
  {
    requests_++;
    if (g_str_equal (path, "/hold")) {
      // Held until the test answers it, or its client leaves.
      held_ = SOUP_SERVER_MESSAGE (g_object_ref (msg));
      soup_server_message_pause (msg);
      hold_token_ = acceptor_->hold (msg, [this] () {
        gone_++;
        answer_held (503);
      });
      return;
    }
    soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_COPY, "ok", 2);
    soup_server_message_set_status (msg, 200, nullptr);
  }

  void answer_held (unsigned status)
  {
    if (!held_)
      return;
    acceptor_->release (hold_token_);
    soup_server_message_set_response (held_, "text/plain", SOUP_MEMORY_COPY, "late", 4);
    soup_server_message_set_status (held_, status, nullptr);
    soup_server_message_unpause (held_);
    g_clear_object (&held_);
  }

  // Waits while the server's context does the work.
  bool pump_until (const std::function<bool ()> &pred, std::chrono::milliseconds deadline = 10s)
  {
    return test::wait_until (pred, deadline,
                             [this] () { return g_main_context_iteration (context_, FALSE) != 0; });
  }

  int connect_client ()
  {
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    sockaddr_in to = {};
    to.sin_family = AF_INET;
    to.sin_port = htons (port_);
    to.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    EXPECT_EQ (connect (fd, (sockaddr *)&to, sizeof to), 0);
    clients_.push_back (fd);
    return fd;
  }

  void send_text (int fd, const std::string &text)
  {
    ASSERT_EQ (send (fd, text.data (), text.size (), MSG_NOSIGNAL), (ssize_t)text.size ());
  }

  // What the client has received so far (non-blocking); "" when nothing.
  std::string received (int fd)
  {
    std::string out;
    char buffer[4096];
    pollfd p = { fd, POLLIN, 0 };
    while (poll (&p, 1, 0) == 1 && (p.revents & POLLIN)) {
      ssize_t n = recv (fd, buffer, sizeof buffer, MSG_DONTWAIT);
      if (n <= 0)
        break;
      out.append (buffer, (size_t)n);
    }
    return out;
  }

  // Whether the server has closed the client's connection (EOF or reset).
  bool closed_by_server (int fd)
  {
    char c;
    ssize_t n = recv (fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  }

  std::string get (int fd, const char *path)
  {
    send_text (fd, std::string ("GET ") + path + " HTTP/1.1\r\nHost: test\r\n\r\n");
    std::string response;
    pump_until ([&] {
      response += received (fd);
      return response.find ("\r\n\r\n") != std::string::npos
             && response.size () >= response.find ("\r\n\r\n") + 6;
    });
    return response;
  }

  void forget_client (int fd)
  {
    clients_.erase (std::find (clients_.begin (), clients_.end (), fd));
  }

  GMainContext *context_ = nullptr;
  SoupServer *server_ = nullptr;
  std::unique_ptr<SoupAcceptor> acceptor_;
  uint16_t port_ = 0;
  std::vector<int> clients_;
  int requests_ = 0;
  SoupServerMessage *held_ = nullptr;
  uint64_t hold_token_ = 0;
  int gone_ = 0;
};

TEST_F (AcceptorTest, KeptAliveConnectionsTheClientClosesAreClosed)
{
  start (30000);
  for (int i = 0; i < 20; i++) {
    int fd = connect_client ();
    std::string first = get (fd, "/a");
    ASSERT_NE (first.find ("200 OK"), std::string::npos) << first;
    // Kept alive: a second request on the same connection.
    ASSERT_NE (get (fd, "/b").find ("ok"), std::string::npos);
    close (fd);
    forget_client (fd);
  }
  EXPECT_TRUE (pump_until ([&] { return acceptor_->stats ().open == 0; }))
      << acceptor_->stats ().open << " connections still open";
  EXPECT_EQ (acceptor_->stats ().accepted, 20u);
  EXPECT_EQ (acceptor_->stats ().closed, 20u);
  EXPECT_EQ (requests_, 40);
}

TEST_F (AcceptorTest, ClientsThatResetOrLeaveUnreadAreClosed)
{
  start (30000);
  for (int i = 0; i < 10; i++) {
    int fd = connect_client ();
    send_text (fd, "GET /a HTTP/1.1\r\nHost: test\r\n\r\n");
    ASSERT_TRUE (pump_until ([&] { return requests_ == i + 1; }));
    if (i % 2) {
      // A reset (SO_LINGER 0), as a crashed client's kernel sends.
      linger l = { 1, 0 };
      setsockopt (fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    close (fd); // the response unread
    forget_client (fd);
  }
  EXPECT_TRUE (pump_until ([&] { return acceptor_->stats ().open == 0; }))
      << acceptor_->stats ().open << " connections still open";
}

TEST_F (AcceptorTest, QuietConnectionsCloseAfterTheIdleTimeout)
{
  // Scaled: the kept connection, quiet once answered, must still be open
  // when the other two are accepted, however slow the box.
  start (test::scaled (300ms).count ());
  int kept = connect_client ();
  ASSERT_NE (get (kept, "/a").find ("200 OK"), std::string::npos);
  int silent = connect_client (); // connects, never sends a byte
  int partial = connect_client ();
  send_text (partial, "GET /a HT"); // never finishes its request
  ASSERT_TRUE (pump_until ([&] { return acceptor_->stats ().open == 3; }));
  EXPECT_TRUE (pump_until ([&] {
    return closed_by_server (kept) && closed_by_server (silent) && closed_by_server (partial)
           && acceptor_->stats ().open == 0;
  }));
  EXPECT_EQ (acceptor_->stats ().idle_closed, 3u);
}

TEST_F (AcceptorTest, AHeldRequestOutlivesTheIdleTimeout)
{
  // Scaled, as the periods below: a busy box must not close the connection
  // as idle before its request is read.
  const auto idle = test::scaled (200ms);
  start (idle.count ());
  int fd = connect_client ();
  send_text (fd, "GET /hold HTTP/1.1\r\nHost: test\r\n\r\n");
  ASSERT_TRUE (pump_until ([&] { return held_ != nullptr; }));
  // Several idle periods pass: the held request keeps its connection.
  auto until = std::chrono::steady_clock::now () + idle * 5;
  pump_until ([&] { return std::chrono::steady_clock::now () > until; }, 2s);
  EXPECT_EQ (acceptor_->stats ().open, 1u);
  EXPECT_EQ (acceptor_->stats ().idle_closed, 0u);
  answer_held (200);
  // The idle sweep comes due before libsoup writes the answer: the
  // connection, quiet on the wire for the whole hold, must not be taken for
  // an idle one (a busy box once lost a held answer that way).
  std::this_thread::sleep_for (idle * 3 / 2);
  std::string response;
  EXPECT_TRUE (pump_until ([&] {
    response += received (fd);
    return response.find ("late") != std::string::npos;
  })) << response;
  EXPECT_EQ (gone_, 0);
}

TEST_F (AcceptorTest, AHeldRequestWhoseClientLeavesIsReleasedAtOnce)
{
  start (30000);
  int fd = connect_client ();
  send_text (fd, "GET /hold HTTP/1.1\r\nHost: test\r\n\r\n");
  ASSERT_TRUE (pump_until ([&] { return held_ != nullptr; }));
  close (fd);
  forget_client (fd);
  EXPECT_TRUE (pump_until ([&] { return gone_ == 1; })) << "the held request was not released";
  EXPECT_TRUE (pump_until ([&] { return acceptor_->stats ().open == 0; }));
  EXPECT_EQ (acceptor_->stats ().held_abandoned, 1u);
}

TEST_F (AcceptorTest, AnAddressThatIsNotOneIsNamed)
{
  start (30000);
  std::string error;
  EXPECT_EQ (acceptor_->listen ("not-an-address", 0, nullptr, &error), 0);
  EXPECT_NE (error.find ("\"not-an-address\" is not an IP address"), std::string::npos) << error;
}

} // namespace
} // namespace mirror
