// SPDX-License-Identifier: LGPL-2.1-or-later
#include "field_io.h"

#include "values.h"

#include <algorithm>
#include <cctype>
#include <type_traits>

namespace mirror::daemon::config_io {

namespace {

using config_schema::Field;
using config_schema::Key;
using config_schema::Kind;
using config_schema::Routes;
namespace values = config_values;

Problem
make_problem (const Key &key, std::string value, std::string problem)
{
  Problem p{ std::string (key.path), std::move (value), true, std::move (problem),
             config_schema::allowed_text (key) };
  if (key.secret) {
    // Passphrases and tokens end up in logs; say what is wrong, not what it is.
    p.value.clear ();
    p.has_value = false;
  }
  return p;
}

template <typename T>
T *
field_as (const Key &key, Config &config)
{
  Field field = key.field (config);
  return std::get<T *> (field);
}

bool
equals_ignoring_case (std::string_view a, std::string_view b)
{
  return std::equal (a.begin (), a.end (), b.begin (), b.end (), [] (char x, char y) {
    return std::tolower (static_cast<unsigned char> (x))
           == std::tolower (static_cast<unsigned char> (y));
  });
}

std::optional<std::string_view>
choice_for (const Key &key, std::string_view text)
{
  for (std::string_view choice : key.choices)
    if (equals_ignoring_case (choice, values::trim (text)))
      return choice;
  return std::nullopt;
}

std::pair<int64_t, int64_t>
range_of (const Key &key)
{
  if (key.kind == Kind::kPort && key.min == 0 && key.max == 0)
    return { 1, 65535 };
  return { key.min, key.max };
}

// In the key's unit, as the parsers read it back.
std::string
format_number (const Key &key, int64_t number)
{
  switch (key.kind) {
  case Kind::kDuration:
    return values::format_duration_ms (number);
  case Kind::kBitrate:
    return values::format_bitrate (number);
  case Kind::kSize:
    return values::format_size (number);
  default:
    return std::to_string (number);
  }
}

std::optional<Problem>
apply_number (const Key &key, const std::string &text, Config &config)
{
  std::optional<int64_t> parsed;
  const char *not_a = "";
  switch (key.kind) {
  case Kind::kInteger:
  case Kind::kPort:
    parsed = values::parse_integer (text);
    not_a = "is not an integer";
    break;
  case Kind::kDuration:
    parsed = values::parse_duration_ms (text);
    not_a = "is not a duration";
    break;
  case Kind::kBitrate:
    parsed = values::parse_bitrate (text);
    not_a = "is not a bitrate";
    break;
  case Kind::kSize:
    parsed = values::parse_size (text);
    not_a = "is not a size";
    break;
  default:
    break;
  }
  if (!parsed)
    return make_problem (key, text, not_a);
  auto [lo, hi] = range_of (key);
  if (*parsed < lo || *parsed > hi) {
    // Plain numbers say "out of range" like the range beside them; values
    // with units say which end, in the unit ("is below the minimum of 100k").
    switch (key.kind) {
    case Kind::kDuration:
    case Kind::kBitrate:
    case Kind::kSize: {
      bool low = *parsed < lo;
      std::string limit = format_number (key, low ? lo : hi);
      return make_problem (
          key, text,
          std::string (low ? "is below the minimum of " : "is above the maximum of ") + limit);
    }
    default:
      return make_problem (key, text, "is out of range");
    }
  }
  if (!key.choices.empty () && !choice_for (key, std::to_string (*parsed)))
    return make_problem (key, text, "is not one of the allowed values");
  std::visit (
      [&] (auto *p) {
        using T = std::remove_pointer_t<decltype (p)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)
          *p = static_cast<T> (*parsed);
      },
      key.field (config));
  return std::nullopt;
}

std::optional<Problem>
apply_scalar (const Key &key, const std::string &text, Config &config)
{
  switch (key.kind) {
  case Kind::kBool: {
    auto parsed = values::parse_bool (text);
    if (!parsed)
      return make_problem (key, text, "is not a boolean");
    *field_as<bool> (key, config) = *parsed;
    return std::nullopt;
  }
  case Kind::kString: {
    if (key.check)
      if (auto bad = key.check (text))
        return make_problem (key, text, *bad);
    *field_as<std::string> (key, config) = text;
    return std::nullopt;
  }
  case Kind::kEnum: {
    auto choice = choice_for (key, text);
    if (!choice)
      return make_problem (key, text, "is not one of the allowed values");
    *field_as<std::string> (key, config) = std::string (*choice);
    return std::nullopt;
  }
  default:
    return apply_number (key, text, config);
  }
}

std::optional<Problem>
apply_list (const Key &key, const std::vector<std::string> &items, Config &config)
{
  for (size_t i = 0; i < items.size (); i++) {
    if (key.check)
      if (auto bad = key.check (items[i])) {
        Problem p = make_problem (key, items[i], *bad);
        p.key += "[" + std::to_string (i) + "]";
        return p;
      }
  }
  *field_as<std::vector<std::string>> (key, config) = items;
  return std::nullopt;
}

std::optional<Problem>
apply_payload_types (const Key &key, const std::vector<std::pair<std::string, std::string>> &pairs,
                     Config &config)
{
  std::map<int, std::string> types;
  for (const auto &[pt_text, codec_text] : pairs) {
    auto pt = values::parse_integer (pt_text);
    if (!pt)
      return make_problem (key, pt_text, "is not a payload type number");
    if (*pt < key.min || *pt > key.max)
      return make_problem (key, pt_text, "is not a dynamic payload type");
    if (types.count (static_cast<int> (*pt)))
      return make_problem (key, pt_text, "is listed twice");
    auto codec = choice_for (key, codec_text);
    if (!codec) {
      Problem p = make_problem (key, codec_text, "is not a supported codec");
      p.key += "." + std::to_string (*pt);
      return p;
    }
    types[static_cast<int> (*pt)] = std::string (*codec);
  }
  *field_as<std::map<int, std::string>> (key, config) = std::move (types);
  return std::nullopt;
}

std::optional<Problem>
apply_string_map (const Key &key, const std::vector<std::pair<std::string, std::string>> &pairs,
                  Config &config)
{
  std::map<std::string, std::string> map;
  for (const auto &[name, value] : pairs) {
    if (values::trim (name).empty ())
      return make_problem (key, name, "is an empty name");
    if (map.count (name))
      return make_problem (key, name, "is listed twice");
    if (key.check)
      if (auto bad = key.check (value)) {
        Problem p = make_problem (key, value, *bad);
        p.key += "." + name;
        return p;
      }
    map[name] = value;
  }
  *field_as<std::map<std::string, std::string>> (key, config) = std::move (map);
  return std::nullopt;
}

std::optional<Problem>
apply_routes (const Key &key, const std::vector<std::pair<std::string, std::string>> &pairs,
              Config &config)
{
  // No route means every stream is refused: surely not what anyone meant.
  if (pairs.empty ()) {
    Problem p = make_problem (key, "", "is empty");
    p.has_value = false;
    return p;
  }
  for (size_t i = 0; i < pairs.size (); i++) {
    const auto &[match, pipeline] = pairs[i];
    std::string where = std::string (key.path) + "[" + std::to_string (i) + "]";
    if (values::trim (match).empty ()) {
      Problem p = make_problem (key, match, "is empty");
      p.key = where + ".match";
      p.allowed = "a stream id glob, e.g. cam-* or *";
      return p;
    }
    if (auto bad = key.check (pipeline)) {
      Problem p = make_problem (key, pipeline, *bad);
      p.key = where + ".pipeline";
      p.allowed = "a file name in the pipelines directory, without .pipeline";
      return p;
    }
  }
  *field_as<Routes> (key, config) = Routes (pairs.begin (), pairs.end ());
  return std::nullopt;
}

} // namespace

