// SPDX-License-Identifier: LGPL-2.1-or-later
// Server certificate checks shared by the HTTP/3 and HTTP/1.1+TLS clients.
// The Origin's certificate is self-signed, so by default nothing is checked
// (a debugging tool that refuses the server it debugs is no use); --pin
// checks the SPKI hash Chromium's --ignore-certificate-errors-spki-list uses,
// --verify checks the chain against the system trust store and the host name.
#pragma once

#include <string>

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2_crypto.h>

namespace mirror::tools {

struct TlsPolicy {
  // base64 (SHA-256 of the DER SubjectPublicKeyInfo); empty: no pin.
  std::string spki_pin;
  bool verify_chain = false;
  std::string ca_file; // extra trust anchors for verify_chain
};

// What GnuTLS's session pointer points at for every session we make. ngtcp2's
// crypto layer reads it as an ngtcp2_crypto_conn_ref, so that comes first.
struct TlsSessionContext {
  ngtcp2_crypto_conn_ref conn_ref{};
  const TlsPolicy *policy = nullptr;
  std::string host;         // for verify_chain's name check
  std::string verify_error; // why the certificate was refused, if it was
  std::string peer_pin;     // the SPKI pin the server presented
};

// Credentials whose verify callback applies the session's TlsPolicy; nullptr
// and *error on failure. Free with gnutls_certificate_free_credentials.
gnutls_certificate_credentials_t make_client_credentials (const TlsPolicy &policy,
                                                          std::string *error);

// base64 SHA-256 of the peer certificate's SubjectPublicKeyInfo; empty when
// there is none.
std::string peer_spki_pin (gnutls_session_t session);

// Host names go in SNI; IP literals must not (RFC 6066, section 3).
bool is_ip_literal (const std::string &host);

} // namespace mirror::tools
