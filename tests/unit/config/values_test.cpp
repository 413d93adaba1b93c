// SPDX-License-Identifier: LGPL-2.1-or-later
// The scalar parsers and formatters that the file and the environment share.
#include "values.h"

#include <gtest/gtest.h>

namespace values = mirror::daemon::config_values;

TEST (ConfigValues, Bool)
{
  for (const char *yes : { "true", "True", "YES", "yes", "on", "1" })
    EXPECT_EQ (values::parse_bool (yes), true) << yes;
  for (const char *no : { "false", "FALSE", "no", "off", "0" })
    EXPECT_EQ (values::parse_bool (no), false) << no;
  for (const char *bad : { "", "2", "yep", "truee" })
    EXPECT_FALSE (values::parse_bool (bad)) << bad;
}

TEST (ConfigValues, Integer)
{
  EXPECT_EQ (values::parse_integer ("0"), 0);
  EXPECT_EQ (values::parse_integer ("8443"), 8443);
  EXPECT_EQ (values::parse_integer ("-5"), -5);
  EXPECT_EQ (values::parse_integer (" 42 "), 42);
  EXPECT_EQ (values::parse_integer ("9223372036854775807"), INT64_MAX);
  for (const char *bad : { "", "abc", "1.5", "12abc", "0x10", "1e3", "-", "99999999999999999999" })
    EXPECT_FALSE (values::parse_integer (bad)) << bad;
}

TEST (ConfigValues, Duration)
{
  EXPECT_EQ (values::parse_duration_ms ("120"), 120);
  EXPECT_EQ (values::parse_duration_ms ("500ms"), 500);
  EXPECT_EQ (values::parse_duration_ms ("5s"), 5000);
  EXPECT_EQ (values::parse_duration_ms ("1.5s"), 1500);
  EXPECT_EQ (values::parse_duration_ms ("0.1s"), 100);
  EXPECT_EQ (values::parse_duration_ms ("1m"), 60000);
  EXPECT_EQ (values::parse_duration_ms ("2h"), 7200000);
  EXPECT_EQ (values::parse_duration_ms ("500 ms"), 500);
  EXPECT_EQ (values::parse_duration_ms ("-1s"), -1000);
  for (const char *bad : { "", "ms", "5x", "5 sec", "0.5ms", "1.5", "s5", "5s5" })
    EXPECT_FALSE (values::parse_duration_ms (bad)) << bad;
}

TEST (ConfigValues, Bitrate)
{
  EXPECT_EQ (values::parse_bitrate ("400000"), 400000);
  EXPECT_EQ (values::parse_bitrate ("400k"), 400000);
  EXPECT_EQ (values::parse_bitrate ("400K"), 400000);
  EXPECT_EQ (values::parse_bitrate ("2.5M"), 2500000);
  EXPECT_EQ (values::parse_bitrate ("50Mbps"), 50000000);
  EXPECT_EQ (values::parse_bitrate ("1G"), 1000000000);
  EXPECT_EQ (values::parse_bitrate ("64 kbps"), 64000);
  for (const char *bad : { "", "k", "400x", "2.5m", "1.0005k", "fast" })
    EXPECT_FALSE (values::parse_bitrate (bad)) << bad;
}

TEST (ConfigValues, Size)
{
  EXPECT_EQ (values::parse_size ("4194304"), 4194304);
  EXPECT_EQ (values::parse_size ("4MiB"), 4 * 1024 * 1024);
  EXPECT_EQ (values::parse_size ("512KiB"), 512 * 1024);
  EXPECT_EQ (values::parse_size ("1GiB"), 1024LL * 1024 * 1024);
  EXPECT_EQ (values::parse_size ("1.5MiB"), 1536 * 1024);
  EXPECT_EQ (values::parse_size ("12.5MB"), 12500000);
  EXPECT_EQ (values::parse_size ("2kB"), 2000);
  EXPECT_EQ (values::parse_size ("100B"), 100);
  for (const char *bad : { "", "4M", "4mib", "MiB", "0.3B", "big" })
    EXPECT_FALSE (values::parse_size (bad)) << bad;
}

TEST (ConfigValues, FormatsReadBack)
{
  EXPECT_EQ (values::format_duration_ms (0), "0ms");
  EXPECT_EQ (values::format_duration_ms (120), "120ms");
  EXPECT_EQ (values::format_duration_ms (1500), "1500ms");
  EXPECT_EQ (values::format_duration_ms (10000), "10s");
  EXPECT_EQ (values::format_duration_ms (60000), "1m");
  EXPECT_EQ (values::format_duration_ms (3600000), "1h");
  EXPECT_EQ (values::format_bitrate (0), "0");
  EXPECT_EQ (values::format_bitrate (400000), "400k");
  EXPECT_EQ (values::format_bitrate (2500000), "2500k");
  EXPECT_EQ (values::format_bitrate (50000000), "50M");
  EXPECT_EQ (values::format_bitrate (1234), "1234");
  EXPECT_EQ (values::format_size (4 * 1024 * 1024), "4MiB");
  EXPECT_EQ (values::format_size (1000), "1000");
  EXPECT_EQ (values::format_size (1536 * 1024), "1536KiB");

  for (int64_t ms : { 0, 1, 120, 999, 1000, 1500, 60000, 90000, 3600000 })
    EXPECT_EQ (values::parse_duration_ms (values::format_duration_ms (ms)), ms);
  for (int64_t bps : { 0, 1, 999, 400000, 2500000, 1000000000 })
    EXPECT_EQ (values::parse_bitrate (values::format_bitrate (bps)), bps);
  for (int64_t bytes : { 0, 1, 1023, 1024, 65536, 4194304, 1073741824 })
    EXPECT_EQ (values::parse_size (values::format_size (bytes)), bytes);
}

TEST (ConfigValues, Lists)
{
  using List = std::vector<std::string>;
  EXPECT_EQ (values::split_list (""), List{});
  EXPECT_EQ (values::split_list ("  "), List{});
  EXPECT_EQ (values::split_list ("a"), List{ "a" });
  EXPECT_EQ (values::split_list ("a, b ,c"), (List{ "a", "b", "c" }));
  EXPECT_EQ (values::split_list ("a,,b"), (List{ "a", "", "b" }));

  auto pairs = values::split_pairs ("96=H265, 97 = H264");
  ASSERT_FALSE (pairs.bad_item);
  ASSERT_EQ (pairs.pairs.size (), 2u);
  EXPECT_EQ (pairs.pairs[1], (std::pair<std::string, std::string>{ "97", "H264" }));
  EXPECT_EQ (values::split_pairs ("cam-*=hevc,oops").bad_item, "oops");
}

TEST (ConfigValues, LooksNumeric)
{
  for (const char *number : { "70000", "-1", "500ms", "2.5M", "4MiB", "1.5" })
    EXPECT_TRUE (values::looks_numeric (number)) << number;
  for (const char *text : { "", "abc", "nohost:", "12abc", " 5", "1.2.3" })
    EXPECT_FALSE (values::looks_numeric (text)) << text;
}