std::optional<Problem>
apply_value (const Key &key, const RawValue &value, Config &config)
{
  using Shape = RawValue::Shape;
  switch (key.kind) {
  case Kind::kStringList:
    if (value.shape == Shape::kScalar)
      return apply_list (key, values::split_list (value.scalar), config);
    if (value.shape == Shape::kList)
      return apply_list (key, value.list, config);
    return make_problem (key, "", "is not a list");
  case Kind::kPayloadTypes:
    if (value.shape != Shape::kPairs)
      return make_problem (key, value.scalar, "is not a map");
    return apply_payload_types (key, value.pairs, config);
  case Kind::kStringMap:
    if (value.shape != Shape::kPairs)
      return make_problem (key, value.scalar, "is not a map");
    return apply_string_map (key, value.pairs, config);
  case Kind::kRoutes:
    if (value.shape != Shape::kPairs)
      return make_problem (key, value.scalar, "is not a list of routes");
    return apply_routes (key, value.pairs, config);
  default:
    if (value.shape != Shape::kScalar)
      return make_problem (key, "", "is not a single value");
    return apply_scalar (key, value.scalar, config);
  }
}

std::optional<Problem>
apply_text (const Key &key, std::string_view text, Config &config)
{
  RawValue value;
  switch (key.kind) {
  case Kind::kPayloadTypes:
  case Kind::kStringMap:
  case Kind::kRoutes: {
    auto split = values::split_pairs (text);
    if (split.bad_item) {
      Problem p = make_problem (key, *split.bad_item, "is not name=value");
      p.allowed = "comma-separated name=value pairs; " + p.allowed;
      return p;
    }
    value.shape = RawValue::Shape::kPairs;
    value.pairs = std::move (split.pairs);
    break;
  }
  default:
    value.scalar = std::string (text);
    break;
  }
  return apply_value (key, value, config);
}

std::string
scalar_text (const Key &key, const Config &config)
{
  Config copy = config; // fields are reached through a mutable accessor
  Field field = key.field (copy);
  switch (key.kind) {
  case Kind::kBool:
    return *std::get<bool *> (field) ? "true" : "false";
  case Kind::kString:
  case Kind::kEnum:
    return *std::get<std::string *> (field);
  default:
    break;
  }
  int64_t number = 0;
  std::visit (
      [&] (auto *p) {
        using T = std::remove_pointer_t<decltype (p)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)
          number = static_cast<int64_t> (*p);
      },
      field);
  return format_number (key, number);
}

Problem
problem_at (const Key &key, const Config &config, std::string problem, std::string allowed)
{
  Problem p = make_problem (key, scalar_text (key, config), std::move (problem));
  p.allowed = std::move (allowed);
  return p;
}

} // namespace mirror::daemon::config_io
