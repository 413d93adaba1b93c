// SPDX-License-Identifier: LGPL-2.1-or-later
// The Origin's TLS identity: a certificate chain and private key in PEM, from
// the config's files or, when none are configured, a self-signed ECDSA P-256
// certificate generated once into the state directory and reused on every
// later start. Its SPKI pin lets Chromium trust it for HTTP/3
// (--ignore-certificate-errors-spki-list).
#pragma once

#include <optional>
#include <string>

namespace mirror {

struct TlsIdentity {
  std::string cert_pem;  // chain, leaf first
  std::string key_pem;   // PKCS#8 or the file's own form
  std::string cert_file; // where it was read from (or written to)
  std::string key_file;
  bool generated = false; // made just now (first run)
  // base64 (standard alphabet, padded) of the SHA-256 of the leaf's
  // SubjectPublicKeyInfo DER, as Chromium's SPKI lists want it.
  std::string spki_pin;
};

// cert_file and key_file both set: read them (nullopt, with *error naming the
// file and the problem, when unreadable or not a matching pair).
// Both empty: state_dir/tls/origin-cert.pem and origin-key.pem, generated
// (directories 0700, key 0600) when absent: ECDSA P-256, SAN DNS:localhost,
// IP:127.0.0.1, IP:::1, valid from an hour ago for 365 days, CN "Mirror
// origin (self-signed)". One set, one empty: an error.
std::optional<TlsIdentity> load_or_create_tls_identity (const std::string &cert_file,
                                                        const std::string &key_file,
                                                        const std::string &state_dir,
                                                        std::string *error);

// The SPKI pin (as TlsIdentity::spki_pin) of a DER X.509 certificate; ""
// when it does not parse.
std::string spki_pin_of_certificate (const uint8_t *der, size_t size);

// The state directory rule of the config's storage.local.cache_dir when it is
// empty: /var/lib/mirror for root, else $XDG_STATE_HOME/mirror, else
// $HOME/.local/state/mirror.
std::string default_state_dir ();

} // namespace mirror
