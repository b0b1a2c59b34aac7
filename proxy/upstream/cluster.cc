#include "proxy/upstream/cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include <event2/util.h>

#include "proxy/upstream/cluster_runtime.h"

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
                             stats::ClusterStats& stats, ClusterRuntime* runtime)
    : dispatcher_(dispatcher), config_(config), stats_(stats), runtime_(runtime) {}

void WorkerCluster::setEndpoints(const std::vector<ResolvedEndpoint>& endpoints) {
  std::vector<std::unique_ptr<ConnectionPool>> next;
  for (const auto& ep : endpoints) {
    auto it = std::find_if(pools_.begin(), pools_.end(),
                           [&](const auto& p) { return p && p->endpoint() == ep.name; });
    if (it != pools_.end()) {
      next.push_back(std::move(*it));
    } else {
      next.push_back(std::make_unique<ConnectionPool>(dispatcher_, config_, stats_, ep.address,
                                                      ep.address_len, ep.name, runtime_));
    }
  }
  for (auto& old : pools_) {
    if (old) {
      old->drain();
      retired_.push_back(std::move(old));
    }
  }
  pools_ = std::move(next);
  if (runtime_ != nullptr) {
    std::vector<std::string> names;
    names.reserve(pools_.size());
    for (const auto& pool : pools_) {
      names.push_back(pool->endpoint());
    }
    outlier_ = runtime_->outlierDetector(names);
  }
}

ConnectionPool* WorkerCluster::pickOriginal(const ResolvedEndpoint& destination) {
  auto it = original_pools_.find(destination.name);
  if (it != original_pools_.end()) {
    return it->second.get();
  }
  if (original_pools_.size() >= kMaxOriginalPools) {
    std::erase_if(original_pools_, [](const auto& entry) {
      return entry.second->activeRequests() == 0; // idle: its connections close with it
    });
  }
  auto pool = std::make_unique<ConnectionPool>(dispatcher_, config_, stats_, destination.address,
                                               destination.address_len, destination.name, runtime_);
  ConnectionPool* raw = pool.get();
  original_pools_.emplace(destination.name, std::move(pool));
  return raw;
}

void WorkerCluster::onAttemptResult(const ConnectionPool* pool, bool failed) {
  if (!outlier_ || pool == nullptr) {
    return;
  }
  for (size_t i = 0; i < pools_.size(); ++i) {
    if (pools_[i].get() == pool) {
      outlier_->onResult(dispatcher_.now(), i, failed);
      return;
    }
  }
}

ConnectionPool* WorkerCluster::pick(const ConnectionPool* avoid) {
  if (pools_.empty()) {
    return nullptr;
  }
  if (outlier_ || avoid != nullptr) {
    return pickEligible(avoid);
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

// The slow path: skip ejected endpoints and the previous attempt's, then balance over the rest.
ConnectionPool* WorkerCluster::pickEligible(const ConnectionPool* avoid) {
  auto now = dispatcher_.now();
  eligible_.clear();
  size_t avoided = pools_.size();
  for (size_t i = 0; i < pools_.size(); ++i) {
    if (outlier_ && outlier_->isEjected(now, i)) {
      continue;
    }
    if (pools_[i].get() == avoid) {
      avoided = i;
      continue;
    }
    eligible_.push_back(i);
  }
  if (eligible_.empty()) {
    return avoided < pools_.size() ? pools_[avoided].get() : nullptr;
  }
  if (eligible_.size() == 1) {
    return pools_[eligible_.front()].get();
  }
  if (config_.load_balancing == config::LoadBalancing::RoundRobin) {
    return pools_[eligible_[next_++ % eligible_.size()]].get();
  }
  std::uniform_int_distribution<size_t> dist(0, eligible_.size() - 1);
  size_t a = dist(rng_);
  size_t b = dist(rng_);
  if (a == b) {
    b = (a + 1) % eligible_.size();
  }
  ConnectionPool* pa = pools_[eligible_[a]].get();
  ConnectionPool* pb = pools_[eligible_[b]].get();
  return pb->activeRequests() < pa->activeRequests() ? pb : pa;
}

} // namespace seawall::proxy
