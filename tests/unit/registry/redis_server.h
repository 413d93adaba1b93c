// SPDX-License-Identifier: LGPL-2.1-or-later
// A private redis-server for one test: loopback only, a free port, no
// persistence, in its own temporary directory, stopped by its PID.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace mirror::test {

class RedisServer {
 public:
  explicit RedisServer (std::string password = "");
  ~RedisServer ();
  RedisServer (const RedisServer &) = delete;
  RedisServer &operator= (const RedisServer &) = delete;

  // Starts the server on port, or on a free port when 0, and waits until it
  // answers PING. False (with a gtest failure saying why) otherwise; a
  // missing redis-server binary is a failure, never a skip.
  bool start (int port = 0);
  // SIGKILL, the way a crash looks to clients, then reaps the process.
  void kill ();
  // SIGTERM, then reaps the process.
  void stop ();
  bool running () const { return pid_ > 0; }

  // Sets requirepass at run time and disconnects every client: registries
  // lose Redis (and cannot log in again) while its data stays. unlock ()
  // clears the password again.
  void lock_out (const std::string &password);
  void unlock ();

  int port () const { return port_; }
  pid_t pid () const { return pid_; }
  // "redis://[:password@]127.0.0.1:<port>/<db>"
  std::string uri (int db = 0, bool with_password = true) const;

  // Runs one command synchronously (a test-side view of the data) and
  // returns the reply as text: strings as they are, integers in decimal,
  // nil as "(nil)", errors as "ERR: ...", arrays joined with '\n'.
  std::string command (const std::vector<std::string> &argv, int db = 0) const;

 private:
  std::string password_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// A TCP port on 127.0.0.1 that nothing listens on right now.
int free_loopback_port ();

} // namespace mirror::test
