// SPDX-License-Identifier: LGPL-2.1-or-later
#include "layers.h"

#include "schema.h"
#include "values.h"

namespace mirror::daemon::config_layers {

namespace {

using config_schema::Key;

class RuleCheck {
 public:
  RuleCheck (const Config &config, const Origins &origins) : config_ (config), origins_ (origins) {}

  const Key &key (std::string_view path) const { return *config_schema::find_key (path); }

  std::string source_of (const Key &key) const
  {
    auto it = origins_.find (std::string (key.path));
    return it == origins_.end () ? "" : it->second;
  }

  // Of two keys in conflict, name the one a user set: the error should point
  // at their line, not at a default they never wrote.
  const Key &blame (std::string_view preferred, std::string_view other) const
  {
    if (!origins_.count (std::string (preferred)) && origins_.count (std::string (other)))
      return key (other);
    return key (preferred);
  }

  std::string text (std::string_view path) const
  {
    return config_io::scalar_text (key (path), config_);
  }

  ConfigError fail (const Key &key, std::string problem, std::string allowed) const
  {
    return to_error (config_io::problem_at (key, config_, std::move (problem), std::move (allowed)),
                     source_of (key));
  }

  std::optional<ConfigError> ports () const;
  std::optional<ConfigError> packaging () const;
  std::optional<ConfigError> others () const;

