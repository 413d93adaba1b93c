// SPDX-License-Identifier: LGPL-2.1-or-later
// The HTTPS and plain HTTP/1.1 front end of the Origin, on libsoup: one
// SoupServer with a TLS listener and a plain one, running on the Origin's
// context; a SoupAcceptor accepts its connections and closes what clients
// leave (see http/soup_acceptor.h). It turns each request into an
// OriginRequest, pauses the message while the handler holds it (released at
// once if the client goes away), and writes the OriginResponse's refcounted
// buffers as the body without copying them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <libsoup/soup.h>

#include "http/soup_acceptor.h"
#include "origin/origin_handler.h"

namespace mirror {

class SoupFrontend {
 public:
  SoupFrontend (OriginHandler &handler, SoupAcceptor::Limits limits);
  ~SoupFrontend ();
  SoupFrontend (const SoupFrontend &) = delete;
  SoupFrontend &operator= (const SoupFrontend &) = delete;

  // On the Origin's context (its thread-default), which the listeners join.
  // A port of 0 picks a free one; nullopt serves nothing there.
  bool listen (const std::string &bind_address, std::optional<uint16_t> tls_port,
               GTlsCertificate *certificate, std::optional<uint16_t> http_port, std::string *error);

  uint16_t tls_port () const { return tls_port_; }
  uint16_t http_port () const { return http_port_; }
  SoupAcceptor::Stats connection_stats () const;

 private:
  static void on_request (SoupServer *server, SoupServerMessage *msg, const char *path,
                          GHashTable *query, gpointer data);

  OriginHandler &handler_;
  const SoupAcceptor::Limits limits_;
  SoupServer *server_ = nullptr;
  std::shared_ptr<SoupAcceptor> acceptor_;
  uint16_t tls_port_ = 0;
  uint16_t http_port_ = 0;
};

} // namespace mirror
