// SPDX-License-Identifier: LGPL-2.1-or-later
// Validators for string-valued keys: each returns nullopt when the text is
// acceptable, else the problem as it reads after the value in an error
// ("\"nohost:\" is not host:port").
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mirror::daemon::config_checks {

std::optional<std::string> host_port_or_empty (std::string_view text);
std::optional<std::string> bind_address (std::string_view text);
// Empty (a default chosen elsewhere) or an address.
std::optional<std::string> optional_bind_address (std::string_view text);
std::optional<std::string> playback_token_key (std::string_view text);
std::optional<std::string> srt_passphrase (std::string_view text);
std::optional<std::string> transcoding_ladder (std::string_view text);
std::optional<std::string> not_empty (std::string_view text);
std::optional<std::string> pipeline_name (std::string_view text);
std::optional<std::string> x264_tune (std::string_view text);
std::optional<std::string> cluster_playback (std::string_view text);
std::optional<std::string> dbus_name (std::string_view text);
std::optional<std::string> s3_bucket_or_empty (std::string_view text);
std::optional<std::string> http_url_or_empty (std::string_view text);
std::optional<std::string> s3_prefix (std::string_view text);

} // namespace mirror::daemon::config_checks
