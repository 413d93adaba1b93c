// SPDX-License-Identifier: LGPL-2.1-or-later
// A small S3 client for the DVR archive: single-part and multipart uploads
// from files (no copy into memory), listings, ranged reads, and the sweep
// of abandoned multipart uploads. libcurl does the HTTP and the AWS SigV4
// signing (CURLOPT_AWS_SIGV4); each attempt is signed when it is sent, so a
// request that waited in a queue or a backoff is never refused for its age.
// Failures that S3 asks to be retried (5xx, 429, SlowDown, RequestTimeout)
// and connection failures (refused, reset, a stalled transfer) are retried
// with exponential backoff and full jitter up to the policy's attempts;
// others (403, 404, a bad request) are returned at once.
//
// Every call blocks; any thread may call, concurrently (one curl easy
// handle per attempt). Keys are relative to S3Config::prefix.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mirror {

struct S3Config {
  // "http://127.0.0.1:4569" (path-style: {endpoint}/{bucket}/{key}); empty:
  // AWS, https://{bucket}.s3.{region}.amazonaws.com/{key}.
  std::string endpoint;
  std::string region = "us-east-1";
  std::string bucket;
  std::string access_key_id;
  std::string secret_access_key;
  std::string prefix; // put before every key ("mirror/"); may be empty
  int64_t connect_timeout_ms = 5000;
  // A transfer slower than 1 KiB/s for this long is abandoned (and retried).
  // curl measures the speed over the last 5 s, so a stall right after a
  // fast burst (a part's body sent, then no answer) is noticed up to 5 s
  // later than this.
  int64_t stall_timeout_s = 15;
};

struct S3RetryPolicy {
  int max_attempts = 5;
  int64_t base_delay_ms = 200; // the first backoff's ceiling; doubles each time
  int64_t max_delay_ms = 10000;
};

struct S3Result {
  bool ok = false;
  long http_status = 0;   // 0: no response (connection refused, reset, stalled)
  std::string code;       // S3's <Code> ("SlowDown", "NoSuchKey"), or curl's error name
  std::string message;    // a sentence for the log: method, key, status, code, message
  bool retryable = false; // what the last attempt's failure was
  int attempts = 0;
  std::string etag; // put_object, upload_part: the ETag header, quotes kept
};

class S3Client {
 public:
  explicit S3Client (S3Config config, S3RetryPolicy retry = {});
  ~S3Client ();
  S3Client (const S3Client &) = delete;
  S3Client &operator= (const S3Client &) = delete;

  const S3Config &config () const { return config_; }
  // prefix + key
  std::string full_key (const std::string &key) const;

  // PUT of [offset, offset + length) of a file, read as it is sent.
  S3Result put_object (const std::string &key, const std::string &file, uint64_t offset,
                       uint64_t length, const std::string &content_type);
  // PUT of bytes in memory (index objects, small files).
  S3Result put_object (const std::string &key, std::string_view body,
                       const std::string &content_type);

  S3Result create_multipart_upload (const std::string &key, const std::string &content_type,
                                    std::string *upload_id);
  // Part numbers from 1; every part but the last at least 5 MiB (S3's rule).
  S3Result upload_part (const std::string &key, const std::string &upload_id, int part_number,
                        const std::string &file, uint64_t offset, uint64_t length);
  // etags[i] is part i + 1's.
  S3Result complete_multipart_upload (const std::string &key, const std::string &upload_id,
                                      const std::vector<std::string> &etags);
  S3Result abort_multipart_upload (const std::string &key, const std::string &upload_id);

  struct Upload {
    std::string key; // relative to the prefix
    std::string upload_id;
    int64_t initiated_unix_s = 0;
  };
  // Multipart uploads in progress under prefix + @prefix (every page).
  S3Result list_multipart_uploads (const std::string &prefix, std::vector<Upload> *out);

  struct Object {
    std::string key; // relative to the prefix
    uint64_t size = 0;
  };
  // ListObjectsV2 under prefix + @prefix (every page).
  S3Result list_objects (const std::string &prefix, std::vector<Object> *out);

  // GET of [offset, offset + length) (length 0: to the end).
  S3Result get_object (const std::string &key, uint64_t offset, uint64_t length, std::string *out);
  S3Result delete_object (const std::string &key);

  struct Counters {
    uint64_t requests = 0;   // attempts sent
    uint64_t retries = 0;    // attempts after a retryable failure
    uint64_t failures = 0;   // calls that returned !ok
    uint64_t bytes_sent = 0; // request bodies of successful attempts
  };
  Counters counters () const;

 private:
  struct Request;
  S3Result perform (Request &request);
  S3Result perform_once (Request &request);

  const S3Config config_;
  const S3RetryPolicy retry_;
  std::atomic<uint64_t> requests_{ 0 }, retries_{ 0 }, failures_{ 0 }, bytes_sent_{ 0 };
};

} // namespace mirror
