// SPDX-License-Identifier: LGPL-2.1-or-later
// Redis replies into the registry: a RedisRegistry talks to a fake Redis on
// loopback (this file) that answers AUTH/SELECT/PING itself and every other
// command with the next reply taken from the input. The input is a sequence
// of RESP replies ("$5\r\nhello\r\n", "*2\r\n:0\r\n$0\r\n\r\n", ...), read
// with hiredis so that only well-formed replies are sent (a malformed one
// would only make the link reconnect); when they run out, nil. Every call
// made on the registry (get, list, register, get, unregister) must answer,
// whatever Redis says, and what it answers must be coherent.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <glib.h>
#include <hiredis/hiredis.h>

#include "fuzz_check.h"
#include "registry/stream_registry.h"

namespace {

// One reply written back as RESP.
void
write_resp (const redisReply *r, std::string *out)
{
  switch (r->type) {
  case REDIS_REPLY_STRING:
    *out += "$" + std::to_string (r->len) + "\r\n" + std::string (r->str, r->len) + "\r\n";
    break;
  case REDIS_REPLY_ARRAY:
    *out += "*" + std::to_string (r->elements) + "\r\n";
    for (size_t i = 0; i < r->elements; ++i)
      write_resp (r->element[i], out);
    break;
  case REDIS_REPLY_INTEGER:
    *out += ":" + std::to_string (r->integer) + "\r\n";
    break;
  case REDIS_REPLY_STATUS:
    *out += "+" + std::string (r->str, r->len) + "\r\n";
    break;
  case REDIS_REPLY_ERROR:
    *out += "-" + std::string (r->str, r->len) + "\r\n";
    break;
  default:
    *out += "$-1\r\n";
    break;
  }
}

// The fake Redis: one client at a time, on a free loopback port.
class FakeRedis {
 public:
  FakeRedis ()
  {
    listen_fd_ = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    FUZZ_CHECK (bind (listen_fd_, reinterpret_cast<sockaddr *> (&addr), sizeof addr) == 0, "bind");
    FUZZ_CHECK (listen (listen_fd_, 4) == 0, "listen");
    socklen_t len = sizeof addr;
    getsockname (listen_fd_, reinterpret_cast<sockaddr *> (&addr), &len);
    port_ = ntohs (addr.sin_port);
    std::thread ([this] { serve (); }).detach ();
  }

  int port () const { return port_; }

  void set_replies (std::deque<std::string> replies)
  {
    std::lock_guard lock (mu_);
    replies_ = std::move (replies);
  }

 private:
  std::string answer (const redisReply *command)
  {
    std::string name;
    if (command->type == REDIS_REPLY_ARRAY && command->elements > 0
        && command->element[0]->type == REDIS_REPLY_STRING)
      name = std::string (command->element[0]->str, command->element[0]->len);
    if (name == "AUTH" || name == "SELECT")
      return "+OK\r\n";
    if (name == "PING")
      return "+PONG\r\n";
    std::lock_guard lock (mu_);
    if (replies_.empty ())
      return "$-1\r\n";
    std::string next = std::move (replies_.front ());
    replies_.pop_front ();
    return next;
  }

  void serve ()
  {
    while (true) {
      int fd = accept4 (listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0)
        continue;
      redisReader *reader = redisReaderCreate ();
      char buf[65536];
      ssize_t n;
      bool open = true;
      while (open && (n = read (fd, buf, sizeof buf)) > 0) {
        redisReaderFeed (reader, buf, size_t (n));
        void *command = nullptr;
        while (redisReaderGetReply (reader, &command) == REDIS_OK && command) {
          std::string out = answer (static_cast<redisReply *> (command));
          freeReplyObject (command);
          command = nullptr;
          if (send (fd, out.data (), out.size (), MSG_NOSIGNAL) < 0) {
            open = false;
            break;
          }
        }
      }
      redisReaderFree (reader);
      close (fd);
    }
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::mutex mu_;
  std::deque<std::string> replies_;
};

FakeRedis *fake;

template <typename T>
T
wait_for (std::future<T> &f, const char *what)
{
  FUZZ_CHECK (f.wait_for (std::chrono::seconds (10)) == std::future_status::ready,
              std::string (what) + " never answered");
  return f.get ();
}

} // namespace

extern "C" int
LLVMFuzzerInitialize (int *, char ***)
{
  g_log_set_always_fatal (GLogLevelFlags (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR));
  // The registry warns about every odd value: keep the fuzzer's log readable.
  g_log_set_default_handler ([] (const gchar *, GLogLevelFlags, const gchar *, gpointer) {}, nullptr);
  fake = new FakeRedis ();
  return 0;
}

extern "C" int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  std::deque<std::string> replies;
  redisReader *reader = redisReaderCreate ();
  redisReaderFeed (reader, reinterpret_cast<const char *> (data), size);
  void *reply = nullptr;
  while (replies.size () < 16 && redisReaderGetReply (reader, &reply) == REDIS_OK && reply) {
    std::string resp;
    write_resp (static_cast<redisReply *> (reply), &resp);
    freeReplyObject (reply);
    reply = nullptr;
    replies.push_back (std::move (resp));
  }
  redisReaderFree (reader);
  fake->set_replies (std::move (replies));

  mirror::RegistryOptions options;
  options.uri = "redis://127.0.0.1:" + std::to_string (fake->port ()) + "/0";
  options.node_id = "fuzz-node";
  std::string error;
  auto registry = mirror::make_registry (options, &error);
  FUZZ_CHECK (registry, error);
  FUZZ_CHECK (registry->wait_connected (5000), "the fake Redis is not reached");

  {
    std::promise<std::optional<mirror::StreamEntry>> got;
    auto f = got.get_future ();
    registry->get_stream ("cam1", [&got] (const mirror::RegistryStatus &status,
                                          const std::optional<mirror::StreamEntry> &entry) {
      FUZZ_CHECK (status.ok () == entry.has_value (), "get: status and entry disagree");
      got.set_value (entry);
    });
    wait_for (f, "get_stream");
  }
  {
    std::promise<void> listed;
    auto f = listed.get_future ();
    registry->list_streams ([&listed] (const mirror::RegistryStatus &status,
                                       const std::vector<mirror::StreamEntry> &entries) {
      for (size_t i = 1; i < entries.size (); ++i)
        FUZZ_CHECK (entries[i - 1].id <= entries[i].id, "list is not sorted by id");
      listed.set_value ();
    });
    wait_for (f, "list_streams");
  }
  mirror::StreamEntry entry;
  entry.id = "cam2";
  entry.source = "srt://fuzz";
  std::promise<bool> registered;
  auto r = registered.get_future ();
  registry->register_stream (entry, [&registered] (const mirror::RegistryStatus &status) {
    registered.set_value (status.ok ());
  });
  const bool owned = wait_for (r, "register_stream");
  if (owned) {
    registry->heartbeat ("cam2");
    registry->update_state ("cam2", mirror::StreamState::kLive, "fuzz");
    std::promise<void> got;
    auto f = got.get_future ();
    registry->get_stream ("cam2", [&got] (const mirror::RegistryStatus &status,
                                          const std::optional<mirror::StreamEntry> &e) {
      got.set_value ();
    });
    wait_for (f, "get_stream of an owned stream");
  }
  std::promise<void> gone;
  auto g = gone.get_future ();
  registry->unregister_stream ("cam2", [&gone] (const mirror::RegistryStatus &) { gone.set_value (); });
  wait_for (g, "unregister_stream");
  registry.reset ();
  return 0;
}
