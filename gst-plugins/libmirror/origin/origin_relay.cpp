// SPDX-License-Identifier: LGPL-2.1-or-later
#include "origin/origin_relay.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <libsoup/soup.h>

#include "origin/tls_identity.h"
#include "util/main_context.h"

namespace mirror {

namespace {

// Answers a shared cache may keep for less than this are only coalesced, not
// cached: plain playlists change every part, and what the relay keeps it
// answers with Age: 0.
constexpr int64_t kMinCachedSeconds = 2;

int64_t
directive_seconds (const std::string &cc, const char *name)
{
  const size_t at = cc.find (name);
  if (at == std::string::npos)
    return -1;
  return g_ascii_strtoll (cc.c_str () + at + strlen (name), nullptr, 10);
}

} // namespace

int64_t
shared_cache_seconds (const std::string &cache_control)
{
  const std::string cc = [&] {
    std::string lower = cache_control;
    std::transform (lower.begin (), lower.end (), lower.begin (),
                    [] (unsigned char c) { return g_ascii_tolower (c); });
    return lower;
  }();
  if (cc.find ("no-cache") != std::string::npos || cc.find ("no-store") != std::string::npos
      || cc.find ("private") != std::string::npos)
    return 0;
  int64_t s = directive_seconds (cc, "s-maxage=");
  if (s < 0) {
    // "max-age=" also matches inside "s-maxage=", which was looked for first.
    s = directive_seconds (cc, "max-age=");
  }
  return std::max<int64_t> (0, s);
}

struct OriginRelay::Impl {
  struct Waiter {
    uint64_t ticket;
    GMainContext *context; // a reference, given back once answered
    Done done;
  };
  struct Entry {
    RelayAnswer answer;
    int64_t expires_us = 0;
    int64_t used_us = 0;
  };
  // Shared with the deliveries posted to viewer contexts, which may run
  // after the relay is gone.
  struct Tickets {
    std::mutex mutex;
    std::set<uint64_t> live;
    uint64_t next = 1;
  };

  size_t max_cache_bytes;
  unsigned timeout_s;
  GMainContext *context = g_main_context_new ();
  GMainLoop *loop = g_main_loop_new (context, FALSE);
  std::thread thread;
  std::shared_ptr<Tickets> tickets = std::make_shared<Tickets> ();
  mutable std::mutex stats_mutex;
  OriginRelayStats stats;

  // The relay's thread only.
  SoupSession *session = nullptr;
  std::map<std::string, std::vector<Waiter>> flights;
  std::map<std::string, Entry> cache;
  size_t cache_bytes = 0;

  void deliver (const Waiter &w, const RelayAnswer &answer)
  {
    invoke_on (w.context, [tickets = tickets, ticket = w.ticket, done = w.done, answer] () {
      {
        std::lock_guard lock (tickets->mutex);
        if (!tickets->live.erase (ticket))
          return; // cancelled: the viewer went away
      }
      done (answer);
    });
    g_main_context_unref (w.context);
  }

  // Over HTTPS, the certificate with @pin passes as well as any the system
  // trusts: the owner's self-signed one, whose pin the directory tells.
  static void trust_pin (SoupMessage *msg, const std::string &pin)
  {
    g_signal_connect_data (
        msg, "accept-certificate",
        G_CALLBACK (+[] (SoupMessage *, GTlsCertificate *peer, GTlsCertificateFlags,
                         gpointer data) -> gboolean {
          GByteArray *der = nullptr;
          g_object_get (peer, "certificate", &der, nullptr);
          if (!der)
            return FALSE;
          const bool pinned
              = spki_pin_of_certificate (der->data, der->len) == *static_cast<std::string *> (data);
          g_byte_array_unref (der);
          return pinned;
        }),
        new std::string (pin),
        [] (gpointer data, GClosure *) { delete static_cast<std::string *> (data); },
        GConnectFlags (0));
  }

  void count (uint64_t OriginRelayStats::*field)
  {
    std::lock_guard lock (stats_mutex);
    ++(stats.*field);
  }

