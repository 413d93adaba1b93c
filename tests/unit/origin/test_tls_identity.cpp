// SPDX-License-Identifier: LGPL-2.1-or-later
// The Origin's TLS identity: a self-signed pair generated once and reused,
// configured pairs checked, and an SPKI pin that matches OpenSSL's.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <sys/stat.h>

#include <ctime>
#include <set>
#include <string>

#include <gio/gio.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "origin/tls_identity.h"

namespace mirror::test {
namespace {

void
remove_tree (const std::string &path)
{
  if (g_file_test (path.c_str (), G_FILE_TEST_IS_DIR)
      && !g_file_test (path.c_str (), G_FILE_TEST_IS_SYMLINK)) {
    if (GDir *dir = g_dir_open (path.c_str (), 0, nullptr)) {
      while (const char *name = g_dir_read_name (dir))
        remove_tree (path + "/" + name);
      g_dir_close (dir);
    }
  }
  g_remove (path.c_str ());
}

// A fresh directory per test, removed with everything in it afterwards.
class TlsIdentityTest : public ::testing::Test {
 protected:
  void SetUp () override
  {
    g_autoptr (GError) error = nullptr;
    g_autofree char *dir = g_dir_make_tmp ("mirror-tls-XXXXXX", &error);
    ASSERT_NE (dir, nullptr) << error->message;
    tmp_ = dir;
  }
  void TearDown () override
  {
    if (!tmp_.empty ())
      remove_tree (tmp_);
  }

  std::string state_dir (const char *name = "state") const { return tmp_ + "/" + name; }

