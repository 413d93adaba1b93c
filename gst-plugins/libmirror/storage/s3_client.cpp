// SPDX-License-Identifier: LGPL-2.1-or-later
#include "storage/s3_client.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

#include <curl/curl.h>
#include <glib.h>

namespace mirror {

namespace {

// SHA-256 of nothing: the payload hash of a request without a body.
constexpr const char *kEmptySha256
    = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

bool
unreserved (unsigned char c)
{
  return g_ascii_isalnum (c) || c == '-' || c == '_' || c == '.' || c == '~';
}

// S3's URI encoding: every byte but the unreserved ones as %XX (upper
// case); '/' kept where @keep_slash (an object key in a path).
std::string
uri_encode (std::string_view s, bool keep_slash)
{
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve (s.size ());
  for (unsigned char c : s) {
    if (unreserved (c) || (keep_slash && c == '/')) {
      out += char (c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

using Params = std::vector<std::pair<std::string, std::string>>;

// A query string in SigV4's canonical form: names and values encoded, sorted
// by name then value, "name=" for an empty value. curl 7.88 signs the query
// exactly as the URL gives it (it neither sorts nor encodes), so the URL
// must carry the canonical form itself; a later curl that canonicalises
// leaves it unchanged.
std::string
canonical_query (const Params &params)
{
  std::vector<std::pair<std::string, std::string>> encoded;
  for (const auto &[name, value] : params)
    encoded.emplace_back (uri_encode (name, false), uri_encode (value, false));
  std::sort (encoded.begin (), encoded.end ());
  std::string out;
  for (const auto &[name, value] : encoded) {
    if (!out.empty ())
      out += '&';
    out += name + "=" + value;
  }
  return out;
}

// The names of the curl errors a transfer can end with here; others by number.
std::string
curl_code_name (CURLcode code)
{
  switch (code) {
  case CURLE_COULDNT_RESOLVE_HOST:
    return "CURLE_COULDNT_RESOLVE_HOST";
  case CURLE_COULDNT_CONNECT:
    return "CURLE_COULDNT_CONNECT";
  case CURLE_OPERATION_TIMEDOUT:
    return "CURLE_OPERATION_TIMEDOUT";
  case CURLE_SEND_ERROR:
    return "CURLE_SEND_ERROR";
  case CURLE_RECV_ERROR:
    return "CURLE_RECV_ERROR";
  case CURLE_GOT_NOTHING:
    return "CURLE_GOT_NOTHING";
  case CURLE_PARTIAL_FILE:
    return "CURLE_PARTIAL_FILE";
  case CURLE_SSL_CONNECT_ERROR:
    return "CURLE_SSL_CONNECT_ERROR";
  case CURLE_PEER_FAILED_VERIFICATION:
    return "CURLE_PEER_FAILED_VERIFICATION";
  case CURLE_HTTP2:
    return "CURLE_HTTP2";
  case CURLE_HTTP2_STREAM:
    return "CURLE_HTTP2_STREAM";
  case CURLE_WEIRD_SERVER_REPLY:
    return "CURLE_WEIRD_SERVER_REPLY";
  case CURLE_ABORTED_BY_CALLBACK:
    return "CURLE_ABORTED_BY_CALLBACK";
  case CURLE_READ_ERROR:
    return "CURLE_READ_ERROR";
  case CURLE_SEND_FAIL_REWIND:
    return "CURLE_SEND_FAIL_REWIND";
  case CURLE_URL_MALFORMAT:
    return "CURLE_URL_MALFORMAT";
  default:
    return "CURLE_" + std::to_string (int (code));
  }
}

// Failures of the connection or the transfer, which another attempt on a new
// connection may not meet. Not: a bad URL or option, a certificate that does
// not verify, our own file failing to read.
bool
curl_code_retryable (CURLcode code)
{
  switch (code) {
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_CONNECT:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
  case CURLE_WEIRD_SERVER_REPLY:
  case CURLE_SEND_FAIL_REWIND:
    return true;
  default:
    return false;
  }
}

// S3's codes for "try again later", whatever status carries them (a
// RequestTimeout comes as a 400).
bool
s3_code_retryable (const std::string &code)
{
  return code == "SlowDown" || code == "RequestTimeout" || code == "InternalError"
         || code == "ServiceUnavailable";
}

bool
status_retryable (long status)
{
  // 501 NotImplemented and 505 will say the same next time.
  return (status >= 500 && status != 501 && status != 505) || status == 408 || status == 429;
}

// The XML of S3's answers, read with GMarkup: @on_end is called as each
// element closes, with the names from the root down to it and its text.
using ElementEnd
    = std::function<void (const std::vector<std::string> &path, const std::string &text)>;

struct XmlWalk {
  std::vector<std::string> path;
  std::string text;
  const ElementEnd *on_end;
};

bool
walk_xml (const std::string &xml, const ElementEnd &on_end)
{
  static const GMarkupParser parser = {
    // start_element
    [] (GMarkupParseContext *, const char *name, const char **, const char **, gpointer data,
        GError **) {
      auto *w = static_cast<XmlWalk *> (data);
      w->path.emplace_back (name);
      w->text.clear ();
    },
    // end_element
    [] (GMarkupParseContext *, const char *, gpointer data, GError **) {
      auto *w = static_cast<XmlWalk *> (data);
      (*w->on_end) (w->path, w->text);
      w->path.pop_back ();
      w->text.clear ();
    },
    // text: a leaf's whole text (GMarkup may hand it over in pieces)
    [] (GMarkupParseContext *, const char *text, gsize len, gpointer data, GError **) {
      static_cast<XmlWalk *> (data)->text.append (text, len);
    },
    nullptr,
    nullptr,
  };
  XmlWalk walk{ {}, {}, &on_end };
  GMarkupParseContext *context
      = g_markup_parse_context_new (&parser, GMarkupParseFlags (0), &walk, nullptr);
  bool ok = g_markup_parse_context_parse (context, xml.data (), gssize (xml.size ()), nullptr)
            && g_markup_parse_context_end_parse (context, nullptr);
  g_markup_parse_context_free (context);
  return ok;
}

// An <Error>'s Code and Message; false when @xml is not one.
bool
parse_error (const std::string &xml, std::string *code, std::string *message)
{
  bool is_error = false;
  bool ok = walk_xml (xml, [&] (const std::vector<std::string> &path, const std::string &text) {
    if (path[0] != "Error")
      return;
    is_error = true;
    if (path.size () == 2 && path[1] == "Code")
      *code = text;
    else if (path.size () == 2 && path[1] == "Message")
      *message = text;
  });
  return ok && is_error;
}

// A body that is not S3's XML (a proxy's page), cut to a line for the log.
std::string
excerpt (const std::string &body)
{
  std::string out = body.substr (0, 120);
  for (char &c : out)
    if (!g_ascii_isprint (c))
      c = ' ';
  return g_strstrip (out.data ());
}

// 2010-11-10T20:48:33.000Z
int64_t
parse_iso8601 (const std::string &text)
{
  GDateTime *t = g_date_time_new_from_iso8601 (text.c_str (), nullptr);
  if (!t)
    return 0;
  int64_t unix_s = g_date_time_to_unix (t);
  g_date_time_unref (t);
  return unix_s;
}

// Full jitter: uniform in [0, min (max, base * 2^(attempt - 1))].
int64_t
backoff_ms (const S3RetryPolicy &policy, int attempt)
{
  int64_t ceiling = policy.base_delay_ms;
  for (int i = 1; i < attempt && ceiling < policy.max_delay_ms; i++)
    ceiling *= 2;
  ceiling = std::min (ceiling, policy.max_delay_ms);
  if (ceiling <= 0)
    return 0;
  thread_local std::mt19937_64 random{ std::random_device{}() };
  return std::uniform_int_distribution<int64_t> (0, ceiling) (random);
}

// A request's body as curl reads it: [offset, offset + length) of @fd, else
// @memory (possibly empty).
struct Body {
  int fd = -1;
  uint64_t offset = 0;
  uint64_t length = 0;
  std::string_view memory;
  // The read position within this attempt, and why reading failed.
  uint64_t sent = 0;
  std::string error;

  uint64_t size () const { return fd >= 0 ? length : memory.size (); }
};

size_t
read_body (char *buffer, size_t size, size_t count, void *data)
{
  auto *b = static_cast<Body *> (data);
  size_t want = std::min<uint64_t> (size * count, b->size () - b->sent);
  if (want == 0)
    return 0;
  if (b->fd < 0) {
    memcpy (buffer, b->memory.data () + b->sent, want);
    b->sent += want;
    return want;
  }
  // pread: the attempts of one call share the descriptor, and a rewind is
  // only a new position.
  ssize_t n;
  do
    n = pread (b->fd, buffer, want, off_t (b->offset + b->sent));
  while (n < 0 && errno == EINTR);
  if (n <= 0) {
    b->error = n < 0 ? std::string ("reading the file failed: ") + g_strerror (errno)
                     : std::string ("the file ended before the range did");
    return CURL_READFUNC_ABORT;
  }
  b->sent += size_t (n);
  return size_t (n);
}

// curl rewinds the body to send it again within an attempt (a reused
// connection found closed, a redirect, a 417 to Expect: 100-continue).
int
seek_body (void *data, curl_off_t offset, int origin)
{
  auto *b = static_cast<Body *> (data);
  if (origin != SEEK_SET || offset < 0 || uint64_t (offset) > b->size ())
    return CURL_SEEKFUNC_FAIL;
  b->sent = uint64_t (offset);
  return CURL_SEEKFUNC_OK;
}

struct Response {
  long status = 0;
  std::string body;
  std::string etag;
};

size_t
write_response (char *data, size_t size, size_t count, void *response)
{
  static_cast<Response *> (response)->body.append (data, size * count);
  return size * count;
}

size_t
read_header (char *data, size_t size, size_t count, void *response)
{
  auto *r = static_cast<Response *> (response);
  std::string_view line (data, size * count);
  // Each response (a 100 Continue, then the real one) starts afresh.
  if (line.starts_with ("HTTP/"))
    r->etag.clear ();
  if (line.size () > 5 && g_ascii_strncasecmp (line.data (), "etag:", 5) == 0) {
    std::string value (line.substr (5));
    r->etag = g_strstrip (value.data ());
  }
  return size * count;
}

std::string
sha256_hex (std::string_view data)
{
  gchar *hex = g_compute_checksum_for_data (
      G_CHECKSUM_SHA256, reinterpret_cast<const guchar *> (data.data ()), data.size ());
  std::string out (hex);
  g_free (hex);
  return out;
}

} // namespace

// One S3 request, as each attempt at it sends it.
struct S3Client::Request {
  std::string method; // GET, PUT, POST, DELETE
  std::string key;    // prefix + key; empty: the bucket
  std::string query;  // canonical_query ()
  std::string what;   // for messages: "PUT mirror/a.cmf part 3"
  std::string content_type;
  std::string range; // "bytes=0-99"; empty: all of it
  std::string payload_sha256 = kEmptySha256;
  Body body;
  Response response; // the last attempt's
};

S3Client::S3Client (S3Config config, S3RetryPolicy retry)
    : config_ (std::move (config)), retry_ (retry)
{
  // Not thread-safe in every curl build: once, before any handle.
  static std::once_flag once;
  std::call_once (once, [] { curl_global_init (CURL_GLOBAL_DEFAULT); });
}

S3Client::~S3Client () = default;

std::string
S3Client::full_key (const std::string &key) const
{
  return config_.prefix + key;
}

S3Client::Counters
S3Client::counters () const
{
  Counters c;
  c.requests = requests_.load ();
  c.retries = retries_.load ();
  c.failures = failures_.load ();
  c.bytes_sent = bytes_sent_.load ();
  return c;
}

S3Result
S3Client::perform (Request &request)
{
  S3Result result;
  for (int attempt = 1;; attempt++) {
    if (attempt > 1)
      retries_++;
    requests_++;
    result = perform_once (request);
    result.attempts = attempt;
    result.message += " (attempt " + std::to_string (attempt) + " of "
                      + std::to_string (retry_.max_attempts) + ")";
    if (result.ok) {
      bytes_sent_ += request.body.size ();
      return result;
    }
    if (!result.retryable || attempt >= retry_.max_attempts)
      break;
    std::this_thread::sleep_for (std::chrono::milliseconds (backoff_ms (retry_, attempt)));
  }
  failures_++;
  return result;
}

S3Result
S3Client::perform_once (Request &request)
{
  Body &body = request.body;
  Response &response = request.response;
  body.sent = 0;
  body.error.clear ();
  response = {};

  std::string url;
  std::string endpoint = config_.endpoint;
  while (!endpoint.empty () && endpoint.back () == '/')
    endpoint.pop_back ();
  if (!endpoint.empty ()) {
    url = endpoint + "/" + uri_encode (config_.bucket, false);
    if (!request.key.empty ())
      url += "/" + uri_encode (request.key, true);
  } else {
    url = "https://" + config_.bucket + ".s3." + config_.region + ".amazonaws.com/"
          + uri_encode (request.key, true);
  }
  if (!request.query.empty ())
    url += "?" + request.query;

  // curl signs every header given here, and Host; so none may be an empty
  // "Name:" that removes one of curl's own: it would be signed but never
  // sent. x-amz-content-sha256 is S3's payload hash, which S3 requires:
  // curl 7.88 signs the value given, and without the header it hashes only
  // CURLOPT_POSTFIELDS (nothing, for a body read through a callback) and
  // sends no such header.
  struct curl_slist *headers = nullptr;
  headers
      = curl_slist_append (headers, ("x-amz-content-sha256: " + request.payload_sha256).c_str ());
  if (!request.content_type.empty ())
    headers = curl_slist_append (headers, ("Content-Type: " + request.content_type).c_str ());
  if (!request.range.empty ())
    headers = curl_slist_append (headers, ("Range: " + request.range).c_str ());

  const std::string sigv4 = "aws:amz:" + config_.region + ":s3";
  char error[CURL_ERROR_SIZE] = "";

  CURL *curl = curl_easy_init ();
  curl_easy_setopt (curl, CURLOPT_URL, url.c_str ());
  // The key as encoded: no "." or ".." segment folded away before signing.
  curl_easy_setopt (curl, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt (curl, CURLOPT_HTTP_VERSION, long (CURL_HTTP_VERSION_1_1));
  // Signed now, as this attempt is sent (x-amz-date is the time of sending).
  curl_easy_setopt (curl, CURLOPT_AWS_SIGV4, sigv4.c_str ());
  curl_easy_setopt (curl, CURLOPT_USERNAME, config_.access_key_id.c_str ());
  curl_easy_setopt (curl, CURLOPT_PASSWORD, config_.secret_access_key.c_str ());
  curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT_MS, long (config_.connect_timeout_ms));
  curl_easy_setopt (curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt (curl, CURLOPT_LOW_SPEED_TIME, long (config_.stall_timeout_s));
  curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, write_response);
  curl_easy_setopt (curl, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt (curl, CURLOPT_HEADERFUNCTION, read_header);
  curl_easy_setopt (curl, CURLOPT_HEADERDATA, &response);
  if (request.method == "PUT" || request.method == "POST") {
    curl_easy_setopt (curl, CURLOPT_READFUNCTION, read_body);
    curl_easy_setopt (curl, CURLOPT_READDATA, &body);
    curl_easy_setopt (curl, CURLOPT_SEEKFUNCTION, seek_body);
    curl_easy_setopt (curl, CURLOPT_SEEKDATA, &body);
    if (request.method == "PUT") {
      curl_easy_setopt (curl, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt (curl, CURLOPT_INFILESIZE_LARGE, curl_off_t (body.size ()));
    } else {
      curl_easy_setopt (curl, CURLOPT_POST, 1L);
      curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t (body.size ()));
    }
  } else if (request.method != "GET") {
    curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, request.method.c_str ());
  }

  CURLcode code = curl_easy_perform (curl);
  if (code == CURLE_OK)
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &response.status);
  curl_easy_cleanup (curl);
  curl_slist_free_all (headers);

  S3Result result;
  const std::string head = request.what + ": ";
  if (code != CURLE_OK) {
    // No whole response, whatever part of one came.
    result.code = curl_code_name (code);
    if (!body.error.empty ()) {
      result.message = head + body.error;
    } else {
      result.message = head + result.code + ": " + (error[0] ? error : curl_easy_strerror (code));
      result.retryable = curl_code_retryable (code);
    }
    return result;
  }

  result.http_status = response.status;
  result.etag = response.etag;
  std::string message;
  bool error_in_200 = false;
  if (response.status >= 200 && response.status < 300) {
    // CompleteMultipartUpload may fail after its 200 was sent: the error is
    // then the body.
    if (request.method == "POST" && parse_error (response.body, &result.code, &message)) {
      error_in_200 = true;
    } else {
      result.ok = true;
      result.message = head + std::to_string (response.status);
      return result;
    }
  } else if (!parse_error (response.body, &result.code, &message)) {
    message = excerpt (response.body);
  }

  result.retryable = status_retryable (response.status) || s3_code_retryable (result.code);
  result.message = head + std::to_string (response.status);
  if (error_in_200)
    result.message += " with an error";
  if (!result.code.empty ())
    result.message += " " + result.code;
  if (!message.empty ())
    result.message += ": " + message;
  return result;
}

S3Result
S3Client::put_object (const std::string &key, const std::string &file, uint64_t offset,
                      uint64_t length, const std::string &content_type)
{
  Request r;
  r.method = "PUT";
  r.key = full_key (key);
  r.what = "PUT " + r.key;
  r.content_type = content_type;
  r.body.offset = offset;
  r.body.length = length;
  // The body is read as it is sent, so it is not hashed beforehand.
  r.payload_sha256 = "UNSIGNED-PAYLOAD";
  r.body.fd = open (file.c_str (), O_RDONLY | O_CLOEXEC);
  if (r.body.fd < 0) {
    S3Result result;
    result.code = "OpenFailed";
    result.message = r.what + ": cannot open " + file + ": " + g_strerror (errno);
    failures_++;
    return result;
  }
  S3Result result = perform (r);
  close (r.body.fd);
  return result;
}

S3Result
S3Client::put_object (const std::string &key, std::string_view body,
                      const std::string &content_type)
{
  Request r;
  r.method = "PUT";
  r.key = full_key (key);
  r.what = "PUT " + r.key;
  r.content_type = content_type;
  r.body.memory = body;
  // In memory, so signed too: S3 refuses a body that does not match.
  r.payload_sha256 = sha256_hex (body);
  return perform (r);
}

S3Result
S3Client::create_multipart_upload (const std::string &key, const std::string &content_type,
                                   std::string *upload_id)
{
  Request r;
  r.method = "POST";
  r.key = full_key (key);
  r.query = canonical_query ({ { "uploads", "" } });
  r.what = "POST " + r.key + " (create multipart upload)";
  // The object's type; without it curl would send a form's.
  r.content_type = content_type.empty () ? "application/octet-stream" : content_type;
  S3Result result = perform (r);
  if (!result.ok)
    return result;
  upload_id->clear ();
  bool parsed = walk_xml (r.response.body, [&] (const std::vector<std::string> &path,
                                                const std::string &text) {
    if (path.size () == 2 && path[0] == "InitiateMultipartUploadResult" && path[1] == "UploadId")
      *upload_id = text;
  });
  if (!parsed || upload_id->empty ()) {
    result.ok = false;
    result.code = "MalformedResponse";
    result.message = r.what + ": " + std::to_string (result.http_status) + " without an UploadId";
    failures_++;
  }
  return result;
}

S3Result
S3Client::upload_part (const std::string &key, const std::string &upload_id, int part_number,
                       const std::string &file, uint64_t offset, uint64_t length)
{
  Request r;
  r.method = "PUT";
  r.key = full_key (key);
  r.query = canonical_query (
      { { "partNumber", std::to_string (part_number) }, { "uploadId", upload_id } });
  r.what = "PUT " + r.key + " part " + std::to_string (part_number);
  r.body.offset = offset;
  r.body.length = length;
  r.payload_sha256 = "UNSIGNED-PAYLOAD";
  r.body.fd = open (file.c_str (), O_RDONLY | O_CLOEXEC);
  if (r.body.fd < 0) {
    S3Result result;
    result.code = "OpenFailed";
    result.message = r.what + ": cannot open " + file + ": " + g_strerror (errno);
    failures_++;
    return result;
  }
  S3Result result = perform (r);
  close (r.body.fd);
  return result;
}

S3Result
S3Client::complete_multipart_upload (const std::string &key, const std::string &upload_id,
                                     const std::vector<std::string> &etags)
{
  std::string xml = "<CompleteMultipartUpload>";
  for (size_t i = 0; i < etags.size (); i++) {
    gchar *etag = g_markup_escape_text (etags[i].c_str (), -1);
    xml += "<Part><PartNumber>" + std::to_string (i + 1) + "</PartNumber><ETag>" + etag
           + "</ETag></Part>";
    g_free (etag);
  }
  xml += "</CompleteMultipartUpload>";

  Request r;
  r.method = "POST";
  r.key = full_key (key);
  r.query = canonical_query ({ { "uploadId", upload_id } });
  r.what = "POST " + r.key + " (complete " + std::to_string (etags.size ()) + " parts)";
  r.content_type = "application/xml";
  r.body.memory = xml;
  r.payload_sha256 = sha256_hex (xml);
  return perform (r);
}

S3Result
S3Client::abort_multipart_upload (const std::string &key, const std::string &upload_id)
{
  Request r;
  r.method = "DELETE";
  r.key = full_key (key);
  r.query = canonical_query ({ { "uploadId", upload_id } });
  r.what = "DELETE " + r.key + " (abort upload " + upload_id + ")";
  return perform (r);
}

S3Result
S3Client::list_multipart_uploads (const std::string &prefix, std::vector<Upload> *out)
{
  out->clear ();
  const std::string full_prefix = full_key (prefix);
  std::string key_marker, upload_id_marker;
  int attempts = 0;
  for (;;) {
    Params params = { { "uploads", "" }, { "prefix", full_prefix } };
    if (!key_marker.empty ())
      params.emplace_back ("key-marker", key_marker);
    if (!upload_id_marker.empty ())
      params.emplace_back ("upload-id-marker", upload_id_marker);
    Request r;
    r.method = "GET";
    r.query = canonical_query (params);
    r.what = "GET " + config_.bucket + " uploads under " + full_prefix;
    S3Result result = perform (r);
    attempts += result.attempts;
    result.attempts = attempts;
    if (!result.ok)
      return result;

    bool truncated = false;
    std::string next_key, next_upload_id;
    Upload upload;
    bool parsed = walk_xml (r.response.body,
                            [&] (const std::vector<std::string> &path, const std::string &text) {
                              if (path[0] != "ListMultipartUploadsResult")
                                return;
                              if (path.size () == 2) {
                                if (path[1] == "IsTruncated")
                                  truncated = text == "true";
                                else if (path[1] == "NextKeyMarker")
                                  next_key = text;
                                else if (path[1] == "NextUploadIdMarker")
                                  next_upload_id = text;
                                else if (path[1] == "Upload") {
                                  if (upload.key.starts_with (config_.prefix))
                                    upload.key.erase (0, config_.prefix.size ());
                                  out->push_back (std::move (upload));
                                  upload = {};
                                }
                              } else if (path.size () == 3 && path[1] == "Upload") {
                                if (path[2] == "Key")
                                  upload.key = text;
                                else if (path[2] == "UploadId")
                                  upload.upload_id = text;
                                else if (path[2] == "Initiated")
                                  upload.initiated_unix_s = parse_iso8601 (text);
                              }
                            });
    if (!parsed) {
      result.ok = false;
      result.code = "MalformedResponse";
      result.message = r.what + ": " + std::to_string (result.http_status) + " with bad XML";
      failures_++;
      return result;
    }
    // A truncated page without its markers would list the same page forever.
    if (!truncated || next_key.empty ())
      return result;
    key_marker = next_key;
    upload_id_marker = next_upload_id;
  }
}

S3Result
S3Client::list_objects (const std::string &prefix, std::vector<Object> *out)
{
  out->clear ();
  const std::string full_prefix = full_key (prefix);
  std::string token;
  int attempts = 0;
  for (;;) {
    Params params = { { "list-type", "2" }, { "prefix", full_prefix } };
    if (!token.empty ())
      params.emplace_back ("continuation-token", token);
    Request r;
    r.method = "GET";
    r.query = canonical_query (params);
    r.what = "GET " + config_.bucket + " objects under " + full_prefix;
    S3Result result = perform (r);
    attempts += result.attempts;
    result.attempts = attempts;
    if (!result.ok)
      return result;

    bool truncated = false;
    std::string next_token;
    Object object;
    bool parsed = walk_xml (r.response.body,
                            [&] (const std::vector<std::string> &path, const std::string &text) {
                              if (path[0] != "ListBucketResult")
                                return;
                              if (path.size () == 2) {
                                if (path[1] == "IsTruncated")
                                  truncated = text == "true";
                                else if (path[1] == "NextContinuationToken")
                                  next_token = text;
                                else if (path[1] == "Contents") {
                                  if (object.key.starts_with (config_.prefix))
                                    object.key.erase (0, config_.prefix.size ());
                                  out->push_back (std::move (object));
                                  object = {};
                                }
                              } else if (path.size () == 3 && path[1] == "Contents") {
                                if (path[2] == "Key")
                                  object.key = text;
                                else if (path[2] == "Size")
                                  object.size = g_ascii_strtoull (text.c_str (), nullptr, 10);
                              }
                            });
    if (!parsed) {
      result.ok = false;
      result.code = "MalformedResponse";
      result.message = r.what + ": " + std::to_string (result.http_status) + " with bad XML";
      failures_++;
      return result;
    }
    if (!truncated || next_token.empty ())
      return result;
    token = next_token;
  }
}

S3Result
S3Client::get_object (const std::string &key, uint64_t offset, uint64_t length, std::string *out)
{
  Request r;
  r.method = "GET";
  r.key = full_key (key);
  r.what = "GET " + r.key;
  if (offset > 0 || length > 0) {
    r.range = "bytes=" + std::to_string (offset) + "-"
              + (length > 0 ? std::to_string (offset + length - 1) : std::string ());
    r.what += " " + r.range;
  }
  S3Result result = perform (r);
  if (!result.ok)
    return result;
  // A server that ignores Range sends all of it with a 200.
  if (!r.range.empty () && result.http_status == 200)
    *out = r.response.body.substr (std::min<uint64_t> (offset, r.response.body.size ()),
                                   length > 0 ? length : std::string::npos);
  else
    *out = std::move (r.response.body);
  return result;
}

S3Result
S3Client::delete_object (const std::string &key)
{
  Request r;
  r.method = "DELETE";
  r.key = full_key (key);
  r.what = "DELETE " + r.key;
  return perform (r);
}

} // namespace mirror
