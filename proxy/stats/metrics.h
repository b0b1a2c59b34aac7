// Process-wide metrics, owned by the main thread: the per-worker shards (WorkerStats), summed at
// scrape time, plus a prometheus-cpp Registry for main-thread metrics (reloads, breaker
// transitions, anything rare), plus the shared ClusterRuntime objects (breaker states, limits,
// ejections) read at scrape time. serialize() renders everything in the Prometheus text
// exposition format 0.0.4 for the admin /metrics endpoint. Metric names are listed in
// docs/metrics.md.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include "proxy/stats/worker_stats.h"

namespace seawall::proxy {
class ClusterRuntime;
}

namespace seawall::filters::async_202 {
class JobStore;
struct CallbackCounters;
} // namespace seawall::filters::async_202

namespace seawall::proxy::stats {

// The clusters' shared runtimes, as of now. Called at scrape time on the scraping thread (the
// main thread); every pointer must stay valid until the call that follows returns.
using ClusterRuntimeSource = std::function<std::vector<ClusterRuntime*>()>;

class Metrics : public prometheus::Collectable {
public:
  // Publishes seawall_build_info{version} 1 and seawall_start_time_seconds (`start`, Unix time).
  explicit Metrics(std::string version = "dev",
                   std::chrono::system_clock::time_point start = std::chrono::system_clock::now());
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;
  Metrics(Metrics&&) = delete;
  Metrics& operator=(Metrics&&) = delete;
  ~Metrics() override = default;

  // One shard per worker thread; the reference stays valid for the lifetime of this object.
  // Call on the main thread before the worker starts.
  WorkerStats& addWorker();
  size_t workerCount() const;

  // Where scrapes read the breaker, limit and outlier series from (none until set). Call on the
  // main thread; a later call replaces the source.
  void setClusterRuntimes(ClusterRuntimeSource source);
  // The 202-conversion job store whose gauges and counters scrapes read (none until set). It
  // must outlive this object's scrapes.
  void setJobStore(const filters::async_202::JobStore* store);
  // The workers' callback counters (seawall_callbacks_total), read at scrape time.
  using CallbackCountersSource =
      std::function<std::vector<const filters::async_202::CallbackCounters*>()>;
  void setCallbackCounters(CallbackCountersSource source);

  // For metrics written on the main thread only (prometheus-cpp's own Counter/Gauge).
  prometheus::Registry& registry() { return *registry_; }

  // Registry families plus the summed shards, each family once, series sorted by labels.
  // Safe to call from any one thread while workers write.
  std::vector<prometheus::MetricFamily> Collect() const override;
  // Collect() in text exposition format 0.0.4.
  std::string serialize() const;

private:
  std::shared_ptr<prometheus::Registry> registry_;
  mutable std::mutex mutex_; // guards workers_ (the list, not the shards) and runtimes_
  std::vector<std::unique_ptr<WorkerStats>> workers_;
  ClusterRuntimeSource runtimes_;
  const filters::async_202::JobStore* job_store_ = nullptr; // guarded by mutex_
  CallbackCountersSource callbacks_;                        // guarded by mutex_
};

} // namespace seawall::proxy::stats
