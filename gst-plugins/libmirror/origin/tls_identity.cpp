// SPDX-License-Identifier: LGPL-2.1-or-later
#include "origin/tls_identity.h"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <type_traits>

#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

namespace mirror {

namespace {

constexpr char kCommonName[] = "Mirror origin (self-signed)";
constexpr time_t kBackdateSeconds = 60 * 60;
constexpr time_t kLifetimeSeconds = 365 * 24 * 60 * 60;

// GnuTLS handles, freed by their own deinit function.
template <typename T, void (*Free) (T)> struct Deinit {
  void operator() (T handle) const { Free (handle); }
};
template <typename T, void (*Free) (T)>
using Handle = std::unique_ptr<std::remove_pointer_t<T>, Deinit<T, Free>>;

using X509Crt = Handle<gnutls_x509_crt_t, gnutls_x509_crt_deinit>;
using X509Key = Handle<gnutls_x509_privkey_t, gnutls_x509_privkey_deinit>;
using PrivKey = Handle<gnutls_privkey_t, gnutls_privkey_deinit>;
using PubKey = Handle<gnutls_pubkey_t, gnutls_pubkey_deinit>;

// A datum GnuTLS allocated (the *_export2 family).
struct Datum {
  gnutls_datum_t d{ nullptr, 0 };
  Datum () = default;
  Datum (const Datum &) = delete;
  Datum &operator= (const Datum &) = delete;
  ~Datum () { gnutls_free (d.data); }
  std::string str () const { return std::string (reinterpret_cast<const char *> (d.data), d.size); }
};

// A chain from gnutls_x509_crt_list_import2: each certificate and the array.
struct CrtList {
  gnutls_x509_crt_t *certs = nullptr;
  unsigned int size = 0;
  CrtList () = default;
  CrtList (const CrtList &) = delete;
  CrtList &operator= (const CrtList &) = delete;
  ~CrtList ()
  {
    for (unsigned int i = 0; i < size; i++)
      gnutls_x509_crt_deinit (certs[i]);
    gnutls_free (certs);
  }
};

gnutls_datum_t
as_datum (const std::string &text)
{
  return { reinterpret_cast<unsigned char *> (const_cast<char *> (text.data ())),
           static_cast<unsigned int> (text.size ()) };
}

std::string
tls_error (const char *what, int ret)
{
  return std::string (what) + ": " + gnutls_strerror (ret);
}

bool
read_file (const std::string &path, std::string *out, std::string *why)
{
  g_autoptr (GError) error = nullptr;
  g_autofree char *contents = nullptr;
  gsize length = 0;
  if (!g_file_get_contents (path.c_str (), &contents, &length, &error)) {
    *why = std::string ("cannot read: ") + error->message;
    return false;
  }
  out->assign (contents, length);
  return true;
}

// The SubjectPublicKeyInfo DER of a certificate or of a private key's public half.
bool
spki_der_of_cert (gnutls_x509_crt_t crt, std::string *out)
{
  gnutls_pubkey_t raw = nullptr;
  if (gnutls_pubkey_init (&raw) < 0)
    return false;
  PubKey pub (raw);
  Datum der;
  if (gnutls_pubkey_import_x509 (pub.get (), crt, 0) < 0
      || gnutls_pubkey_export2 (pub.get (), GNUTLS_X509_FMT_DER, &der.d) < 0)
    return false;
  *out = der.str ();
  return true;
}

bool
spki_der_of_key (gnutls_x509_privkey_t key, std::string *out)
{
  gnutls_privkey_t raw_priv = nullptr;
  if (gnutls_privkey_init (&raw_priv) < 0)
    return false;
  PrivKey priv (raw_priv);
  gnutls_pubkey_t raw_pub = nullptr;
  if (gnutls_pubkey_init (&raw_pub) < 0)
    return false;
  PubKey pub (raw_pub);
  Datum der;
  // Flags 0: priv borrows key, which the caller keeps alive.
  if (gnutls_privkey_import_x509 (priv.get (), key, 0) < 0
      || gnutls_pubkey_import_privkey (pub.get (), priv.get (), 0, 0) < 0
      || gnutls_pubkey_export2 (pub.get (), GNUTLS_X509_FMT_DER, &der.d) < 0)
    return false;
  *out = der.str ();
  return true;
}

std::string
spki_pin (const std::string &spki_der)
{
  unsigned char digest[32];
  gnutls_hash_fast (GNUTLS_DIG_SHA256, spki_der.data (), spki_der.size (), digest);
  g_autofree char *b64 = g_base64_encode (digest, sizeof digest);
  return b64;
}

// Reads and checks a certificate chain and its key; labels name them in errors
// ("server.cert_file /etc/mirror/cert.pem: ...").
std::optional<TlsIdentity>
load_pair (const std::string &cert_file, const std::string &cert_label, const std::string &key_file,
           const std::string &key_label, std::string *error)
{
  std::string cert_where = cert_label + cert_file + ": ";
  std::string key_where = key_label + key_file + ": ";
  TlsIdentity id;
  id.cert_file = cert_file;
  id.key_file = key_file;
  std::string why;
  if (!read_file (cert_file, &id.cert_pem, &why)) {
    *error = cert_where + why;
    return std::nullopt;
  }
  if (!read_file (key_file, &id.key_pem, &why)) {
    *error = key_where + why;
    return std::nullopt;
  }

  CrtList chain;
  gnutls_datum_t cert_datum = as_datum (id.cert_pem);
  int ret = gnutls_x509_crt_list_import2 (&chain.certs, &chain.size, &cert_datum,
                                          GNUTLS_X509_FMT_PEM, 0);
  if (ret < 0 || chain.size == 0) {
    *error = cert_where + "not a PEM certificate chain"
             + (ret < 0 ? std::string (" (") + gnutls_strerror (ret) + ")" : "");
    return std::nullopt;
  }

  gnutls_x509_privkey_t raw_key = nullptr;
  if ((ret = gnutls_x509_privkey_init (&raw_key)) < 0) {
    *error = key_where + tls_error ("cannot allocate a key", ret);
    return std::nullopt;
  }
  X509Key key (raw_key);
  gnutls_datum_t key_datum = as_datum (id.key_pem);
  ret = gnutls_x509_privkey_import2 (key.get (), &key_datum, GNUTLS_X509_FMT_PEM, nullptr, 0);
  if (ret == GNUTLS_E_DECRYPTION_FAILED) {
    *error = key_where + "the private key is encrypted; give it unencrypted";
    return std::nullopt;
  }
  if (ret < 0) {
    *error = key_where + "not a PEM private key (" + gnutls_strerror (ret) + ")";
    return std::nullopt;
  }

  std::string cert_spki, key_spki;
  if (!spki_der_of_cert (chain.certs[0], &cert_spki)) {
    *error = cert_where + "the first certificate's public key is unusable";
    return std::nullopt;
  }
  if (!spki_der_of_key (key.get (), &key_spki)) {
    *error = key_where + "the private key's public half is unusable";
    return std::nullopt;
  }
  if (cert_spki != key_spki) {
    *error = key_where + "does not match the certificate in " + cert_file
             + " (the first certificate must be the one for this key)";
    return std::nullopt;
  }
  id.spki_pin = spki_pin (cert_spki);
  return id;
}

// A fresh ECDSA P-256 key and a self-signed server certificate for it, in PEM.
bool
generate_pair (std::string *cert_pem, std::string *key_pem, std::string *why)
{
  int ret;
  gnutls_x509_privkey_t raw_key = nullptr;
  if ((ret = gnutls_x509_privkey_init (&raw_key)) < 0) {
    *why = tls_error ("cannot allocate a key", ret);
    return false;
  }
  X509Key key (raw_key);
  if ((ret = gnutls_x509_privkey_generate (key.get (), GNUTLS_PK_ECDSA,
                                           GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1), 0))
      < 0) {
    *why = tls_error ("cannot generate an ECDSA P-256 key", ret);
    return false;
  }

