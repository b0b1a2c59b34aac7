// Outlier ejection for one cluster: an endpoint that fails `consecutive_failures` times in a row
// is taken out of load balancing for `ejection_time` times the number of its ejections, as long
// as no more than floor(endpoints * max_ejection) endpoints are out at once. Pure logic: time is
// passed in by the caller, nothing here reads a clock.
//
// Exact semantics:
// - Endpoints are indexes 0..n-1, n fixed at construction; a new endpoint set means a new
//   detector. Out-of-range indexes are ignored by onResult() and never ejected.
// - A success resets the endpoint's consecutive-failure count; a failure increments it. When the
//   count is at or above `consecutive_failures` the endpoint is ejected, unless the cluster is at
//   its ejection cap: then the count stays where it is and the endpoint is ejected on its next
//   failure once the cap allows it (or never, if a success comes first).
// - The k-th ejection of an endpoint lasts ejection_time * k. The multiplier never decays for
//   the life of the detector (a config reload that changes the policy builds a new one).
// - The cap is floor(n * max_ejection) (max_ejection clamped to [0, 1], a tiny epsilon absorbs
//   rounding such as 0.29 * 100). A cap of 0 means no endpoint is ever ejected: a cluster of one
//   endpoint with max_ejection 50% never ejects it.
// - An ejected endpoint returns by itself at ejected_until (isEjected(now) is false from then
//   on), with a consecutive-failure count of 0. Results reported while it is ejected (late
//   answers of attempts sent before the ejection) are ignored.
// - consecutive_failures == 0 disables ejection.
//
// Threads: one detector is shared by every worker of a cluster, behind one mutex. Every call
// takes it: onResult() once per attempt outcome, isEjected() once per endpoint the load
// balancer looks at. Both are O(1) under the lock except an ejection, which counts the ejected
// endpoints (O(n)). Uncontended that is tens of nanoseconds per call; under many workers hitting
// one cluster the lock is a shared cache line, which is the price of every worker seeing an
// ejection at once. The ejection callback runs on the caller's thread after the lock is
// released, so it may take other locks or call back into the detector.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

namespace seawall::proxy {

struct OutlierPolicy {
  uint32_t consecutive_failures = 5;              // 0: never eject
  std::chrono::milliseconds ejection_time{30000}; // base; the k-th ejection lasts k times it
  double max_ejection = 0.5;                      // ratio of the cluster, 0..1
};

struct OutlierEjection {
  size_t endpoint = 0;
  uint32_t ejection_number = 0; // 1 for the endpoint's first ejection
  std::chrono::steady_clock::time_point until;
};

class OutlierDetector {
public:
  using TimePoint = std::chrono::steady_clock::time_point;
  // Called once per ejection (for seawall_outlier_ejections_total), outside the lock.
  using EjectionCallback = std::function<void(const OutlierEjection&)>;

  OutlierDetector(const OutlierPolicy& policy, size_t endpoint_count,
                  EjectionCallback on_ejection = {});

  // Records the outcome of one attempt on `endpoint`. Returns true when it ejected the endpoint.
  bool onResult(TimePoint now, size_t endpoint, bool failed);
  bool isEjected(TimePoint now, size_t endpoint) const;
  // Endpoints ejected at `now`.
  size_t ejectedCount(TimePoint now) const;
  // floor(endpoint_count * max_ejection).
  size_t maxEjected() const { return max_ejected_; }
  size_t endpointCount() const { return endpoint_count_; }
  // Ejections since construction, all endpoints.
  uint64_t ejectionsTotal() const;
  // Failures at or above the threshold that did not eject because the cluster was at its cap.
  uint64_t ejectionsRefused() const;
  // How many times `endpoint` has been ejected (0 for an out-of-range index).
  uint32_t ejectionCount(size_t endpoint) const;

private:
  struct EndpointState {
    uint32_t consecutive_failures = 0;
    uint32_t ejections = 0;
    bool ejected = false; // true until the first call at or after `until` notices it returned
    TimePoint until{};
  };

  // Clears `ejected` on an endpoint whose time has passed. Lock held.
  static void settle(TimePoint now, EndpointState& state);
  size_t ejectedCountLocked(TimePoint now) const;

  const OutlierPolicy policy_;
  const size_t endpoint_count_;
  const size_t max_ejected_;
  const EjectionCallback on_ejection_;

  mutable std::mutex mutex_;
  std::vector<EndpointState> endpoints_; // guarded by mutex_
  uint64_t ejections_total_ = 0;         // guarded by mutex_
  uint64_t ejections_refused_ = 0;       // guarded by mutex_
};

} // namespace seawall::proxy
