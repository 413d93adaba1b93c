// SPDX-License-Identifier: LGPL-2.1-or-later
// The bounded hold of a caller without consumer, and the buffer sizes the
// listener asks libsrt for.
#include <gtest/gtest.h>

#include "ingest/srt_held_data.h"
#include "ingest/srt_hub_options.h"
#include "ingest/srt_socket_options.h"

namespace mirror {
namespace {

std::vector<uint8_t>
batch (uint8_t tag, size_t size)
{
  return std::vector<uint8_t> (size, tag);
}

std::vector<uint8_t>
drained (SrtHeldData &held)
{
  std::vector<uint8_t> out;
  held.drain (
      [&] (const uint8_t *data, size_t size) { out.insert (out.end (), data, data + size); });
  return out;
}

TEST (SrtHeldData, KeepsOrderWithinTheLimit)
{
  SrtHeldData held (4000);
  held.append (batch (1, 1316).data (), 1316);
  held.append (batch (2, 1316).data (), 1316);
  EXPECT_EQ (held.size_bytes (), 2632u);
  std::vector<uint8_t> expected = batch (1, 1316);
  auto second = batch (2, 1316);
  expected.insert (expected.end (), second.begin (), second.end ());
  EXPECT_EQ (drained (held), expected);
  EXPECT_EQ (held.size_bytes (), 0u);
  EXPECT_EQ (held.dropped_bytes (), 0u);
}

TEST (SrtHeldData, DropsTheOldestWholeBatchesBeyondTheLimit)
{
  SrtHeldData held (3000);
  for (uint8_t tag = 1; tag <= 5; ++tag)
    held.append (batch (tag, 1316).data (), 1316);
  EXPECT_EQ (held.size_bytes (), 2632u);
  EXPECT_EQ (held.dropped_bytes (), 3u * 1316);
  std::vector<uint8_t> expected = batch (4, 1316);
  auto last = batch (5, 1316);
  expected.insert (expected.end (), last.begin (), last.end ());
  EXPECT_EQ (drained (held), expected);
  // Larger than the whole limit: nothing to keep.
  held.append (batch (9, 4000).data (), 4000);
  EXPECT_EQ (held.size_bytes (), 0u);
}

TEST (SrtSocketOptions, ReceiveBufferHoldsA50MbpsFeedForTheLatency)
{
  // 50 Mbps for 120 ms latency is 750 kB; the buffer must take bursts and
  // retransmissions on top.
  int bytes = srt_receive_buffer_bytes (120, 1316, 25600);
  EXPECT_GE (bytes, 50'000'000 / 8 * 120 / 1000 * 2);
  EXPECT_LE (bytes, 25600 * 1472);
  // Longer latency, bigger buffer; always within the flow control window.
  EXPECT_GT (srt_receive_buffer_bytes (1000, 1316, 25600), bytes);
  EXPECT_EQ (srt_receive_buffer_bytes (60000, 1316, 25600), 25600 * 1472);
  // The port's UDP sockets: 25 callers at 50 Mbps for a 400 ms stall in all,
  // each socket room for twice its share.
  const int all = 25 * 50'000'000 / 8 * 4 / 10;
  EXPECT_EQ (srt_udp_receive_buffer_bytes (1), all);
  EXPECT_EQ (srt_udp_receive_buffer_bytes (2), all);
  EXPECT_EQ (srt_udp_receive_buffer_bytes (4), all / 2);
}

TEST (SrtHubOptions, BadValuesNameThePortTheOptionAndTheValue)
{
  SrtHubOptions options;
  options.port = 7001;
  std::string error;
  EXPECT_TRUE (validate_srt_hub_options (options, &error)) << error;

  options.passphrase = "short";
  EXPECT_FALSE (validate_srt_hub_options (options, &error));
  EXPECT_NE (error.find ("7001"), std::string::npos) << error;
  EXPECT_NE (error.find ("passphrase"), std::string::npos) << error;

  options = SrtHubOptions{};
  options.pbkeylen = 20;
  EXPECT_FALSE (validate_srt_hub_options (options, &error));
  EXPECT_NE (error.find ("pbkeylen 20"), std::string::npos) << error;

  options = SrtHubOptions{};
  options.bind_address = "localhost";
  EXPECT_FALSE (validate_srt_hub_options (options, &error));
  EXPECT_NE (error.find ("'localhost'"), std::string::npos) << error;

  options = SrtHubOptions{};
  options.stream_passphrases["cam1"] = "x";
  EXPECT_FALSE (validate_srt_hub_options (options, &error));
  EXPECT_NE (error.find ("'cam1'"), std::string::npos) << error;
}

} // namespace
} // namespace mirror
