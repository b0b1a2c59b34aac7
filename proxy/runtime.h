// Process-wide state shared by the workers and built once per config: one ClusterRuntime per
// cluster (breaker, limits, outlier detector) and one RouteRuntime per route (its filter
// factories, retry budget and last-good cache). Built on the main thread before the workers start;
// workers only read the maps (every object in them is thread-safe).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "filters/async_202/job_store.h"
#include "filters/fallback/last_good_cache.h"
#include "filters/retry/retry_budget.h"
#include "proxy/http_filter.h"
#include "proxy/upstream/cluster_runtime.h"

namespace seawall::proxy {

class Worker;

struct RouteRuntime {
  // In chain order: async_202, fallback, timeout, retry, circuit breaker, limits.
  std::vector<std::unique_ptr<FilterFactory>> factories;
  std::unique_ptr<filters::retry::RetryBudget> retry_budget;
  std::unique_ptr<filters::fallback::LastGoodCache> last_good;
};

class Runtime {
public:
  explicit Runtime(const config::Config& config);
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;
  Runtime(Runtime&&) = delete;
  Runtime& operator=(Runtime&&) = delete;
  ~Runtime();

  ClusterRuntime* cluster(const std::string& name) const;
  // By the route's address in the config this runtime was built from.
  RouteRuntime* route(const config::Route* route) const;
  std::vector<ClusterRuntime*> clusters() const;

  // 202 conversion: the job store (memory backend), and which worker runs each job in flight.
  filters::async_202::JobStore& jobStore() { return *job_store_; }
  void registerJob(const std::string& id, Worker* worker);
  void unregisterJob(const std::string& id);
  Worker* jobOwner(const std::string& id) const;

private:
  std::map<std::string, std::unique_ptr<ClusterRuntime>> clusters_;
  std::unordered_map<const config::Route*, std::unique_ptr<RouteRuntime>> routes_;
  std::unique_ptr<filters::async_202::JobStore> job_store_;
  mutable std::mutex jobs_mutex_;
  std::unordered_map<std::string, Worker*> job_owners_; // guarded by jobs_mutex_
};

} // namespace seawall::proxy
