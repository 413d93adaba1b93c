// SPDX-License-Identifier: LGPL-2.1-or-later
#include "values.h"

#include <array>
#include <cctype>
#include <limits>

namespace mirror::daemon::config_values {

namespace {

struct Unit {
  std::string_view suffix;
  int64_t multiplier;
};

constexpr std::array<Unit, 5> kDurationUnits{ {
    { "", 1 },
    { "ms", 1 },
    { "s", 1000 },
    { "m", 60 * 1000 },
    { "h", 60 * 60 * 1000 },
} };

constexpr std::array<Unit, 13> kBitrateUnits{ {
    { "", 1 },
    { "bps", 1 },
    { "k", 1000 },
    { "K", 1000 },
    { "kbps", 1000 },
    { "Kbps", 1000 },
    { "M", 1000 * 1000 },
    { "Mbps", 1000 * 1000 },
    { "G", 1000 * 1000 * 1000 },
    { "Gbps", 1000 * 1000 * 1000 },
    { "kb/s", 1000 },
    { "Mb/s", 1000 * 1000 },
    { "Gb/s", 1000 * 1000 * 1000 },
} };

constexpr std::array<Unit, 9> kSizeUnits{ {
    { "", 1 },
    { "B", 1 },
    { "KiB", 1024 },
    { "MiB", 1024 * 1024 },
    { "GiB", 1024 * 1024 * 1024 },
    { "kB", 1000 },
    { "KB", 1000 },
    { "MB", 1000 * 1000 },
    { "GB", 1000 * 1000 * 1000 },
} };

bool
is_digit (char c)
{
  return c >= '0' && c <= '9';
}

// "-1.25" + "s" split into sign, digits and unit; the caller scales exactly in
// integers, so "0.1s" is 100 ms and never 99.999.
struct Number {
  bool negative = false;
  __int128 mantissa = 0; // all digits, fraction included
  int fraction_digits = 0;
  std::string_view unit;
};

std::optional<Number>
split_number (std::string_view text)
{
  text = trim (text);
  Number n;
  size_t i = 0;
  if (i < text.size () && (text[i] == '-' || text[i] == '+')) {
    n.negative = text[i] == '-';
    i++;
  }
  size_t int_digits = 0;
  for (; i < text.size () && is_digit (text[i]); i++, int_digits++) {
    if (n.mantissa > std::numeric_limits<int64_t>::max ())
      return std::nullopt;
    n.mantissa = n.mantissa * 10 + (text[i] - '0');
  }
  if (int_digits == 0)
    return std::nullopt;
  if (i < text.size () && text[i] == '.') {
    i++;
    for (; i < text.size () && is_digit (text[i]); i++) {
      if (n.fraction_digits >= 9)
        return std::nullopt;
      n.mantissa = n.mantissa * 10 + (text[i] - '0');
      n.fraction_digits++;
    }
    if (n.fraction_digits == 0)
      return std::nullopt;
  }
  // One optional space between the number and its unit ("500 ms").
  n.unit = trim (text.substr (i));
  return n;
}

template <size_t N>
std::optional<int64_t>
parse_scaled (std::string_view text, const std::array<Unit, N> &units)
{
  auto n = split_number (text);
  if (!n)
    return std::nullopt;
  for (const Unit &u : units) {
    if (u.suffix != n->unit)
      continue;
    __int128 scaled = n->mantissa * u.multiplier;
    __int128 divisor = 1;
    for (int d = 0; d < n->fraction_digits; d++)
      divisor *= 10;
    if (scaled % divisor != 0)
      return std::nullopt; // not a whole number of the base unit
    scaled /= divisor;
    if (scaled > std::numeric_limits<int64_t>::max ())
      return std::nullopt;
    return static_cast<int64_t> (n->negative ? -scaled : scaled);
  }
  return std::nullopt;
}

template <size_t N>
std::string
format_scaled (int64_t value, const std::array<Unit, N> &units)
{
  // Largest unit that divides exactly; the units arrays are ordered so that
  // the preferred spelling for a multiplier comes first.
  const Unit *best = nullptr;
  for (const Unit &u : units) {
    if (u.suffix.empty () || (value != 0 && value % u.multiplier != 0))
      continue;
    if (value == 0 && u.multiplier != 1)
      continue;
    if (!best || u.multiplier > best->multiplier)
      best = &u;
  }
  if (!best)
    return std::to_string (value);
  return std::to_string (value / best->multiplier) + std::string (best->suffix);
}

} // namespace

std::string_view
trim (std::string_view text)
{
  while (!text.empty () && std::isspace (static_cast<unsigned char> (text.front ())))
    text.remove_prefix (1);
  while (!text.empty () && std::isspace (static_cast<unsigned char> (text.back ())))
    text.remove_suffix (1);
  return text;
}

std::optional<bool>
parse_bool (std::string_view text)
{
  std::string lower;
  for (char c : trim (text))
    lower += static_cast<char> (std::tolower (static_cast<unsigned char> (c)));
  if (lower == "true" || lower == "yes" || lower == "on" || lower == "1")
    return true;
  if (lower == "false" || lower == "no" || lower == "off" || lower == "0")
    return false;
  return std::nullopt;
}

std::optional<int64_t>
parse_integer (std::string_view text)
{
  auto n = split_number (text);
  if (!n || n->fraction_digits != 0 || !n->unit.empty ())
    return std::nullopt;
  return static_cast<int64_t> (n->negative ? -n->mantissa : n->mantissa);
}

std::optional<int64_t>
parse_duration_ms (std::string_view text)
{
  return parse_scaled (text, kDurationUnits);
}

std::optional<int64_t>
parse_bitrate (std::string_view text)
{
  return parse_scaled (text, kBitrateUnits);
}

std::optional<int64_t>
parse_size (std::string_view text)
{
  return parse_scaled (text, kSizeUnits);
}

std::string
format_duration_ms (int64_t ms)
{
  // Always with a unit ("120ms", never "120"): a reader of the dump should
  // not have to know that bare numbers are milliseconds.
  return format_scaled (ms, kDurationUnits);
}

std::string
format_bitrate (int64_t bits_per_second)
{
  constexpr std::array<Unit, 4> preferred{
    { { "", 1 }, { "k", 1000 }, { "M", 1000 * 1000 }, { "G", 1000 * 1000 * 1000 } }
  };
  return format_scaled (bits_per_second, preferred);
}

std::string
format_size (int64_t bytes)
{
  constexpr std::array<Unit, 4> preferred{
    { { "", 1 }, { "KiB", 1024 }, { "MiB", 1024 * 1024 }, { "GiB", 1024 * 1024 * 1024 } }
  };
  return format_scaled (bytes, preferred);
}

std::vector<std::string>
split_list (std::string_view text)
{
  std::vector<std::string> items;
  if (trim (text).empty ())
    return items;
  size_t start = 0;
  while (true) {
    size_t comma = text.find (',', start);
    std::string_view item
        = text.substr (start, comma == std::string_view::npos ? comma : comma - start);
    items.emplace_back (trim (item));
    if (comma == std::string_view::npos)
      break;
    start = comma + 1;
  }
  return items;
}

PairsParse
split_pairs (std::string_view text)
{
  PairsParse result;
  for (const std::string &item : split_list (text)) {
    size_t eq = item.find ('=');
    if (eq == std::string::npos) {
      result.bad_item = item;
      return result;
    }
    result.pairs.emplace_back (std::string (trim (std::string_view (item).substr (0, eq))),
                               std::string (trim (std::string_view (item).substr (eq + 1))));
  }
  return result;
}

bool
looks_numeric (std::string_view text)
{
  auto n = split_number (text);
  if (!n || text != trim (text))
    return false;
  auto known = [&] (const auto &units) {
    for (const Unit &u : units)
      if (u.suffix == n->unit)
        return true;
    return false;
  };
  return known (kDurationUnits) || known (kBitrateUnits) || known (kSizeUnits);
}

} // namespace mirror::daemon::config_values