  std::string tmp_;
};

int
mode_of (const std::string &path)
{
  GStatBuf st;
  if (g_stat (path.c_str (), &st) != 0)
    return -1;
  return st.st_mode & 07777;
}

std::string
read_text (const std::string &path)
{
  g_autofree char *text = nullptr;
  gsize length = 0;
  if (!g_file_get_contents (path.c_str (), &text, &length, nullptr))
    return {};
  return std::string (text, length);
}

void
write_text (const std::string &path, const std::string &text)
{
  ASSERT_TRUE (g_file_set_contents (path.c_str (), text.data (), text.size (), nullptr));
}

struct Crt {
  gnutls_x509_crt_t crt = nullptr;
  explicit Crt (const std::string &pem)
  {
    gnutls_x509_crt_init (&crt);
    gnutls_datum_t d{ reinterpret_cast<unsigned char *> (const_cast<char *> (pem.data ())),
                      static_cast<unsigned int> (pem.size ()) };
    if (gnutls_x509_crt_import (crt, &d, GNUTLS_X509_FMT_PEM) < 0) {
      gnutls_x509_crt_deinit (crt);
      crt = nullptr;
    }
  }
  ~Crt ()
  {
    if (crt)
      gnutls_x509_crt_deinit (crt);
  }
};

TEST_F (TlsIdentityTest, GeneratesKeyAndCertificateWithPrivateModes)
{
  std::string error;
  auto id = load_or_create_tls_identity ("", "", state_dir (), &error);
  ASSERT_TRUE (id) << error;
  EXPECT_TRUE (id->generated);
  EXPECT_EQ (id->cert_file, state_dir () + "/tls/origin-cert.pem");
  EXPECT_EQ (id->key_file, state_dir () + "/tls/origin-key.pem");
  EXPECT_EQ (read_text (id->cert_file), id->cert_pem);
  EXPECT_EQ (read_text (id->key_file), id->key_pem);
  EXPECT_EQ (id->cert_pem.rfind ("-----BEGIN CERTIFICATE-----\n", 0), 0u);
  // PKCS#8, unencrypted.
  EXPECT_EQ (id->key_pem.rfind ("-----BEGIN PRIVATE KEY-----\n", 0), 0u);
  EXPECT_EQ (mode_of (state_dir () + "/tls"), 0700);
  EXPECT_EQ (mode_of (state_dir ()), 0700);
  EXPECT_EQ (mode_of (id->key_file), 0600);
  // No temporaries left behind by the atomic writes.
  GDir *dir = g_dir_open ((state_dir () + "/tls").c_str (), 0, nullptr);
  ASSERT_NE (dir, nullptr);
  std::set<std::string> names;
  while (const char *name = g_dir_read_name (dir))
    names.insert (name);
  g_dir_close (dir);
  EXPECT_EQ (names, (std::set<std::string>{ "origin-cert.pem", "origin-key.pem" }));
  // 32 bytes of SHA-256 in padded base64.
  EXPECT_EQ (id->spki_pin.size (), 44u);
  EXPECT_EQ (id->spki_pin.back (), '=');
}

TEST_F (TlsIdentityTest, SecondStartReusesThePair)
{
  std::string error;
  auto first = load_or_create_tls_identity ("", "", state_dir (), &error);
  ASSERT_TRUE (first) << error;
  auto second = load_or_create_tls_identity ("", "", state_dir (), &error);
  ASSERT_TRUE (second) << error;
  EXPECT_FALSE (second->generated);
  EXPECT_EQ (second->spki_pin, first->spki_pin);
  EXPECT_EQ (second->cert_pem, first->cert_pem);
  EXPECT_EQ (second->key_pem, first->key_pem);
}

TEST_F (TlsIdentityTest, OneFileLeftRegeneratesBoth)
{
  std::string error;
  auto first = load_or_create_tls_identity ("", "", state_dir (), &error);
  ASSERT_TRUE (first) << error;
  ASSERT_EQ (g_remove (first->key_file.c_str ()), 0);
  auto second = load_or_create_tls_identity ("", "", state_dir (), &error);
  ASSERT_TRUE (second) << error;
  EXPECT_TRUE (second->generated);
  EXPECT_NE (second->spki_pin, first->spki_pin);
  EXPECT_NE (read_text (second->cert_file), first->cert_pem);
}

TEST_F (TlsIdentityTest, PinMatchesOpenssl)
{
  std::string error;
  auto id = load_or_create_tls_identity ("", "", state_dir (), &error);
  ASSERT_TRUE (id) << error;
  g_autofree char *quoted = g_shell_quote (id->cert_file.c_str ());
  std::string pipeline = std::string ("openssl x509 -in ") + quoted
                         + " -pubkey -noout | openssl pkey -pubin -outform der"
                           " | openssl dgst -sha256 -binary | base64";
  g_autofree char *quoted_pipeline = g_shell_quote (pipeline.c_str ());
  std::string command = std::string ("sh -c ") + quoted_pipeline;
  g_autofree char *out = nullptr;
  g_autofree char *err = nullptr;
  int status = 0;
  g_autoptr (GError) gerror = nullptr;
  ASSERT_TRUE (g_spawn_command_line_sync (command.c_str (), &out, &err, &status, &gerror))
      << gerror->message;
  ASSERT_TRUE (g_spawn_check_wait_status (status, nullptr)) << err;
  EXPECT_EQ (g_strstrip (out), id->spki_pin);
}

TEST_F (TlsIdentityTest, CertificateIsSelfSignedEcdsaP256ForLoopback)
{
  std::string error;
  auto id = load_or_create_tls_identity ("", "", state_dir (), &error);
  ASSERT_TRUE (id) << error;
  Crt c (id->cert_pem);
  ASSERT_NE (c.crt, nullptr);

  EXPECT_EQ (gnutls_x509_crt_get_version (c.crt), 3);
  unsigned int bits = 0;
  EXPECT_EQ (gnutls_x509_crt_get_pk_algorithm (c.crt, &bits), GNUTLS_PK_ECDSA);
  gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
  gnutls_datum_t x{}, y{};
  ASSERT_EQ (gnutls_x509_crt_get_pk_ecc_raw (c.crt, &curve, &x, &y), 0);
  gnutls_free (x.data);
  gnutls_free (y.data);
  EXPECT_EQ (curve, GNUTLS_ECC_CURVE_SECP256R1);
  EXPECT_EQ (gnutls_x509_crt_get_signature_algorithm (c.crt), GNUTLS_SIGN_ECDSA_SHA256);

  // Self-signed: issuer is subject, and the signature verifies with its own key.
  EXPECT_TRUE (gnutls_x509_crt_check_issuer (c.crt, c.crt));
  unsigned int verify = 0;
  ASSERT_EQ (gnutls_x509_crt_verify (c.crt, &c.crt, 1, 0, &verify), 0);
  EXPECT_EQ (verify, 0u);
  char cn[128];
  size_t cn_size = sizeof cn;
  ASSERT_EQ (gnutls_x509_crt_get_dn_by_oid (c.crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &cn_size),
             0);
  EXPECT_STREQ (cn, "Mirror origin (self-signed)");

  std::set<std::string> sans;
  for (unsigned int i = 0;; i++) {
    char buf[256];
    size_t size = sizeof buf;
    int type = gnutls_x509_crt_get_subject_alt_name (c.crt, i, buf, &size, nullptr);
    if (type < 0)
      break;
    if (type == GNUTLS_SAN_DNSNAME) {
      sans.insert ("DNS:" + std::string (buf, size));
    } else if (type == GNUTLS_SAN_IPADDRESS) {
      char text[INET6_ADDRSTRLEN];
      inet_ntop (size == 4 ? AF_INET : AF_INET6, buf, text, sizeof text);
      sans.insert (std::string ("IP:") + text);
    }
  }
  EXPECT_EQ (sans, (std::set<std::string>{ "DNS:localhost", "IP:127.0.0.1", "IP:::1" }));

  unsigned int critical = 0;
  EXPECT_EQ (gnutls_x509_crt_get_basic_constraints (c.crt, &critical, nullptr, nullptr), 0);
  unsigned int usage = 0;
  ASSERT_GE (gnutls_x509_crt_get_key_usage (c.crt, &usage, &critical), 0);
  EXPECT_EQ (usage, unsigned (GNUTLS_KEY_DIGITAL_SIGNATURE));
  char oid[128];
  size_t oid_size = sizeof oid;
  ASSERT_EQ (gnutls_x509_crt_get_key_purpose_oid (c.crt, 0, oid, &oid_size, &critical), 0);
  EXPECT_STREQ (oid, GNUTLS_KP_TLS_WWW_SERVER);

  unsigned char serial[40];
  size_t serial_size = sizeof serial;
  ASSERT_EQ (gnutls_x509_crt_get_serial (c.crt, serial, &serial_size), 0);
  EXPECT_EQ (serial_size, 16u);
  EXPECT_EQ (serial[0] & 0x80, 0);

  time_t now = time (nullptr);
  time_t from = gnutls_x509_crt_get_activation_time (c.crt);
  time_t until = gnutls_x509_crt_get_expiration_time (c.crt);
  EXPECT_LE (from, now - 3500);
  EXPECT_GE (from, now - 3700);
  EXPECT_NEAR (double (until - now), 365.0 * 24 * 3600, 120.0);
}

TEST_F (TlsIdentityTest, ConfiguredPairIsReadAsIs)
{
  std::string error;
  auto made = load_or_create_tls_identity ("", "", state_dir (), &error);
  ASSERT_TRUE (made) << error;
  auto id = load_or_create_tls_identity (made->cert_file, made->key_file, "", &error);
  ASSERT_TRUE (id) << error;
  EXPECT_FALSE (id->generated);
  EXPECT_EQ (id->cert_file, made->cert_file);
  EXPECT_EQ (id->key_file, made->key_file);
  EXPECT_EQ (id->spki_pin, made->spki_pin);
  EXPECT_EQ (id->key_pem, made->key_pem);
}

TEST_F (TlsIdentityTest, MismatchedPairNamesTheKeyFile)
{
  std::string error;
  auto a = load_or_create_tls_identity ("", "", state_dir ("a"), &error);
  auto b = load_or_create_tls_identity ("", "", state_dir ("b"), &error);
  ASSERT_TRUE (a && b) << error;
  error.clear ();
  auto id = load_or_create_tls_identity (a->cert_file, b->key_file, "", &error);
  EXPECT_FALSE (id);
  EXPECT_NE (error.find ("server.key_file " + b->key_file + ":"), std::string::npos) << error;
  EXPECT_NE (error.find ("does not match"), std::string::npos) << error;
}

TEST_F (TlsIdentityTest, GarbageFilesAreNamed)
{
  std::string error;
  auto made = load_or_create_tls_identity ("", "", state_dir (), &error);
  ASSERT_TRUE (made) << error;
  std::string junk = tmp_ + "/junk.pem";
  write_text (junk, "hello\n");

  error.clear ();
  EXPECT_FALSE (load_or_create_tls_identity (made->cert_file, junk, "", &error));
  EXPECT_NE (error.find ("server.key_file " + junk + ": not a PEM private key"), std::string::npos)
      << error;

  error.clear ();
  EXPECT_FALSE (load_or_create_tls_identity (junk, made->key_file, "", &error));
  EXPECT_NE (error.find ("server.cert_file " + junk + ": not a PEM certificate"), std::string::npos)
      << error;
}

TEST_F (TlsIdentityTest, OnlyOneConfiguredIsAnError)
{
  std::string error;
  EXPECT_FALSE (load_or_create_tls_identity ("/etc/cert.pem", "", state_dir (), &error));
  EXPECT_NE (error.find ("server.key_file"), std::string::npos) << error;
  error.clear ();
  EXPECT_FALSE (load_or_create_tls_identity ("", "/etc/key.pem", state_dir (), &error));
  EXPECT_NE (error.find ("server.cert_file"), std::string::npos) << error;
  // Nothing generated on the way.
  EXPECT_FALSE (g_file_test (state_dir ().c_str (), G_FILE_TEST_EXISTS));
}

TEST_F (TlsIdentityTest, UnreadableFileIsNamed)
{
  std::string error;
  auto made = load_or_create_tls_identity ("", "", state_dir (), &error);
  ASSERT_TRUE (made) << error;
  std::string missing = tmp_ + "/no-such-dir/cert.pem";
  error.clear ();
  EXPECT_FALSE (load_or_create_tls_identity (missing, made->key_file, "", &error));
  EXPECT_EQ (error.rfind ("server.cert_file " + missing + ": cannot read", 0), 0u) << error;

  error.clear ();
  EXPECT_FALSE (load_or_create_tls_identity (made->cert_file, missing, "", &error));
  EXPECT_EQ (error.rfind ("server.key_file " + missing + ": cannot read", 0), 0u) << error;
}

TEST_F (TlsIdentityTest, GLibTlsAcceptsThePem)
{
  GTlsBackend *backend = g_tls_backend_get_default ();
  ASSERT_TRUE (g_tls_backend_supports_tls (backend)) << "install glib-networking";
  std::string error;
  auto id = load_or_create_tls_identity ("", "", state_dir (), &error);
  ASSERT_TRUE (id) << error;
  std::string both = id->cert_pem + id->key_pem;
  g_autoptr (GError) gerror = nullptr;
  g_autoptr (GTlsCertificate) cert = g_tls_certificate_new_from_pem (both.c_str (), -1, &gerror);
  ASSERT_NE (cert, nullptr) << gerror->message;
  EXPECT_EQ (g_tls_certificate_get_issuer (cert), nullptr);
}

// What a relaying node computes from the certificate a peer presents (the
// DER GLib hands it) is the pin the peer announced.
TEST_F (TlsIdentityTest, PinOfThePresentedCertificateIsTheAnnouncedOne)
{
  std::string error;
  auto id = load_or_create_tls_identity ("", "", state_dir (), &error);
  ASSERT_TRUE (id) << error;
  g_autoptr (GError) gerror = nullptr;
  g_autoptr (GTlsCertificate) cert
      = g_tls_certificate_new_from_pem ((id->cert_pem + id->key_pem).c_str (), -1, &gerror);
  ASSERT_NE (cert, nullptr) << gerror->message;
  GByteArray *der = nullptr;
  g_object_get (cert, "certificate", &der, nullptr);
  ASSERT_NE (der, nullptr);
  EXPECT_EQ (spki_pin_of_certificate (der->data, der->len), id->spki_pin);
  EXPECT_EQ (spki_pin_of_certificate (der->data, der->len / 2), "") << "a truncated certificate";
  g_byte_array_unref (der);
}

TEST (TlsStateDir, FollowsXdgForUsersAndVarLibForRoot)
{
  std::string dir = default_state_dir ();
  if (geteuid () == 0)
    EXPECT_EQ (dir, "/var/lib/mirror");
  else
    EXPECT_EQ (dir, std::string (g_get_user_state_dir ()) + "/mirror");
}

} // namespace
} // namespace mirror::test
