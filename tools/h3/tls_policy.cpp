// SPDX-License-Identifier: LGPL-2.1-or-later
#include "tls_policy.h"

#include <arpa/inet.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

namespace mirror::tools {
namespace {

int
verify_peer (gnutls_session_t session)
{
  auto *ctx = static_cast<TlsSessionContext *> (gnutls_session_get_ptr (session));
  if (ctx == nullptr || ctx->policy == nullptr)
    return 0;
  ctx->peer_pin = peer_spki_pin (session);
  const TlsPolicy &policy = *ctx->policy;
  if (!policy.spki_pin.empty () && policy.spki_pin != ctx->peer_pin) {
    ctx->verify_error
        = "certificate SPKI pin " + ctx->peer_pin + " is not the expected " + policy.spki_pin;
    return GNUTLS_E_CERTIFICATE_ERROR;
  }
  if (policy.verify_chain) {
    unsigned status = 0;
    int rv = gnutls_certificate_verify_peers3 (
        session, ctx->host.empty () ? nullptr : ctx->host.c_str (), &status);
    if (rv != 0 || status != 0) {
      gnutls_datum_t text{};
      if (rv == 0
          && gnutls_certificate_verification_status_print (status, GNUTLS_CRT_X509, &text, 0)
                 == 0) {
        ctx->verify_error = std::string ((const char *)text.data, text.size);
        gnutls_free (text.data);
      } else {
        ctx->verify_error = gnutls_strerror (rv);
      }
      return GNUTLS_E_CERTIFICATE_ERROR;
    }
  }
  return 0;
}

} // namespace

gnutls_certificate_credentials_t
make_client_credentials (const TlsPolicy &policy, std::string *error)
{
  gnutls_certificate_credentials_t cred = nullptr;
  int rv = gnutls_certificate_allocate_credentials (&cred);
  if (rv != 0) {
    *error = std::string ("gnutls_certificate_allocate_credentials: ") + gnutls_strerror (rv);
    return nullptr;
  }
  if (policy.verify_chain) {
    rv = gnutls_certificate_set_x509_system_trust (cred);
    if (rv < 0) {
      *error = std::string ("system trust store: ") + gnutls_strerror (rv);
      gnutls_certificate_free_credentials (cred);
      return nullptr;
    }
    if (!policy.ca_file.empty ()) {
      rv = gnutls_certificate_set_x509_trust_file (cred, policy.ca_file.c_str (),
                                                   GNUTLS_X509_FMT_PEM);
      if (rv < 0) {
        *error = "CA file " + policy.ca_file + ": " + gnutls_strerror (rv);
        gnutls_certificate_free_credentials (cred);
        return nullptr;
      }
    }
  }
  gnutls_certificate_set_verify_function (cred, verify_peer);
  return cred;
}

std::string
peer_spki_pin (gnutls_session_t session)
{
  unsigned n = 0;
  const gnutls_datum_t *certs = gnutls_certificate_get_peers (session, &n);
  if (certs == nullptr || n == 0)
    return {};
  gnutls_x509_crt_t crt = nullptr;
  gnutls_pubkey_t key = nullptr;
  std::string pin;
  gnutls_datum_t spki{};
  if (gnutls_x509_crt_init (&crt) == 0
      && gnutls_x509_crt_import (crt, &certs[0], GNUTLS_X509_FMT_DER) == 0
      && gnutls_pubkey_init (&key) == 0 && gnutls_pubkey_import_x509 (key, crt, 0) == 0
      && gnutls_pubkey_export2 (key, GNUTLS_X509_FMT_DER, &spki) == 0) {
    unsigned char digest[32];
    gnutls_datum_t b64{};
    gnutls_datum_t raw{ digest, sizeof digest };
    if (gnutls_hash_fast (GNUTLS_DIG_SHA256, spki.data, spki.size, digest) == 0
        && gnutls_base64_encode2 (&raw, &b64) == 0) {
      pin.assign ((const char *)b64.data, b64.size);
      gnutls_free (b64.data);
    }
    gnutls_free (spki.data);
  }
  if (key)
    gnutls_pubkey_deinit (key);
  if (crt)
    gnutls_x509_crt_deinit (crt);
  return pin;
}

bool
is_ip_literal (const std::string &host)
{
  unsigned char buf[16];
  return inet_pton (AF_INET, host.c_str (), buf) == 1
         || inet_pton (AF_INET6, host.c_str (), buf) == 1;
}

} // namespace mirror::tools
