#include "proxy/upstream/cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include <event2/util.h>

namespace seawall::proxy {

std::string formatSockaddr(const sockaddr* address) {
  char ip[INET6_ADDRSTRLEN] = {0};
  if (address->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
    return "[" + std::string(ip) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  const auto* in4 = reinterpret_cast<const sockaddr_in*>(address);
  inet_ntop(AF_INET, &in4->sin_addr, ip, sizeof(ip));
  return std::string(ip) + ":" + std::to_string(ntohs(in4->sin_port));
}

bool resolveLiteral(const config::HostPort& hp, ResolvedEndpoint& out) {
  if (!hp.isIpLiteral()) {
    return false;
  }
  std::string text = hp.toString();
  int len = sizeof(out.address);
  std::memset(&out.address, 0, sizeof(out.address));
  if (evutil_parse_sockaddr_port(text.c_str(), reinterpret_cast<sockaddr*>(&out.address), &len) !=
      0) {
    return false;
  }
  out.address_len = static_cast<socklen_t>(len);
  out.name = text;
  return true;
}

WorkerCluster::WorkerCluster(Dispatcher& dispatcher, const config::Cluster& config,
                             stats::ClusterStats& stats)
    : dispatcher_(dispatcher), config_(config), stats_(stats) {}

void WorkerCluster::setEndpoints(const std::vector<ResolvedEndpoint>& endpoints) {
  std::vector<std::unique_ptr<ConnectionPool>> next;
  for (const auto& ep : endpoints) {
    auto it = std::find_if(pools_.begin(), pools_.end(),
                           [&](const auto& p) { return p && p->endpoint() == ep.name; });
    if (it != pools_.end()) {
      next.push_back(std::move(*it));
    } else {
      next.push_back(std::make_unique<ConnectionPool>(dispatcher_, config_, stats_, ep.address,
                                                      ep.address_len, ep.name));
    }
  }
  for (auto& old : pools_) {
    if (old) {
      old->drain();
      retired_.push_back(std::move(old));
    }
  }
  pools_ = std::move(next);
}

ConnectionPool* WorkerCluster::pick() {
  if (pools_.empty()) {
    return nullptr;
  }
  if (pools_.size() == 1) {
    return pools_.front().get();
  }
  if (config_.load_balancing == config::LoadBalancing::RoundRobin) {
    return pools_[next_++ % pools_.size()].get();
  }
  // Least request, power of two choices: two distinct random endpoints, the less busy wins.
  std::uniform_int_distribution<size_t> dist(0, pools_.size() - 1);
  size_t a = dist(rng_);
  size_t b = dist(rng_);
  if (a == b) {
    b = (a + 1) % pools_.size();
  }
  ConnectionPool* pa = pools_[a].get();
  ConnectionPool* pb = pools_[b].get();
  return pb->activeRequests() < pa->activeRequests() ? pb : pa;
}

} // namespace seawall::proxy
