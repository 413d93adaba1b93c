// SPDX-License-Identifier: LGPL-2.1-or-later
// Who gets in: decided in libsrt's listen callback, before the connection is
// accepted, so a refused caller costs one handshake and touches no other
// stream. The passphrase is the one check libsrt does itself, after the
// callback; check_handshakes () notices and counts those failures.
#include <fnmatch.h>

#include <exception>

#include <glib.h>
#include <srt/access_control.h>

#include "ingest/srt_address.h"
#include "ingest/srt_port.h"
#include "ingest/srt_reject.h"
#include "ingest/srt_stream_id.h"
#include "util/main_context.h"

namespace mirror {

namespace {

// A handshake libsrt has neither finished nor failed after this long is a
// caller that vanished; its claim on the id goes.
constexpr int64_t kHandshakeTimeoutMs = 10000;

// A connected caller that has sent nothing for this long is gone (an
// encoder killed or restarted, a link cut), though libsrt waits
// peer_idle_timeout (5 s) to say so: a new caller for its stream id takes
// its place instead of being refused as already-live.
constexpr int64_t kSilentCallerMs = 1500;

// Raw streamids come from anyone: printable and short in logs.
std::string
printable (const std::string &raw)
{
  constexpr size_t kMax = 80;
  g_autofree char *escaped = g_strescape (raw.substr (0, kMax).c_str (), nullptr);
  return std::string (escaped) + (raw.size () > kMax ? "..." : "");
}

std::string
aes_name (int key_length)
{
  return "AES-" + std::to_string (key_length * 8);
}

} // namespace

int
SrtPort::on_listen (void *opaque, SRTSOCKET ns, int hs_version, const sockaddr *peer_address,
                    const char *stream_id) noexcept
{
  auto *self = static_cast<SrtPort *> (opaque);
  // No exception may unwind into libsrt.
  try {
    return self->admit (ns, peer_address, stream_id);
  } catch (const std::exception &e) {
    g_critical ("SRT port %u: listen callback failed for caller %s: %s", self->port_,
                format_srt_peer (peer_address).c_str (), e.what ());
  } catch (...) {
    g_critical ("SRT port %u: listen callback failed for caller %s", self->port_,
                format_srt_peer (peer_address).c_str ());
  }
  srt_setrejectreason (ns, SRT_REJX_ISE);
  return -1;
}

int
SrtPort::admit (SRTSOCKET ns, const sockaddr *peer_address, const char *raw_stream_id)
{
  SrtPeer peer;
  peer.address = format_srt_peer (peer_address);
  // HSv4 callers carry no streamid: they arrive here with an empty one.
  const std::string raw = raw_stream_id ? raw_stream_id : "";
  std::string id, why;
  if (!parse_srt_stream_id_checked (raw, &id, &why)) {
    peer.stream_id = raw;
    return refuse (ns, peer, SrtRejectReason::kMalformedStreamId,
                   "streamid '" + printable (raw) + "' is malformed: " + why);
  }
  peer.stream_id = id;
  // Listen callbacks of a port run one after the other on libsrt's receiving
  // thread, so the handshake before this one is settled: a failed one must
  // not hold its id against this caller (a retry with the right passphrase).
  check_handshakes (monotonic_ms ());
  if (!is_allowed (id))
    return refuse (ns, peer, SrtRejectReason::kNotAllowed,
                   "stream id '" + id + "' matches none of the "
                       + std::to_string (options_.allow_list.size ()) + " allow-list entries");

  // Checked before asking the handler (no pipeline is started for a caller
  // that would be refused anyway) and again when claiming: attach () and
  // detach () run meanwhile.
  SRTSOCKET silent = SRT_INVALID_SOCK; // the claim's caller, gone quiet
  int64_t silent_ms = 0;
  std::string silent_peer;
  auto check_claim = [&] (std::string *what) -> std::optional<SrtRejectReason> {
    silent = SRT_INVALID_SOCK;
    auto claim = claims_.find (id);
    if (claim != claims_.end ()) {
      auto handshake = handshakes_.find (claim->second);
      auto connection = connections_.find (claim->second);
      if (connection != connections_.end () && !connection->second->closing) {
        silent_ms = monotonic_ms () - connection->second->last_data_ms.load ();
        if (silent_ms >= kSilentCallerMs) {
          silent = claim->second;
          silent_peer = connection->second->peer.address;
          return std::nullopt;
        }
      }
      std::string holder = handshake != handshakes_.end ()     ? handshake->second.peer.address
                           : connection != connections_.end () ? connection->second->peer.address
                                                               : "?";
      *what = "stream '" + id + "' is already live from " + holder;
      return SrtRejectReason::kAlreadyLive;
    }
    if (claims_.size () >= size_t (options_.max_connections)) {
      *what = std::to_string (claims_.size ()) + " callers connected, max_connections is "
              + std::to_string (options_.max_connections);
      return SrtRejectReason::kTooManyConnections;
    }
    return std::nullopt;
  };

  std::string what;
  std::optional<SrtRejectReason> refusal;
  SrtHub::NewStreamFn handler;
  bool has_consumer = false;
  {
    std::lock_guard lock (mu_);
    refusal = check_claim (&what);
    has_consumer = consumers_.count (id) > 0;
    if (!has_consumer)
      handler = new_stream_handler_;
  }
  if (refusal)
    return refuse (ns, peer, *refusal, what);
  if (!has_consumer) {
    if (!handler)
      return refuse (ns, peer, SrtRejectReason::kNoConsumer,
                     "no consumer for stream '" + id + "' and no new-stream handler");
    bool wanted = false;
    try {
      wanted = handler (peer);
    } catch (...) {
      g_critical ("SRT port %u: the new-stream handler threw for stream '%s' from %s", port_,
                  id.c_str (), peer.address.c_str ());
    }
    if (!wanted)
      return refuse (ns, peer, SrtRejectReason::kNoConsumer,
                     "no consumer for stream '" + id + "' and the new-stream handler declined it");
  }

  // Set on the socket being accepted, so that libsrt checks the caller's key
  // material against it in this same handshake (and refuses a mismatch).
  // The key length is the caller's choice: libsrt's responder adopts the
  // initiator's, so pbkeylen here does not refuse an AES-128 caller that
  // knows the passphrase.
  const std::string passphrase = passphrase_for (id);
  const int key_length = passphrase.empty () ? 0 : options_.pbkeylen;
  if (key_length
      && (srt_setsockflag (ns, SRTO_PBKEYLEN, &key_length, sizeof key_length) == SRT_ERROR
          || srt_setsockflag (ns, SRTO_PASSPHRASE, passphrase.data (), int (passphrase.size ()))
                 == SRT_ERROR))
    return refuse (ns, peer, SrtRejectReason::kBadPassphrase,
                   std::string ("cannot set the stream's passphrase: ") + srt_getlasterror_str ());

  {
    std::lock_guard lock (mu_);
    refusal = check_claim (&what);
    if (!refusal) {
      claims_[id] = ns;
      handshakes_[ns] = Handshake{ peer, key_length, monotonic_ms (), false };
      if (silent != SRT_INVALID_SOCK)
        superseded_[id] = silent;
    }
  }
  if (refusal)
    return refuse (ns, peer, *refusal, what);
  if (silent != SRT_INVALID_SOCK)
    g_info ("SRT port %u: stream '%s': its caller %s has sent nothing for %" G_GINT64_FORMAT
            " ms; the new caller %s takes its place",
            port_, id.c_str (), silent_peer.c_str (), silent_ms, peer.address.c_str ());
  g_info ("SRT port %u: admitting caller %s for stream '%s'%s", port_, peer.address.c_str (),
          id.c_str (), key_length ? (" (" + aes_name (key_length) + ")").c_str () : "");
  return 0;
}

bool
SrtPort::is_allowed (const std::string &stream_id) const
{
  if (options_.allow_list.empty ())
    return true;
  for (const auto &pattern : options_.allow_list) {
    if (fnmatch (pattern.c_str (), stream_id.c_str (), 0) == 0)
      return true;
  }
  return false;
}

std::string
SrtPort::passphrase_for (const std::string &stream_id) const
{
  {
    std::lock_guard lock (mu_);
    auto set = passphrase_overrides_.find (stream_id);
    if (set != passphrase_overrides_.end ())
      return set->second;
  }
  // A stream's own entry wins, even an empty one (that stream unencrypted).
  auto it = options_.stream_passphrases.find (stream_id);
  return it != options_.stream_passphrases.end () ? it->second : options_.passphrase;
}

void
SrtPort::set_stream_passphrase (const std::string &stream_id, std::optional<std::string> passphrase)
{
  std::lock_guard lock (mu_);
  if (passphrase)
    passphrase_overrides_[stream_id] = std::move (*passphrase);
  else
    passphrase_overrides_.erase (stream_id);
}

std::optional<std::string>
SrtPort::drop_caller (const std::string &stream_id)
{
  std::lock_guard lock (mu_);
  Connection *c = live_caller_locked (stream_id);
  if (!c)
    return std::nullopt;
  c->drop = true;
  return c->peer.address;
}

int
SrtPort::refuse (SRTSOCKET ns, const SrtPeer &peer, SrtRejectReason reason, const std::string &what)
{
  srt_setrejectreason (ns, srt_reject_code (reason));
  report_rejection (peer, reason, what);
  return -1;
}

void
SrtPort::report_rejection (const SrtPeer &peer, SrtRejectReason reason, const std::string &what)
{
  const std::string message = "SRT port " + std::to_string (port_) + ": rejected caller "
                              + peer.address + " for stream '" + printable (peer.stream_id) + "' ("
                              + to_string (reason) + "): " + what;
  g_warning ("%s", message.c_str ());
  SrtHub::RejectFn observer;
  {
    std::lock_guard lock (mu_);
    ++reject_counts_[reason];
    observer = reject_observer_;
  }
  if (!observer)
    return;
  try {
    observer (peer, reason, message);
  } catch (...) {
    g_critical ("SRT port %u: the reject observer threw", port_);
  }
}

// Runs on the receive thread and in the listen callback (where calling
// libsrt is safe: libsrt itself takes its socket table lock there).
//
// libsrt checks the passphrase after the listen callback returned, and a
// caller it refuses never reaches srt_accept: the socket handed to the
// callback goes straight to CLOSED (then NONEXIST), and its reject reason is
// gone with it (srt_getrejectreason only sees live sockets). A socket the
// callback admitted that ends that way before ever being CONNECTED is
// therefore a handshake libsrt refused; with the callback's other checks
// passed, that means the key material (BADSECRET, or UNSECURE when one side
// has no passphrase).
void
SrtPort::check_handshakes (int64_t now_ms)
{
  std::vector<std::pair<SRTSOCKET, SRT_SOCKSTATUS>> states;
  {
    std::lock_guard lock (mu_);
    if (handshakes_.empty ())
      return;
    for (const auto &[sock, handshake] : handshakes_)
      states.emplace_back (sock, SRTS_NONEXIST);
  }
  for (auto &[sock, state] : states)
    state = srt_getsockstate (sock);

  std::vector<std::pair<SrtPeer, std::string>> refused;
  {
    std::lock_guard lock (mu_);
    for (const auto &[sock, state] : states) {
      auto it = handshakes_.find (sock);
      if (it == handshakes_.end ())
        continue; // accepted meanwhile
      Handshake &handshake = it->second;
      bool gone = state == SRTS_CLOSING || state == SRTS_CLOSED || state == SRTS_NONEXIST;
      if (state == SRTS_CONNECTED || state == SRTS_BROKEN)
        handshake.seen_connected = true;
      bool stale = now_ms - handshake.started_ms > kHandshakeTimeoutMs;
      if (!gone && !stale)
        continue;
      if (gone && !handshake.seen_connected) {
        refused.emplace_back (
            handshake.peer,
            handshake.key_length
                ? "libsrt refused the handshake: wrong or missing passphrase (stream requires "
                      + aes_name (handshake.key_length) + ")"
                : "libsrt refused the handshake: the caller sent a passphrase, the stream has "
                  "none");
      } else {
        g_warning ("SRT port %u: caller %s for stream '%s' vanished during the handshake", port_,
                   handshake.peer.address.c_str (), handshake.peer.stream_id.c_str ());
      }
      auto claim = claims_.find (handshake.peer.stream_id);
      if (claim != claims_.end () && claim->second == sock)
        claims_.erase (claim);
      handshakes_.erase (it);
    }
  }
  for (const auto &[peer, what] : refused)
    report_rejection (peer, SrtRejectReason::kBadPassphrase, what);
}

} // namespace mirror
