// Process-wide state shared by the workers and built once per config generation: one
// ClusterRuntime per cluster (breaker, limits, outlier detector) and one RouteRuntime per route
// (its filter factories, retry budget and last-good cache). Built on the main thread; workers only
// read the maps (every object in them is thread-safe).
//
// Hot reload builds a new Runtime from the previous one: a cluster whose definition did not change
// keeps its ClusterRuntime (breaker state, outlier ejections, limit counts), and the 202-conversion
// jobs (store and owners) are the process's, shared by every generation. A Runtime lives as long
// as a stream of its generation does (workers hold it through shared_ptr).
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

// 202 conversion: the job store and which worker runs each job in flight. One per process.
class AsyncJobs {
public:
  explicit AsyncJobs(std::unique_ptr<filters::async_202::JobStore> store)
      : store_(std::move(store)) {}
  filters::async_202::JobStore& store() { return *store_; }
  void registerJob(const std::string& id, Worker* worker);
  void unregisterJob(const std::string& id);
  Worker* owner(const std::string& id) const;
  // Aborts the upstream call of job `id` on the worker of this process that runs it, if any.
  void abortRunning(const std::string& id) const;

private:
  std::unique_ptr<filters::async_202::JobStore> store_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Worker*> owners_; // guarded by mutex_
};

// The job store `config.async_store` describes (memory backend).
std::unique_ptr<filters::async_202::JobStore> makeJobStore(const config::Config& config);

class Runtime {
public:
  // `previous`: the generation this one replaces (reload), or null. `jobs`: the process's jobs.
  Runtime(std::shared_ptr<const config::Config> config, const Runtime* previous,
          std::shared_ptr<AsyncJobs> jobs);
  // A first generation with a job store made from `config` (tests, and the server's start).
  explicit Runtime(std::shared_ptr<const config::Config> config);
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;
  Runtime(Runtime&&) = delete;
  Runtime& operator=(Runtime&&) = delete;
  ~Runtime();

  const config::Config& config() const { return *config_; }
  const std::shared_ptr<const config::Config>& configPtr() const { return config_; }
  ClusterRuntime* cluster(const std::string& name) const;
  // By the route's address in the config this runtime was built from.
  RouteRuntime* route(const config::Route* route) const;
  std::vector<ClusterRuntime*> clusters() const;

  // 202 conversion: the job store, and which worker runs each job in flight.
  filters::async_202::JobStore& jobStore() { return jobs_->store(); }
  const std::shared_ptr<AsyncJobs>& jobs() const { return jobs_; }
  void registerJob(const std::string& id, Worker* worker) { jobs_->registerJob(id, worker); }
  void unregisterJob(const std::string& id) { jobs_->unregisterJob(id); }

private:
  std::shared_ptr<const config::Config> config_; // first: the routes_ keys point into it
  std::map<std::string, std::shared_ptr<ClusterRuntime>> clusters_;
  std::unordered_map<const config::Route*, std::unique_ptr<RouteRuntime>> routes_;
  std::shared_ptr<AsyncJobs> jobs_;
};

} // namespace seawall::proxy
