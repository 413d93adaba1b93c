// SPDX-License-Identifier: LGPL-2.1-or-later
// Text <-> value conversions for the configuration's scalar types. The YAML
// file and the environment share these, so "5s" means the same in both.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mirror::daemon::config_values {

// true/false, yes/no, on/off, 1/0 (any case).
std::optional<bool> parse_bool (std::string_view text);

// A decimal integer with an optional sign.
std::optional<int64_t> parse_integer (std::string_view text);

// Milliseconds: a bare integer, or a number with a unit: "500ms", "1.5s",
// "1m", "1h". Fractions must come out as whole milliseconds.
std::optional<int64_t> parse_duration_ms (std::string_view text);

// Bits per second: a bare integer, or "400k", "2.5M", "1G" (SI, optionally
// followed by "bps").
std::optional<int64_t> parse_bitrate (std::string_view text);

// Bytes: a bare integer, or "512KiB", "4MiB", "1GiB" (binary) or "kB", "MB",
// "GB" (decimal), or "B".
std::optional<int64_t> parse_size (std::string_view text);

// The shortest exact spelling that the parsers above read back.
std::string format_duration_ms (int64_t ms);
std::string format_bitrate (int64_t bits_per_second);
std::string format_size (int64_t bytes);

// "a, b,c" -> {"a", "b", "c"}; blanks around items are dropped, empty items
// are kept so that the caller can reject them with the offending text.
std::vector<std::string> split_list (std::string_view text);

// "k=v,k2=v2" -> pairs; nullopt names the first item without '='.
struct PairsParse {
  std::vector<std::pair<std::string, std::string>> pairs;
  std::optional<std::string> bad_item;
};
PairsParse split_pairs (std::string_view text);

std::string_view trim (std::string_view text);

// Whether text reads as a number, possibly with one of the units above; such
// values are printed bare in errors, everything else quoted.
bool looks_numeric (std::string_view text);

} // namespace mirror::daemon::config_values
