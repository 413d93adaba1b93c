// SPDX-License-Identifier: LGPL-2.1-or-later
#include "redis_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <glib.h>
#include <glib/gstdio.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

namespace mirror::test {

namespace {

std::string
read_file (const std::string &path)
{
  std::ifstream in (path);
  std::stringstream text;
  text << in.rdbuf ();
  return text.str ();
}

std::string
reply_to_text (const redisReply *reply)
{
  switch (reply->type) {
  case REDIS_REPLY_STRING:
  case REDIS_REPLY_STATUS:
    return std::string (reply->str, reply->len);
  case REDIS_REPLY_ERROR:
    return "ERR: " + std::string (reply->str, reply->len);
  case REDIS_REPLY_INTEGER:
    return std::to_string (reply->integer);
  case REDIS_REPLY_NIL:
    return "(nil)";
  case REDIS_REPLY_ARRAY: {
    std::string out;
    for (size_t i = 0; i < reply->elements; ++i)
      out += (i ? "\n" : "") + reply_to_text (reply->element[i]);
    return out;
  }
  default:
    return "(unknown reply)";
  }
}

} // namespace

int
free_loopback_port ()
{
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (fd >= 0 && bind (fd, reinterpret_cast<sockaddr *> (&addr), sizeof addr) == 0
      && getsockname (fd, reinterpret_cast<sockaddr *> (&addr), &len) == 0)
    port = ntohs (addr.sin_port);
  if (fd >= 0)
    close (fd);
  return port;
}

RedisServer::RedisServer (std::string password) : password_ (std::move (password))
{
  g_autoptr (GError) error = nullptr;
  g_autofree char *dir = g_dir_make_tmp ("mirror-redis-XXXXXX", &error);
  if (dir)
    dir_ = dir;
  else
    ADD_FAILURE () << "cannot make a temporary directory: " << error->message;
}

RedisServer::~RedisServer ()
{
  stop ();
  if (dir_.empty ())
    return;
  if (GDir *dir = g_dir_open (dir_.c_str (), 0, nullptr)) {
    while (const char *name = g_dir_read_name (dir))
      g_remove ((dir_ + "/" + name).c_str ());
    g_dir_close (dir);
  }
  g_rmdir (dir_.c_str ());
}

bool
RedisServer::start (int port)
{
  if (running ()) {
    ADD_FAILURE () << "redis-server already running as PID " << pid_;
    return false;
  }
  g_autofree char *binary = g_find_program_in_path ("redis-server");
  if (!binary) {
    ADD_FAILURE () << "redis-server is not installed (Debian package redis-server): "
                      "the Redis registry tests need it";
    return false;
  }
  port_ = port ? port : free_loopback_port ();
  if (!port_) {
    ADD_FAILURE () << "no free loopback port";
    return false;
  }
  std::string log = dir_ + "/redis.log";
  std::vector<std::string> args{ binary,   "--port",       std::to_string (port_),
                                 "--bind", "127.0.0.1",    "--save",
                                 "",       "--appendonly", "no",
                                 "--dir",  dir_,           "--logfile",
                                 log,      "--daemonize",  "no" };
  if (!password_.empty ()) {
    args.push_back ("--requirepass");
    args.push_back (password_);
  }
  std::vector<char *> argv;
  for (auto &arg : args)
    argv.push_back (arg.data ());
  argv.push_back (nullptr);

  g_autoptr (GError) error = nullptr;
  GPid pid = 0;
  if (!g_spawn_async (nullptr, argv.data (), nullptr,
                      GSpawnFlags (G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL), nullptr,
                      nullptr, &pid, &error)) {
    ADD_FAILURE () << "cannot start " << binary << ": " << error->message;
    return false;
  }
  pid_ = pid;

  auto deadline = std::chrono::steady_clock::now () + std::chrono::seconds (10);
  while (std::chrono::steady_clock::now () < deadline) {
    int status = 0;
    if (waitpid (pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      ADD_FAILURE () << "redis-server on port " << port_ << " exited at start:\n"
                     << read_file (log);
      return false;
    }
    if (command ({ "PING" }) == "PONG")
      return true;
    std::this_thread::sleep_for (std::chrono::milliseconds (20));
  }
  ADD_FAILURE () << "redis-server (PID " << pid_ << ") did not answer PING on port " << port_
                 << " within 10 s:\n"
                 << read_file (log);
  kill ();
  return false;
}

void
RedisServer::kill ()
{
  if (!running ())
    return;
  ::kill (pid_, SIGKILL);
  waitpid (pid_, nullptr, 0);
  pid_ = -1;
}

void
RedisServer::stop ()
{
  if (!running ())
    return;
  ::kill (pid_, SIGTERM);
  waitpid (pid_, nullptr, 0);
  pid_ = -1;
}

void
RedisServer::lock_out (const std::string &password)
{
  EXPECT_EQ (command ({ "CONFIG", "SET", "requirepass", password }), "OK");
  password_ = password;
  EXPECT_EQ (command ({ "CLIENT", "KILL", "TYPE", "normal" }).rfind ("ERR", 0), std::string::npos);
}

void
RedisServer::unlock ()
{
  EXPECT_EQ (command ({ "CONFIG", "SET", "requirepass", "" }), "OK");
  password_.clear ();
}

std::string
RedisServer::uri (int db, bool with_password) const
{
  std::string auth = with_password && !password_.empty () ? ":" + password_ + "@" : "";
  return "redis://" + auth + "127.0.0.1:" + std::to_string (port_) + "/" + std::to_string (db);
}

std::string
RedisServer::command (const std::vector<std::string> &argv, int db) const
{
  timeval timeout{ 1, 0 };
  redisContext *c = redisConnectWithTimeout ("127.0.0.1", port_, timeout);
  if (!c || c->err) {
    std::string why = c ? c->errstr : "out of memory";
    if (c)
      redisFree (c);
    return "ERR: connect: " + why;
  }
  redisSetTimeout (c, timeout);
  auto run = [c] (const std::vector<std::string> &args) {
    std::vector<const char *> ptrs;
    std::vector<size_t> lens;
    for (const auto &a : args) {
      ptrs.push_back (a.data ());
      lens.push_back (a.size ());
    }
    auto *reply = static_cast<redisReply *> (
        redisCommandArgv (c, static_cast<int> (args.size ()), ptrs.data (), lens.data ()));
    if (!reply)
      return "ERR: " + std::string (c->errstr);
    std::string text = reply_to_text (reply);
    freeReplyObject (reply);
    return text;
  };
  std::string out;
  if (!password_.empty ())
    out = run ({ "AUTH", password_ });
  if (out.rfind ("ERR", 0) != 0 && db != 0)
    out = run ({ "SELECT", std::to_string (db) });
  if (out.rfind ("ERR", 0) != 0)
    out = run (argv);
  redisFree (c);
  return out;
}

} // namespace mirror::test
