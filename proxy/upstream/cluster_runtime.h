// The state of one cluster that all workers share and that outlives config snapshots: the circuit
// breaker, the concurrency limits (Envoy's thresholds), the outlier detector and the counters that
// go with them. Created on the main thread (one per cluster name), read and updated by workers;
// every member is thread-safe (atomics, or the breaker's and detector's own mutexes).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.h"
#include "filters/circuit_breaker/circuit_breaker.h"
#include "filters/circuit_breaker/failure_policy.h"
#include "proxy/upstream/outlier_detector.h"

namespace seawall::proxy {

// A counted limit shared by workers (connections, pending, requests, retries). tryAcquire() never
// overshoots `max` (compare-and-swap).
class Resource {
public:
  explicit Resource(uint64_t max) : max_(max) {}
  bool tryAcquire() noexcept;
  void release() noexcept;
  uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  uint64_t max() const noexcept { return max_; }

private:
  const uint64_t max_;
  std::atomic<uint64_t> count_{0};
};

// Holds one unit of a Resource; released when destroyed. Empty when the acquisition failed.
class ResourceSlot {
public:
  ResourceSlot() = default;
  static ResourceSlot tryAcquire(Resource& resource) {
    return resource.tryAcquire() ? ResourceSlot(&resource) : ResourceSlot();
  }
  ResourceSlot(const ResourceSlot&) = delete;
  ResourceSlot& operator=(const ResourceSlot&) = delete;
  ResourceSlot(ResourceSlot&& other) noexcept : resource_(other.resource_) {
    other.resource_ = nullptr;
  }
  ResourceSlot& operator=(ResourceSlot&& other) noexcept {
    if (this != &other) {
      release();
      resource_ = other.resource_;
      other.resource_ = nullptr;
    }
    return *this;
  }
  ~ResourceSlot() { release(); }
  explicit operator bool() const { return resource_ != nullptr; }
  void release() noexcept {
    if (resource_ != nullptr) {
      resource_->release();
      resource_ = nullptr;
    }
  }

private:
  explicit ResourceSlot(Resource* r) : resource_(r) {}
  Resource* resource_ = nullptr;
};

class ClusterRuntime {
public:
  using State = filters::circuit_breaker::State;
  static constexpr size_t kStateCount = 5; // Closed, Open, HalfOpen, ForcedOpen, Disabled

  explicit ClusterRuntime(const config::Cluster& config);
  ClusterRuntime(const ClusterRuntime&) = delete;
  ClusterRuntime& operator=(const ClusterRuntime&) = delete;
  ClusterRuntime(ClusterRuntime&&) = delete;
  ClusterRuntime& operator=(ClusterRuntime&&) = delete;
  ~ClusterRuntime() = default;

  const std::string& name() const { return name_; }

  // Null when the cluster has no `breaker:`.
  filters::circuit_breaker::CircuitBreaker* breaker() { return breaker_.get(); }
  const filters::circuit_breaker::FailurePolicy& failurePolicy() const { return failure_policy_; }
  bool openOnRetryAfter() const { return open_on_retry_after_; }
  // metrics_only: calls the breaker would have rejected.
  void countWouldReject() noexcept { would_reject_.fetch_add(1, std::memory_order_relaxed); }
  uint64_t wouldRejectTotal() const noexcept {
    return would_reject_.load(std::memory_order_relaxed);
  }
  // Transitions seen by the breaker's callback, by (from, to).
  uint64_t transitions(State from, State to) const noexcept;
  // The breaker's reported state now (Disabled when there is no breaker).
  State breakerState();

  Resource& connections() { return connections_; }
  Resource& pending() { return pending_; }
  Resource& requests() { return requests_; }
  Resource& retries() { return retries_; }

  // The outlier detector for this endpoint list: the same list (by names, in order) gets the same
  // detector; a different list gets a new one (ejections start over). Null without `outlier:`.
  std::shared_ptr<OutlierDetector> outlierDetector(const std::vector<std::string>& endpoints);
  // Ejections of every detector this cluster has had.
  uint64_t ejectionsTotal() const noexcept { return ejections_.load(std::memory_order_relaxed); }
  // Names of the endpoints ejected now (for /clusters).
  std::vector<std::string> ejectedEndpoints(std::chrono::steady_clock::time_point now);

private:
  void onTransition(State from, State to);

  const std::string name_;
  std::optional<config::OutlierConfig> outlier_config_;
  filters::circuit_breaker::FailurePolicy failure_policy_;
  bool open_on_retry_after_ = false;
  std::array<std::atomic<uint64_t>, kStateCount * kStateCount> transitions_{};
  std::atomic<uint64_t> would_reject_{0};
  std::atomic<uint64_t> ejections_{0};
  std::unique_ptr<filters::circuit_breaker::CircuitBreaker>
      breaker_; // after what its callback uses
  Resource connections_;
  Resource pending_;
  Resource requests_;
  Resource retries_;
  std::mutex outlier_mutex_; // guards the two below
  std::vector<std::string> outlier_endpoints_;
  std::shared_ptr<OutlierDetector> outlier_;
};

} // namespace seawall::proxy
