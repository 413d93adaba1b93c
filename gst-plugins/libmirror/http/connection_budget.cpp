// SPDX-License-Identifier: LGPL-2.1-or-later
#include "http/connection_budget.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

namespace mirror {

ConnectionBudget::Verdict
ConnectionBudget::take (const std::string &address)
{
  std::lock_guard lock (mu_);
  if (total_ >= max_total_)
    return Verdict::kTotal;
  if (max_per_address_) {
    size_t &n = per_address_[address];
    if (n >= max_per_address_)
      return Verdict::kAddress;
    n++;
  }
  total_++;
  return Verdict::kOk;
}

void
ConnectionBudget::give_back (const std::string &address)
{
  std::lock_guard lock (mu_);
  if (total_ > 0)
    total_--;
  if (!max_per_address_)
    return;
  auto it = per_address_.find (address);
  if (it != per_address_.end () && --it->second == 0)
    per_address_.erase (it);
}

size_t
ConnectionBudget::in_use () const
{
  std::lock_guard lock (mu_);
  return total_;
}

size_t
ConnectionBudget::from (const std::string &address) const
{
  std::lock_guard lock (mu_);
  auto it = per_address_.find (address);
  return it == per_address_.end () ? 0 : it->second;
}

std::string
peer_ip (const sockaddr *peer)
{
  char text[INET6_ADDRSTRLEN] = "";
  if (peer->sa_family == AF_INET) {
    inet_ntop (AF_INET, &reinterpret_cast<const sockaddr_in *> (peer)->sin_addr, text, sizeof text);
  } else if (peer->sa_family == AF_INET6) {
    const in6_addr &a = reinterpret_cast<const sockaddr_in6 *> (peer)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED (&a))
      inet_ntop (AF_INET, a.s6_addr + 12, text, sizeof text);
    else
      inet_ntop (AF_INET6, &a, text, sizeof text);
  }
  return text;
}

} // namespace mirror
