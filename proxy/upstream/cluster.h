// A cluster as one worker sees it: its resolved endpoints, one connection pool per endpoint, and
// load balancing (round robin, or least request with the power of two choices).
#pragma once

#include <sys/socket.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "config/config.h"
#include "proxy/common/dispatcher.h"
#include "proxy/upstream/connection_pool.h"

namespace seawall::proxy {

struct ResolvedEndpoint {
  std::string name; // "10.0.0.7:8080"
  sockaddr_storage address{};
  socklen_t address_len = 0;
};

// "10.0.0.7:8080" or "[::1]:8080".
std::string formatSockaddr(const sockaddr* address);
// Parses an IP literal endpoint; false when `hp` is a DNS name.
bool resolveLiteral(const config::HostPort& hp, ResolvedEndpoint& out);

class WorkerCluster {
public:
  WorkerCluster(Dispatcher& dispatcher, const config::Cluster& config, stats::ClusterStats& stats);

  // Replaces the endpoint set; pools of endpoints that stay are kept, the others drain.
  void setEndpoints(const std::vector<ResolvedEndpoint>& endpoints);
  // The pool of the endpoint to use next, or nullptr when there is none.
  ConnectionPool* pick();
  const config::Cluster& config() const { return config_; }
  stats::ClusterStats& stats() { return stats_; }
  size_t endpointCount() const { return pools_.size(); }

private:
  Dispatcher& dispatcher_;
  const config::Cluster& config_;
  stats::ClusterStats& stats_;
  std::vector<std::unique_ptr<ConnectionPool>> pools_;
  std::vector<std::unique_ptr<ConnectionPool>> retired_; // drained, kept for in-flight streams
  size_t next_ = 0;
  std::minstd_rand rng_{std::random_device{}()};
};

} // namespace seawall::proxy
