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

  ~Exchange ()
  {
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

SoupFrontend::SoupFrontend (OriginHandler &handler) : handler_ (handler) {}

SoupFrontend::~SoupFrontend ()
{
  if (server_) {
    soup_server_disconnect (server_);
    g_object_unref (server_);
  }
}

bool
SoupFrontend::listen (const std::string &bind_address, std::optional<uint16_t> tls_port,
                      GTlsCertificate *certificate, std::optional<uint16_t> http_port,
                      std::string *error)
{
  server_ = soup_server_new ("server-header", "mirror ", "tls-certificate", certificate, nullptr);
  soup_server_add_handler (server_, nullptr, on_request, this, nullptr);

  auto listen_one = [&] (uint16_t port, bool tls) -> bool {
    GSocketAddress *addr = g_inet_socket_address_new_from_string (bind_address.c_str (), port);
    if (!addr) {
      *error = "server.bind_address " + bind_address + ": not an IP address";
      return false;
    }
    GError *err = nullptr;
    gboolean ok = soup_server_listen (
        server_, addr, tls ? SOUP_SERVER_LISTEN_HTTPS : (SoupServerListenOptions)0, &err);
    g_object_unref (addr);
    if (!ok) {
      *error = std::string (tls ? "HTTPS" : "HTTP") + " listener on " + bind_address + ":"
               + std::to_string (port) + ": " + err->message;
      g_error_free (err);
      return false;
    }
    return true;
  };
  if (tls_port && !listen_one (*tls_port, true))
    return false;
  if (http_port && !listen_one (*http_port, false))
    return false;

  GSList *uris = soup_server_get_uris (server_);
  for (GSList *l = uris; l; l = l->next) {
    auto *uri = static_cast<GUri *> (l->data);
    if (g_strcmp0 (g_uri_get_scheme (uri), "https") == 0)
      tls_port_ = (uint16_t)g_uri_get_port (uri);
    else
      http_port_ = (uint16_t)g_uri_get_port (uri);
  }
  g_slist_free_full (uris, (GDestroyNotify)g_uri_unref);
  return true;
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
    if (ex->paused)
      soup_server_message_unpause (ex->msg);
    ex->cancel = nullptr;
  });
  ex->in_callback = false;
  if (!ex->answered) {
    ex->paused = true;
    soup_server_message_pause (msg);
  } else {
    ex->cancel = nullptr;
  }
}

} // namespace mirror
