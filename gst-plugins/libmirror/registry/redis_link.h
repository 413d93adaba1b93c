// SPDX-License-Identifier: LGPL-2.1-or-later
// One asynchronous connection to Redis, driven by a worker thread's
// GMainContext through hiredis's glib adapter. It connects, authenticates and
// selects the database, keeps the link checked with PINGs, and after any loss
// reconnects with backoff (100 ms doubling to 1 s) until shut down.
//
// Every method except connected () and wait_connected () is for the worker
// thread only.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <gio/gio.h>
#include <hiredis/async.h>

#include "registry/registry_uri.h"
#include "registry/worker_thread.h"

namespace mirror {

class RedisLink {
 public:
  // reply is nullptr when the link went down before the reply came.
  using ReplyFn = std::function<void (redisReply *reply)>;

  RedisLink (WorkerThread &worker, RegistryUri endpoint);
  ~RedisLink ();
  RedisLink (const RedisLink &) = delete;
  RedisLink &operator= (const RedisLink &) = delete;

  // Starts connecting; on_ready runs on the worker every time the link is up
  // again (connected, authenticated, database selected).
  void start (std::function<void ()> on_ready);
  // Closes the connection (pending replies get nullptr) and stops retrying.
  void shutdown ();

  // The handshake is done: commands sent now go out right away.
  bool ready () const { return phase_ == Phase::kReady; }
  // Sends argv (binary-safe). When not ready, fn gets nullptr, later.
  void send (const std::vector<std::string> &argv, ReplyFn fn);

  // Any thread.
  bool connected () const { return connected_.load (); }
  bool wait_connected (int64_t timeout_ms);
  const std::string &describe () const { return describe_; }

 private:
  enum class Phase { kIdle, kResolving, kConnecting, kReady, kShutdown };

  void connect ();
  void open (const std::string &address);
  void handshake ();
  bool command (const std::vector<std::string> &argv, ReplyFn &fn);
  void drop (const std::string &why);
  void lost (const std::string &why);
  void set_connected (bool connected);
  void check_health ();
  void log_failure (const std::string &why);

  static void on_connect (const redisAsyncContext *ac, int status);
  static void on_disconnect (const redisAsyncContext *ac, int status);
  static void on_reply (redisAsyncContext *ac, void *reply, void *privdata);
  static void on_source_cleanup (void *data);
  static void on_resolved (GObject *resolver, GAsyncResult *result, gpointer data);
  static gboolean on_retry (gpointer data);
  static gboolean on_health (gpointer data);

  WorkerThread &worker_;
  const RegistryUri endpoint_;
  const std::string describe_;
  std::function<void ()> on_ready_;

  // Worker thread only.
  Phase phase_ = Phase::kIdle;
  redisAsyncContext *ac_ = nullptr;
  GCancellable *resolving_ = nullptr;
  GSource *retry_timer_ = nullptr;
  GSource *health_timer_ = nullptr;
  unsigned attempt_ = 0;
  unsigned backoff_ms_ = 0;
  int64_t phase_since_ms_ = 0;
  int64_t ping_sent_ms_ = 0; // 0: no PING outstanding
  int64_t last_ping_ms_ = 0;
  std::string last_failure_; // logged once, not on every retry

  std::atomic<bool> connected_{ false };
  std::mutex connected_mutex_;
  std::condition_variable connected_cond_;
  bool stopped_ = false; // guarded by connected_mutex_: wait_connected () gives up
};

} // namespace mirror
