// SPDX-License-Identifier: LGPL-2.1-or-later
// How many viewer connections one process takes, in all and from one
// address: shared by every worker's front end of a port (and by the ports),
// so that the limits are the process's, however many workers serve it, and
// one client (or one botnet address) cannot take the server's every slot.
// Thread-safe; taken at accept, given back at close.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

struct sockaddr;

namespace mirror {

class ConnectionBudget {
 public:
  enum class Verdict { kOk, kTotal, kAddress };

  // @max_per_address 0: no per-address cap.
  ConnectionBudget (size_t max_total, size_t max_per_address)
      : max_total_ (max_total), max_per_address_ (max_per_address)
  {}

  // kOk and one slot taken for @address, or why not (nothing taken).
  Verdict take (const std::string &address);
  void give_back (const std::string &address);
  size_t in_use () const;
  size_t from (const std::string &address) const;

 private:
  const size_t max_total_;
  const size_t max_per_address_;
  mutable std::mutex mu_;
  size_t total_ = 0;
  std::unordered_map<std::string, size_t> per_address_;
};

// The IP of @peer as text, without the port ("" when it is neither IPv4
// nor IPv6). An IPv4-mapped IPv6 address reads as the IPv4 one.
std::string peer_ip (const sockaddr *peer);

} // namespace mirror