 private:
  const Config &config_;
  const Origins &origins_;
};

struct PortUse {
  std::string_view key;
  int port;
  std::string_view what;
};

std::optional<ConfigError>
first_collision (const RuleCheck &check, const std::vector<PortUse> &uses, const char *protocol)
{
  for (size_t i = 0; i < uses.size (); i++)
    for (size_t j = 0; j < i; j++) {
      if (uses[i].port != uses[j].port)
        continue;
      const Key &blamed = check.blame (uses[i].key, uses[j].key);
      bool blame_later = blamed.path == uses[i].key;
      const PortUse &own = blame_later ? uses[i] : uses[j];
      const PortUse &other = blame_later ? uses[j] : uses[i];
      std::string problem = std::string ("puts ") + std::string (own.what) + " on " + protocol
                            + " port " + std::to_string (own.port) + ", already used by "
                            + std::string (other.what) + " (" + std::string (other.key) + ")";
      return check.fail (blamed, problem,
                         std::string ("a ") + protocol + " port used by nothing else");
    }
  return std::nullopt;
}

std::optional<ConfigError>
RuleCheck::ports () const
{
  const ServerConfig &server = config_.server;
  // HTTPS and HTTP/3 share http3_port, over TCP and UDP respectively.
  std::vector<PortUse> tcp = {
    { "server.http3_port", server.http3_port, "HTTPS" },
    { "server.http_port", server.http_port, "HTTP" },
    { "server.admin_port", server.admin_port, "the admin API" },
  };
  std::vector<PortUse> udp = {
    { "server.http3_port", server.http3_port, "HTTP/3" },
    { "ingestion.srt.port", config_.ingestion.srt.port, "SRT" },
    { "ingestion.rtp.port", config_.ingestion.rtp.port, "RTP" },
    { "ingestion.rtp.port", config_.ingestion.rtp.port + 1, "RTCP" },
  };
  if (auto error = first_collision (*this, tcp, "TCP"))
    return error;
  return first_collision (*this, udp, "UDP");
}

std::optional<ConfigError>
RuleCheck::packaging () const
{
  const PackagingConfig &p = config_.packaging;
  const std::string part = text ("packaging.part_duration");
  const std::string segment = text ("packaging.segment_duration");
  // The muxer closes a segment on a part boundary: parts must fit whole.
  const std::string fit = "packaging.part_duration shorter than packaging.segment_duration and "
                          "dividing it, e.g. 100ms parts in 500ms segments";
  if (p.part_duration_ms >= p.segment_duration_ms) {
    const Key &k = blame ("packaging.part_duration", "packaging.segment_duration");
    if (k.path == "packaging.part_duration")
      return fail (k, "is not shorter than packaging.segment_duration (" + segment + ")", fit);
    return fail (k, "is not longer than packaging.part_duration (" + part + ")", fit);
  }
  if (p.segment_duration_ms % p.part_duration_ms != 0) {
    const Key &k = blame ("packaging.part_duration", "packaging.segment_duration");
    if (k.path == "packaging.part_duration")
      return fail (k, "does not divide packaging.segment_duration (" + segment + ")", fit);
    return fail (k, "is not a whole number of packaging.part_duration (" + part + ")", fit);
  }
  // LL-HLS players want at least three target durations in a playlist.
  if (p.playlist_length_ms < 3 * p.segment_duration_ms) {
    const Key &k = blame ("packaging.playlist_length", "packaging.segment_duration");
    std::string minimum = config_values::format_duration_ms (3 * p.segment_duration_ms);
    return fail (k, "is shorter than 3 segments of packaging.segment_duration (" + segment + ")",
                 "packaging.playlist_length >= 3 x packaging.segment_duration (" + minimum + ")");
  }
  return std::nullopt;
}

std::optional<ConfigError>
RuleCheck::others () const
{
  const RegistryConfig &registry = config_.registry;
  // A node that beats slower than it is timed out flaps between alive and dead.
  if (registry.heartbeat_interval_ms >= registry.heartbeat_timeout_ms) {
    const Key &k = blame ("registry.heartbeat_interval", "registry.heartbeat_timeout");
    std::string allowed = "registry.heartbeat_interval shorter than registry.heartbeat_timeout";
    if (k.path == "registry.heartbeat_interval")
      return fail (k,
                   "is not shorter than registry.heartbeat_timeout ("
                       + text ("registry.heartbeat_timeout") + ")",
                   allowed);
    return fail (k,
                 "is not longer than registry.heartbeat_interval ("
                     + text ("registry.heartbeat_interval") + ")",
                 allowed);
  }

  const S3Config &s3 = config_.storage.s3;
  if (s3.enabled && s3.bucket.empty ()) {
    const Key &bucket = key ("storage.s3.bucket");
    ConfigError error
        = fail (bucket, "missing S3 bucket while storage.s3.enabled is true",
                "a bucket name of 3..63 a-z, 0-9, '.', '-', or storage.s3.enabled: false");
    error.value.clear ();
    error.has_value = false;
    if (error.source.empty ())
      error.source = source_of (key ("storage.s3.enabled"));
    return error;
  }

  const ServerConfig &server = config_.server;
  if (server.cert_file.empty () != server.key_file.empty ()) {
    bool cert_missing = server.cert_file.empty ();
    const Key &missing = key (cert_missing ? "server.cert_file" : "server.key_file");
    const Key &given = key (cert_missing ? "server.key_file" : "server.cert_file");
    ConfigError error
        = fail (missing, "is empty while " + std::string (given.path) + " is set",
                "server.cert_file and server.key_file both set, or both empty (self-signed)");
    error.has_value = false;
    if (error.source.empty ())
      error.source = source_of (given);
    return error;
  }

  // The admin API can delete every stream: off loopback it needs a token,
  // or the operator's explicit word that the network is trusted.
  if (server.admin_token.empty () && !server.admin_insecure
      && !is_loopback_address (effective_admin_bind_address (server)))
    return fail (key ("server.admin_bind_address"),
                 "would open the admin API (which can delete every stream) to other hosts "
                 "without server.admin_token",
                 "set server.admin_token (best MIRROR_SERVER_ADMIN_TOKEN), bind 127.0.0.1, or "
                 "set server.admin_insecure: true on a trusted network");

  // 4:2:0 chroma needs even dimensions; encoders reject odd ones late.
  for (std::string_view path : { "transcoding.output_width", "transcoding.output_height" }) {
    const TranscodingConfig &t = config_.transcoding;
    int value = path == "transcoding.output_width" ? t.output_width : t.output_height;
    if (value % 2 != 0)
      return fail (key (path), "is odd", "an even number of pixels");
  }
  return std::nullopt;
}

} // namespace

std::optional<ConfigError>
check_rules (const Config &config, const Origins &origins)
{
  RuleCheck check (config, origins);
  if (auto error = check.ports ())
    return error;
  if (auto error = check.packaging ())
    return error;
  return check.others ();
}

} // namespace mirror::daemon::config_layers
