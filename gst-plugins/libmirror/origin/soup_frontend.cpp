// SPDX-License-Identifier: LGPL-2.1-or-later
#include "origin/soup_frontend.h"

#include <memory>

namespace mirror {

namespace {

// What one request's respond and cancel closures share with libsoup's signals.
struct Exchange {
  SoupServerMessage *msg = nullptr; // a reference held until answered or gone
  bool in_callback = true;
  bool paused = false;
  bool answered = false;
  bool gone = false; // the connection closed first
  std::function<void ()> cancel;
  gulong finished_id = 0;
  std::weak_ptr<SoupAcceptor> acceptor; // the front end's; gone at shutdown
  uint64_t hold_token = 0;              // while paused

  void release_hold ()
  {
    if (auto a = acceptor.lock (); a && hold_token)
      a->release (hold_token);
    hold_token = 0;
  }

  ~Exchange ()
  {
    release_hold ();
    if (finished_id)
      g_signal_handler_disconnect (msg, finished_id);
    g_object_unref (msg);
  }
};

void
write_response (SoupServerMessage *msg, OriginResponse &r)
{
  soup_server_message_set_status (msg, r.status, nullptr);
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  if (!r.content_type.empty ())
    soup_message_headers_replace (headers, "Content-Type", r.content_type.c_str ());
  if (!r.cache_control.empty ())
    soup_message_headers_replace (headers, "Cache-Control", r.cache_control.c_str ());
  for (const auto &[name, value] : r.headers)
    soup_message_headers_append (headers, name.c_str (), value.c_str ());
  SoupMessageBody *body = soup_server_message_get_response_body (msg);
  for (Bytes &b : r.body) {
    if (b.empty ())
      continue;
    // The GBytes borrows the store's buffer and keeps it alive until written.
    auto *keep = new Bytes (b);
    GBytes *gb = g_bytes_new_with_free_func (
        keep->data (), keep->size (), [] (gpointer p) { delete static_cast<Bytes *> (p); }, keep);
    soup_message_body_append_bytes (body, gb);
    g_bytes_unref (gb);
  }
  soup_message_body_complete (body);
}

} // namespace

SoupFrontend::SoupFrontend (OriginHandler &handler, SoupAcceptor::Limits limits)
    : handler_ (handler), limits_ (limits)
{}

SoupFrontend::~SoupFrontend ()
{
  acceptor_.reset (); // closes every connection
  if (server_)
    g_object_unref (server_);
}

bool
SoupFrontend::listen (const std::string &bind_address, std::optional<uint16_t> tls_port,
                      GTlsCertificate *certificate, std::optional<uint16_t> http_port,
                      std::string *error)
{
  server_ = soup_server_new ("server-header", "mirror ", nullptr);
  soup_server_add_handler (server_, nullptr, on_request, this, nullptr);
  acceptor_ = std::make_shared<SoupAcceptor> (server_, limits_);
  if (tls_port) {
    tls_port_ = acceptor_->listen (bind_address, *tls_port, certificate, error);
    if (!tls_port_)
      return false;
  }
  if (http_port) {
    http_port_ = acceptor_->listen (bind_address, *http_port, nullptr, error);
    if (!http_port_)
      return false;
  }
  return true;
}

SoupAcceptor::Stats
SoupFrontend::connection_stats () const
{
  return acceptor_ ? acceptor_->stats () : SoupAcceptor::Stats ();
}

void
SoupFrontend::on_request (SoupServer *server, SoupServerMessage *msg, const char *path,
                          GHashTable *, gpointer data)
{
  auto *self = static_cast<SoupFrontend *> (data);
  OriginRequest request;
  request.method = soup_server_message_get_method (msg);
  request.path = path ? path : "/";
  const char *query = g_uri_get_query (soup_server_message_get_uri (msg));
  request.query = query ? query : "";
  if (const char *range
      = soup_message_headers_get_one (soup_server_message_get_request_headers (msg), "Range"))
    request.range = range;

  auto ex = std::make_shared<Exchange> ();
  ex->msg = SOUP_SERVER_MESSAGE (g_object_ref (msg));
  // The client went away while the request was held: stop waiting for it.
  ex->finished_id = g_signal_connect_data (
      msg, "finished", G_CALLBACK (+[] (SoupServerMessage *, gpointer d) {
        auto *weak = static_cast<std::weak_ptr<Exchange> *> (d);
        if (auto ex = weak->lock (); ex && !ex->answered && !ex->gone) {
          ex->gone = true;
          if (ex->cancel)
            ex->cancel ();
        }
      }),
      new std::weak_ptr<Exchange> (ex),
      [] (gpointer d, GClosure *) { delete static_cast<std::weak_ptr<Exchange> *> (d); },
      (GConnectFlags)0);

  ex->cancel = self->handler_.handle (request, [ex] (OriginResponse r) {
    if (ex->answered || ex->gone)
      return;
    ex->answered = true;
    write_response (ex->msg, r);
    ex->release_hold ();
    if (ex->paused)
      soup_server_message_unpause (ex->msg);
    ex->cancel = nullptr;
  });
  ex->in_callback = false;
  if (!ex->answered) {
    ex->paused = true;
    soup_server_message_pause (msg);
    // Held (a blocking reload, a hinted part): if the client leaves
    // meanwhile, the wait ends now, and the connection with it.
    ex->acceptor = self->acceptor_;
    std::weak_ptr<Exchange> weak = ex;
    ex->hold_token = self->acceptor_->hold (msg, [weak] () {
      auto ex = weak.lock ();
      if (!ex || ex->answered || ex->gone)
        return;
      ex->gone = true;
      ex->hold_token = 0;
      if (auto cancel = std::move (ex->cancel))
        cancel ();
      ex->cancel = nullptr;
      soup_server_message_set_status (ex->msg, SOUP_STATUS_SERVICE_UNAVAILABLE, nullptr);
      soup_message_headers_replace (soup_server_message_get_response_headers (ex->msg),
                                    "Connection", "close");
      soup_message_body_complete (soup_server_message_get_response_body (ex->msg));
      soup_server_message_unpause (ex->msg);
    });
  } else {
    ex->cancel = nullptr;
  }
}

} // namespace mirror
