// SPDX-License-Identifier: LGPL-2.1-or-later
// Turns a stream's element messages (mirror-heartbeat, mirror-ingest-*) into
// the seed's Prometheus families, labelled by stream. Main context only.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <prometheus/labels.h>

#include <gst/gst.h>

namespace mirror {
class Metrics;
}

namespace mirror::daemon {

class StreamMetrics {
 public:
  explicit StreamMetrics (Metrics *metrics) : metrics_ (metrics) {}

  // Returns the peer when the message names a newly connected one, else "".
  std::string on_message (const std::string &stream_id, const GstStructure *s);
  // The stream is gone: every series labelled with it leaves /metrics.
  void forget (const std::string &stream_id);

 private:
  // Element counters are totals; Prometheus counters take increments.
  struct Seen {
    double bytes = 0;
    double packets = 0;
    double drops = 0;
    double lost = 0;
    double late = 0;
    double retransmitted = 0;
    std::vector<double> latency_buckets; // per-bucket totals last seen
    double latency_sum = 0;
    double frames_in = 0, frames_out = 0, frames_dropped = 0;
    std::map<std::string, double> shed; // step -> frames
    prometheus::Labels transcode_chain; // the info series now set
    int64_t connected_at_us = 0;
  };
  Metrics *metrics_;
  std::map<std::string, Seen> seen_;
};

} // namespace mirror::daemon