  void start (const std::string &url, const std::string &tls_pin, Waiter waiter)
  {
    count (&OriginRelayStats::requests);
    const int64_t now = g_get_monotonic_time ();
    if (auto it = cache.find (url); it != cache.end ()) {
      if (it->second.expires_us > now) {
        it->second.used_us = now;
        count (&OriginRelayStats::cached);
        deliver (waiter, it->second.answer);
        return;
      }
      forget (it);
    }
    if (auto it = flights.find (url); it != flights.end ()) {
      it->second.push_back (std::move (waiter));
      count (&OriginRelayStats::coalesced);
      return;
    }
    flights[url].push_back (std::move (waiter));
    count (&OriginRelayStats::upstream);
    SoupMessage *msg = soup_message_new ("GET", url.c_str ());
    if (!msg) {
      RelayAnswer failed;
      failed.error = "not a URL the relay can fetch: " + url;
      finish (url, failed);
      return;
    }
    if (!tls_pin.empty ())
      trust_pin (msg, tls_pin);
    struct Call {
      Impl *impl;
      std::string url;
      SoupMessage *msg;
    };
    soup_session_send_and_read_async (
        session, msg, G_PRIORITY_DEFAULT, nullptr,
        [] (GObject *source, GAsyncResult *result, gpointer data) {
          std::unique_ptr<Call> call (static_cast<Call *> (data));
          GError *error = nullptr;
          GBytes *bytes = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
          RelayAnswer answer;
          if (!bytes) {
            answer.error = error ? error->message : "no answer";
            g_clear_error (&error);
          } else {
            answer.status = int (soup_message_get_status (call->msg));
            SoupMessageHeaders *h = soup_message_get_response_headers (call->msg);
            auto field = [h] (const char *name) {
              const char *v = soup_message_headers_get_one (h, name);
              return std::string (v ? v : "");
            };
            answer.content_type = field ("Content-Type");
            answer.cache_control = field ("Cache-Control");
            answer.age = field ("Age");
            gsize size = 0;
            auto *data = static_cast<const uint8_t *> (g_bytes_get_data (bytes, &size));
            answer.body = Bytes::wrap (data, size, [bytes] () { g_bytes_unref (bytes); });
          }
          g_object_unref (call->msg);
          call->impl->finish (call->url, answer);
        },
        new Call{ this, url, msg });
  }

  void finish (const std::string &url, const RelayAnswer &answer)
  {
    if (answer.status == 0)
      count (&OriginRelayStats::failures);
    auto it = flights.find (url);
    std::vector<Waiter> waiters;
    if (it != flights.end ()) {
      waiters = std::move (it->second);
      flights.erase (it);
    }
    for (const Waiter &w : waiters)
      deliver (w, answer);
    const int64_t keep_s = answer.status ? shared_cache_seconds (answer.cache_control) : 0;
    if (keep_s < kMinCachedSeconds || answer.body.size () > max_cache_bytes / 4)
      return;
    const int64_t now = g_get_monotonic_time ();
    Entry &e = cache[url];
    cache_bytes -= e.answer.body.size ();
    e.answer = answer;
    e.expires_us = now + keep_s * G_USEC_PER_SEC;
    e.used_us = now;
    cache_bytes += answer.body.size ();
    trim (now);
  }

  void forget (std::map<std::string, Entry>::iterator it)
  {
    cache_bytes -= it->second.answer.body.size ();
    cache.erase (it);
  }

  // Expired entries go; then, while over the budget, the least recently used.
  void trim (int64_t now)
  {
    for (auto it = cache.begin (); it != cache.end ();)
      if (it->second.expires_us <= now)
        forget (it++);
      else
        ++it;
    while (cache_bytes > max_cache_bytes && !cache.empty ())
      forget (std::min_element (cache.begin (), cache.end (), [] (const auto &a, const auto &b) {
        return a.second.used_us < b.second.used_us;
      }));
    std::lock_guard lock (stats_mutex);
    stats.cache_bytes = cache_bytes;
  }
};

OriginRelay::OriginRelay (size_t max_cache_bytes, unsigned timeout_s)
    : impl_ (std::make_unique<Impl> ())
{
  impl_->max_cache_bytes = max_cache_bytes;
  impl_->timeout_s = timeout_s;
  Impl *impl = impl_.get ();
  impl->thread = std::thread ([impl] () {
    g_main_context_push_thread_default (impl->context);
    impl->session = soup_session_new_with_options ("timeout", impl->timeout_s, "max-conns", 256,
                                                   "max-conns-per-host", 64, nullptr);
    // Expired entries do not wait for the next insert to go.
    guint sweep = timeout_add (
        5000,
        [impl] () {
          impl->trim (g_get_monotonic_time ());
          return true;
        },
        impl->context);
    g_main_loop_run (impl->loop);
    timeout_remove (sweep, impl->context);
    g_clear_object (&impl->session); // in-flight calls complete (cancelled) here
    while (g_main_context_iteration (impl->context, FALSE))
      ;
    g_main_context_pop_thread_default (impl->context);
  });
}

OriginRelay::~OriginRelay ()
{
  Impl *impl = impl_.get ();
  invoke_on (impl->context, [impl] () { g_main_loop_quit (impl->loop); });
  impl->thread.join ();
  g_main_loop_unref (impl->loop);
  g_main_context_unref (impl->context);
}

uint64_t
OriginRelay::fetch (const std::string &url, const std::string &tls_pin, GMainContext *context,
                    Done done)
{
  uint64_t ticket;
  {
    std::lock_guard lock (impl_->tickets->mutex);
    ticket = impl_->tickets->next++;
    impl_->tickets->live.insert (ticket);
  }
  Impl *impl = impl_.get ();
  invoke_on (impl->context, [impl, url, tls_pin,
                             waiter = Impl::Waiter{ ticket, g_main_context_ref (context),
                                                    std::move (done) }] () {
    impl->start (url, tls_pin, waiter);
  });
  return ticket;
}

void
OriginRelay::cancel (uint64_t ticket)
{
  std::lock_guard lock (impl_->tickets->mutex);
  impl_->tickets->live.erase (ticket);
}

OriginRelayStats
OriginRelay::stats () const
{
  std::lock_guard lock (impl_->stats_mutex);
  return impl_->stats;
}

} // namespace mirror
