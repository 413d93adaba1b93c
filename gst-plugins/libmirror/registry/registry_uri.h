// SPDX-License-Identifier: LGPL-2.1-or-later
// The registry URI: "memory://" or "redis://[[user]:password@]host[:port][/db]".
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mirror {

struct RegistryUri {
  enum class Backend { kMemory, kRedis };
  Backend backend = Backend::kMemory;
  std::string host; // without IPv6 brackets
  int port = 6379;
  int db = 0;
  std::string username; // empty: the default user
  std::string password; // empty: no AUTH
};

// nullopt and *why (what is wrong, naming the offending part) on a bad URI.
std::optional<RegistryUri> parse_registry_uri (std::string_view uri, std::string *why);

// "memory://" or "redis://host:port/db", never the password.
std::string describe_registry_uri (const RegistryUri &uri);

// The URI with any password replaced by "***", for error messages and logs.
std::string redact_registry_uri (std::string_view uri);

} // namespace mirror
