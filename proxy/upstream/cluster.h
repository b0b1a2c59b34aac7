// A cluster as one worker sees it: its resolved endpoints, one connection pool per endpoint, and
// load balancing (round robin, or least request with the power of two choices).
#pragma once

#include <sys/socket.h>

#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "proxy/common/dispatcher.h"
#include "proxy/upstream/connection_pool.h"

namespace seawall::proxy {

class ClusterRuntime;
class OutlierDetector;

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
  // `runtime` (the cluster's shared state: limits, outlier detector) may be null in tests.
  WorkerCluster(Dispatcher& dispatcher, const config::Cluster& config, stats::ClusterStats& stats,
                ClusterRuntime* runtime = nullptr);

  // Replaces the endpoint set; pools of endpoints that stay are kept, the others drain.
  void setEndpoints(const std::vector<ResolvedEndpoint>& endpoints);
  // The pool of the endpoint to use next, or nullptr when there is none. Ejected endpoints are
  // skipped; `avoid` (the endpoint of the previous attempt) is skipped unless it is the only one.
  ConnectionPool* pick(const ConnectionPool* avoid = nullptr);
  // `type: original_dst`: the pool of `destination`, made on first use. At most
  // kMaxOriginalPools per worker: beyond that, pools with no request in flight are dropped.
  ConnectionPool* pickOriginal(const ResolvedEndpoint& destination);
  static constexpr size_t kMaxOriginalPools = 256;
  // The outcome of an attempt on `pool`, for outlier ejection (ignored without `outlier:`).
  void onAttemptResult(const ConnectionPool* pool, bool failed);
  ClusterRuntime* runtime() { return runtime_; }
  const config::Cluster& config() const { return config_; }
  stats::ClusterStats& stats() { return stats_; }
  size_t endpointCount() const { return pools_.size(); }

private:
  ConnectionPool* pickEligible(const ConnectionPool* avoid);

  Dispatcher& dispatcher_;
  const config::Cluster config_; // a copy: the cluster may outlive the config it came from (reload)
  stats::ClusterStats& stats_;
  std::vector<std::unique_ptr<ConnectionPool>> pools_;
  std::vector<std::unique_ptr<ConnectionPool>> retired_; // drained, kept for in-flight streams
  std::unordered_map<std::string, std::unique_ptr<ConnectionPool>> original_pools_; // by name
  ClusterRuntime* runtime_;
  std::shared_ptr<OutlierDetector> outlier_; // shared by every worker's view of the cluster
  std::vector<size_t> eligible_;             // scratch for pick()
  size_t next_ = 0;
  std::minstd_rand rng_{std::random_device{}()};
};

} // namespace seawall::proxy