  gnutls_x509_crt_t raw_crt = nullptr;
  if ((ret = gnutls_x509_crt_init (&raw_crt)) < 0) {
    *why = tls_error ("cannot allocate a certificate", ret);
    return false;
  }
  X509Crt crt (raw_crt);
  gnutls_x509_crt_t c = crt.get ();

  // 16 random bytes, top bit clear (positive) and the next set (no leading
  // zero byte, so the DER INTEGER keeps all 16).
  unsigned char serial[16];
  if ((ret = gnutls_rnd (GNUTLS_RND_NONCE, serial, sizeof serial)) < 0) {
    *why = tls_error ("cannot draw a serial number", ret);
    return false;
  }
  serial[0] = (serial[0] & 0x7f) | 0x40;

  const unsigned char ipv4_loopback[4] = { 127, 0, 0, 1 };
  const unsigned char ipv6_loopback[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
  time_t now = time (nullptr);
  unsigned char key_id[64];
  size_t key_id_size = sizeof key_id;

  const struct {
    const char *what;
    int ret;
  } steps[] = {
    { "set version", gnutls_x509_crt_set_version (c, 3) },
    { "set key", gnutls_x509_crt_set_key (c, key.get ()) },
    { "set serial", gnutls_x509_crt_set_serial (c, serial, sizeof serial) },
    { "set subject", gnutls_x509_crt_set_dn_by_oid (c, GNUTLS_OID_X520_COMMON_NAME, 0, kCommonName,
                                                    strlen (kCommonName)) },
    { "set activation time", gnutls_x509_crt_set_activation_time (c, now - kBackdateSeconds) },
    { "set expiration time", gnutls_x509_crt_set_expiration_time (c, now + kLifetimeSeconds) },
    { "set DNS SAN", gnutls_x509_crt_set_subject_alt_name (c, GNUTLS_SAN_DNSNAME, "localhost",
                                                           strlen ("localhost"), GNUTLS_FSAN_SET) },
    { "set IPv4 SAN",
      gnutls_x509_crt_set_subject_alt_name (c, GNUTLS_SAN_IPADDRESS, ipv4_loopback,
                                            sizeof ipv4_loopback, GNUTLS_FSAN_APPEND) },
    { "set IPv6 SAN",
      gnutls_x509_crt_set_subject_alt_name (c, GNUTLS_SAN_IPADDRESS, ipv6_loopback,
                                            sizeof ipv6_loopback, GNUTLS_FSAN_APPEND) },
    { "set basic constraints", gnutls_x509_crt_set_basic_constraints (c, 0, -1) },
    { "set key usage", gnutls_x509_crt_set_key_usage (c, GNUTLS_KEY_DIGITAL_SIGNATURE) },
    { "set extended key usage",
      gnutls_x509_crt_set_key_purpose_oid (c, GNUTLS_KP_TLS_WWW_SERVER, 0) },
    { "compute key id", gnutls_x509_crt_get_key_id (c, 0, key_id, &key_id_size) },
  };
  for (const auto &step : steps) {
    if (step.ret < 0) {
      *why = tls_error (step.what, step.ret);
      return false;
    }
  }
  if ((ret = gnutls_x509_crt_set_subject_key_id (c, key_id, key_id_size)) < 0) {
    *why = tls_error ("set subject key id", ret);
    return false;
  }

  gnutls_privkey_t raw_priv = nullptr;
  if ((ret = gnutls_privkey_init (&raw_priv)) < 0) {
    *why = tls_error ("cannot allocate a key", ret);
    return false;
  }
  PrivKey priv (raw_priv);
  // Self-signed: the certificate is its own issuer.
  if ((ret = gnutls_privkey_import_x509 (priv.get (), key.get (), 0)) < 0
      || (ret = gnutls_x509_crt_privkey_sign (c, c, priv.get (), GNUTLS_DIG_SHA256, 0)) < 0) {
    *why = tls_error ("cannot sign the certificate", ret);
    return false;
  }

  Datum cert_out, key_out;
  if ((ret = gnutls_x509_crt_export2 (c, GNUTLS_X509_FMT_PEM, &cert_out.d)) < 0) {
    *why = tls_error ("cannot export the certificate", ret);
    return false;
  }
  if ((ret = gnutls_x509_privkey_export2_pkcs8 (key.get (), GNUTLS_X509_FMT_PEM, nullptr,
                                                GNUTLS_PKCS_PLAIN, &key_out.d))
      < 0) {
    *why = tls_error ("cannot export the key", ret);
    return false;
  }
  *cert_pem = cert_out.str ();
  *key_pem = key_out.str ();
  return true;
}

bool
write_file (const std::string &path, const std::string &text, int mode, std::string *error)
{
  g_autoptr (GError) gerror = nullptr;
  // CONSISTENT: written to a temporary in the same directory, then renamed.
  if (!g_file_set_contents_full (path.c_str (), text.data (), text.size (),
                                 G_FILE_SET_CONTENTS_CONSISTENT, mode, &gerror)) {
    *error = path + ": cannot write: " + gerror->message;
    return false;
  }
  return true;
}

std::optional<TlsIdentity>
load_or_create_self_signed (const std::string &state_dir, std::string *error)
{
  std::string dir = (state_dir.empty () ? default_state_dir () : state_dir) + "/tls";
  std::string cert_file = dir + "/origin-cert.pem";
  std::string key_file = dir + "/origin-key.pem";

  bool have_cert = g_file_test (cert_file.c_str (), G_FILE_TEST_EXISTS);
  bool have_key = g_file_test (key_file.c_str (), G_FILE_TEST_EXISTS);
  // Reused as is: regenerating would change the pin clients were given.
  if (have_cert && have_key) {
    auto id = load_pair (cert_file, "", key_file, "", error);
    if (!id)
      *error += " (remove " + cert_file + " and " + key_file + " to generate a new pair)";
    return id;
  }

  if (g_mkdir_with_parents (dir.c_str (), 0700) != 0) {
    int saved = errno;
    *error = dir + ": cannot create: " + g_strerror (saved);
    return std::nullopt;
  }
  // It holds the private key: nobody else may list or enter it.
  if (g_chmod (dir.c_str (), 0700) != 0) {
    int saved = errno;
    *error = dir + ": cannot restrict to 0700: " + g_strerror (saved);
    return std::nullopt;
  }

  TlsIdentity id;
  id.cert_file = cert_file;
  id.key_file = key_file;
  id.generated = true;
  std::string why;
  if (!generate_pair (&id.cert_pem, &id.key_pem, &why)) {
    *error = "self-signed certificate: " + why;
    return std::nullopt;
  }
  // Key first: a crash in between leaves one file, which the next start
  // replaces with a fresh pair.
  if (!write_file (key_file, id.key_pem, 0600, error)
      || !write_file (cert_file, id.cert_pem, 0644, error))
    return std::nullopt;

  // The pin from the certificate as written, by the same path as a load.
  CrtList chain;
  gnutls_datum_t cert_datum = as_datum (id.cert_pem);
  std::string spki;
  if (gnutls_x509_crt_list_import2 (&chain.certs, &chain.size, &cert_datum, GNUTLS_X509_FMT_PEM, 0)
          < 0
      || chain.size == 0 || !spki_der_of_cert (chain.certs[0], &spki)) {
    *error = cert_file + ": the generated certificate does not read back";
    return std::nullopt;
  }
  id.spki_pin = spki_pin (spki);
  return id;
}

} // namespace

std::optional<TlsIdentity>
load_or_create_tls_identity (const std::string &cert_file, const std::string &key_file,
                             const std::string &state_dir, std::string *error)
{
  if (cert_file.empty () != key_file.empty ()) {
    *error = cert_file.empty () ? "server.cert_file is empty but server.key_file is set"
                                : "server.key_file is empty but server.cert_file is set";
    *error += "; set both, or neither for a self-signed certificate";
    return std::nullopt;
  }
  if (!cert_file.empty ())
    return load_pair (cert_file, "server.cert_file ", key_file, "server.key_file ", error);
  return load_or_create_self_signed (state_dir, error);
}

std::string
spki_pin_of_certificate (const uint8_t *der, size_t size)
{
  gnutls_x509_crt_t raw = nullptr;
  if (gnutls_x509_crt_init (&raw) < 0)
    return "";
  X509Crt crt (raw);
  const gnutls_datum_t datum{ const_cast<unsigned char *> (der), unsigned (size) };
  std::string spki;
  if (gnutls_x509_crt_import (crt.get (), &datum, GNUTLS_X509_FMT_DER) < 0
      || !spki_der_of_cert (crt.get (), &spki))
    return "";
  return spki_pin (spki);
}

std::string
default_state_dir ()
{
  if (geteuid () == 0)
    return "/var/lib/mirror";
  // GLib falls back to ~/.local/state when XDG_STATE_HOME is unset.
  return std::string (g_get_user_state_dir ()) + "/mirror";
}

} // namespace mirror
