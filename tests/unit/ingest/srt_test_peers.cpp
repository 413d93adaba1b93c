// SPDX-License-Identifier: LGPL-2.1-or-later
#include "srt_test_peers.h"

#include <arpa/inet.h>
#include <csignal>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>

#include <glib.h>

namespace mirror::test {

uint16_t
free_udp_port ()
{
  int fd = socket (AF_INET, SOCK_DGRAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  uint16_t port = 0;
  if (fd >= 0 && bind (fd, reinterpret_cast<sockaddr *> (&address), sizeof address) == 0
      && getsockname (fd, reinterpret_cast<sockaddr *> (&address), &length) == 0)
    port = ntohs (address.sin_port);
  if (fd >= 0)
    ::close (fd);
  return port;
}

std::vector<uint8_t>
test_bytes (size_t size, uint32_t seed)
{
  std::mt19937 random (seed);
  std::vector<uint8_t> out (size);
  for (auto &byte : out)
    byte = uint8_t (random ());
  return out;
}

SrtHubOptions
test_hub_options ()
{
  SrtHubOptions options;
  options.bind_address = "127.0.0.1";
  options.port = free_udp_port ();
  options.latency_ms = 300;
  // The process's own priority: raised hub threads would take the CPU from
  // the peer tools these tests start (srt-live-transmit, gst-launch-1.0) on
  // a busy CI box. ItsThreadsRunAtTheirPriority sets its own.
  options.thread_nice = 0;
  return options;
}

bool
SrtCaller::connect (uint16_t port, const CallerSettings &s)
{
  close ();
  sock_ = srt_create_socket ();
  SRT_TRANSTYPE live = SRTT_LIVE;
  srt_setsockflag (sock_, SRTO_TRANSTYPE, &live, sizeof live);
  int latency = s.latency_ms;
  srt_setsockflag (sock_, SRTO_LATENCY, &latency, sizeof latency);
  // Paced well below loopback's capacity, and never dropped by the sender
  // for lateness: the tests compare every byte.
  int64_t max_bw = 8'000'000;
  srt_setsockflag (sock_, SRTO_MAXBW, &max_bw, sizeof max_bw);
  int no_drop = -1;
  srt_setsockflag (sock_, SRTO_SNDDROPDELAY, &no_drop, sizeof no_drop);
  // 5 s, stretched by MIRROR_TEST_SLOWDOWN: a handshake with a hub on a
  // busy box under the sanitizers.
  int timeout_ms = int (scaled (std::chrono::milliseconds (5000)).count ());
  srt_setsockflag (sock_, SRTO_CONNTIMEO, &timeout_ms, sizeof timeout_ms);
  if (s.send_stream_id)
    srt_setsockflag (sock_, SRTO_STREAMID, s.stream_id.data (), int (s.stream_id.size ()));
  if (!s.passphrase.empty ()) {
    int key_length = s.pbkeylen;
    srt_setsockflag (sock_, SRTO_PBKEYLEN, &key_length, sizeof key_length);
    srt_setsockflag (sock_, SRTO_PASSPHRASE, s.passphrase.data (), int (s.passphrase.size ()));
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons (port);
  address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (srt_connect (sock_, reinterpret_cast<sockaddr *> (&address), sizeof address) == SRT_ERROR) {
    reject_reason_ = srt_getrejectreason (sock_);
    close ();
    return false;
  }
  return true;
}

bool
SrtCaller::send (const std::vector<uint8_t> &data, size_t payload)
{
  for (size_t offset = 0; offset < data.size (); offset += payload) {
    int size = int (std::min (payload, data.size () - offset));
    if (srt_sendmsg (sock_, reinterpret_cast<const char *> (data.data () + offset), size, -1, 1)
        != size)
      return false;
  }
  return true;
}

bool
SrtCaller::is_broken () const
{
  SRT_SOCKSTATUS state = srt_getsockstate (sock_);
  return state == SRTS_BROKEN || state == SRTS_CLOSED || state == SRTS_NONEXIST;
}

void
SrtCaller::close ()
{
  if (sock_ != SRT_INVALID_SOCK)
    srt_close (sock_);
  sock_ = SRT_INVALID_SOCK;
}

void
RecordingConsumer::on_connect (const SrtPeer &peer)
{
  std::lock_guard lock (mutex_);
  events_.push_back ("connect");
  peers_.push_back (peer);
  changed_.notify_all ();
}

void
RecordingConsumer::on_data (const uint8_t *data, size_t size)
{
  std::lock_guard lock (mutex_);
  data_.insert (data_.end (), data, data + size);
  ++data_calls_;
  if (events_.empty () || events_.back () != "data")
    events_.push_back ("data");
  changed_.notify_all ();
}

void
RecordingConsumer::on_disconnect (const SrtPeer &peer, const std::string &reason)
{
  std::lock_guard lock (mutex_);
  events_.push_back ("disconnect");
  changed_.notify_all ();
}

bool
RecordingConsumer::wait_for_bytes (size_t size, std::chrono::milliseconds deadline)
{
  std::unique_lock lock (mutex_);
  return changed_.wait_for (lock, scaled (deadline), [&] { return data_.size () >= size; });
}

bool
RecordingConsumer::wait_for_events (size_t count, std::chrono::milliseconds deadline)
{
  std::unique_lock lock (mutex_);
  return changed_.wait_for (lock, scaled (deadline), [&] { return events_.size () >= count; });
}

std::vector<uint8_t>
RecordingConsumer::data () const
{
  std::lock_guard lock (mutex_);
  return data_;
}

std::vector<std::string>
RecordingConsumer::events () const
{
  std::lock_guard lock (mutex_);
  return events_;
}

std::vector<SrtPeer>
RecordingConsumer::peers () const
{
  std::lock_guard lock (mutex_);
  return peers_;
}

size_t
RecordingConsumer::data_calls () const
{
  std::lock_guard lock (mutex_);
  return data_calls_;
}

bool
ChildProcess::start (const std::vector<std::string> &argv, bool stdout_to_null)
{
  // A child that dies must fail the test, not kill it with SIGPIPE.
  signal (SIGPIPE, SIG_IGN);
  std::vector<char *> args;
  for (const auto &arg : argv)
    args.push_back (const_cast<char *> (arg.c_str ()));
  args.push_back (nullptr);
  GError *error = nullptr;
  GPid pid = 0;
  int flags = G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD;
  if (stdout_to_null)
    flags |= G_SPAWN_STDOUT_TO_DEV_NULL;
  if (!g_spawn_async_with_pipes (nullptr, args.data (), nullptr, GSpawnFlags (flags), nullptr,
                                 nullptr, &pid, &stdin_fd_, nullptr, nullptr, &error)) {
    g_printerr ("cannot start %s: %s\n", argv[0].c_str (), error->message);
    g_error_free (error);
    return false;
  }
  pid_ = pid;
  return true;
}

bool
ChildProcess::write_stdin (const std::vector<uint8_t> &data, size_t step,
                           std::chrono::microseconds interval)
{
  auto next = std::chrono::steady_clock::now ();
  size_t done = 0;
  while (done < data.size ()) {
    size_t end = std::min (data.size (), done + std::min (step, data.size () - done));
    while (done < end) {
      ssize_t n = ::write (stdin_fd_, data.data () + done, end - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return false;
      done += size_t (n);
    }
    next += interval;
    std::this_thread::sleep_until (next);
  }
  return true;
}

void
ChildProcess::close_stdin ()
{
  if (stdin_fd_ >= 0)
    ::close (stdin_fd_);
  stdin_fd_ = -1;
}

bool
ChildProcess::exited (int *status)
{
  if (pid_ > 0 && !reaped_ && waitpid (pid_, &status_, WNOHANG) == pid_)
    reaped_ = true;
  if (status)
    *status = status_;
  return pid_ > 0 && reaped_;
}

void
ChildProcess::stop ()
{
  close_stdin ();
  if (pid_ <= 0)
    return;
  if (!exited ()) {
    kill (pid_, SIGTERM);
    if (!wait_until ([&] { return exited (); }, std::chrono::seconds (5))) {
      kill (pid_, SIGKILL);
      waitpid (pid_, &status_, 0);
    }
  }
  g_spawn_close_pid (pid_);
  pid_ = -1;
}

} // namespace mirror::test
