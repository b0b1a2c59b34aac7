#include "proxy/upstream/cluster_runtime.h"

#include <utility>

namespace seawall::proxy {
namespace {

namespace cb = filters::circuit_breaker;

cb::BreakerPolicy toPolicy(const config::BreakerConfig& c) {
  cb::BreakerPolicy p;
  p.window.type = c.window_type == config::BreakerConfig::WindowType::Count ? cb::WindowType::Count
                                                                            : cb::WindowType::Time;
  p.window.size_calls = c.window_calls;
  p.window.size_duration = c.window_time;
  p.minimum_calls = c.minimum_calls;
  p.failure_rate = c.failure_rate;
  p.slow_call.duration = c.slow_call_duration;
  p.slow_call.rate = c.slow_call_rate;
  p.open_for = c.open_for;
  p.half_open_calls = c.half_open_calls;
  switch (c.mode) {
  case config::BreakerConfig::Mode::Normal:
    p.mode = cb::Mode::Normal;
    break;
  case config::BreakerConfig::Mode::ForcedOpen:
    p.mode = cb::Mode::ForcedOpen;
    break;
  case config::BreakerConfig::Mode::Disabled:
    p.mode = cb::Mode::Disabled;
    break;
  case config::BreakerConfig::Mode::MetricsOnly:
    p.mode = cb::Mode::MetricsOnly;
    break;
  }
  return p;
}

size_t stateIndex(ClusterRuntime::State s) { return static_cast<size_t>(s); }

} // namespace

bool Resource::tryAcquire() noexcept {
  uint64_t current = count_.load(std::memory_order_relaxed);
  while (current < max_) {
    if (count_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

void Resource::release() noexcept {
  uint64_t current = count_.load(std::memory_order_relaxed);
  while (current > 0 &&
         !count_.compare_exchange_weak(current, current - 1, std::memory_order_relaxed)) {
  }
}

ClusterRuntime::ClusterRuntime(const config::Cluster& config)
    : name_(config.name), outlier_config_(config.outlier),
      connections_(config.limits.max_connections), pending_(config.limits.max_pending),
      requests_(config.limits.max_requests), retries_(config.limits.max_retries) {
  if (config.breaker) {
    failure_policy_ = cb::FailurePolicy::parse(config.breaker->failure_on);
    open_on_retry_after_ = config.breaker->open_on_retry_after;
    breaker_ = std::make_unique<cb::CircuitBreaker>(
        toPolicy(*config.breaker), [this](State from, State to) { onTransition(from, to); });
  }
}

void ClusterRuntime::onTransition(State from, State to) {
  transitions_[stateIndex(from) * kStateCount + stateIndex(to)].fetch_add(
      1, std::memory_order_relaxed);
}

uint64_t ClusterRuntime::transitions(State from, State to) const noexcept {
  return transitions_[stateIndex(from) * kStateCount + stateIndex(to)].load(
      std::memory_order_relaxed);
}

ClusterRuntime::State ClusterRuntime::breakerState() {
  if (!breaker_) {
    return State::Disabled;
  }
  return breaker_->state(std::chrono::steady_clock::now());
}

std::shared_ptr<OutlierDetector>
ClusterRuntime::outlierDetector(const std::vector<std::string>& endpoints) {
  if (!outlier_config_) {
    return nullptr;
  }
  std::lock_guard<std::mutex> lock(outlier_mutex_);
  if (outlier_ && outlier_endpoints_ == endpoints) {
    return outlier_;
  }
  OutlierPolicy policy;
  policy.consecutive_failures = outlier_config_->consecutive_failures;
  policy.ejection_time = outlier_config_->ejection_time;
  policy.max_ejection = outlier_config_->max_ejection;
  outlier_endpoints_ = endpoints;
  outlier_ = std::make_shared<OutlierDetector>(policy, endpoints.size(),
                                               [this](const OutlierEjection& /*ejection*/) {
                                                 ejections_.fetch_add(1, std::memory_order_relaxed);
                                               });
  return outlier_;
}

std::vector<std::string>
ClusterRuntime::ejectedEndpoints(std::chrono::steady_clock::time_point now) {
  std::vector<std::string> out;
  std::lock_guard<std::mutex> lock(outlier_mutex_);
  if (!outlier_) {
    return out;
  }
  for (size_t i = 0; i < outlier_endpoints_.size(); ++i) {
    if (outlier_->isEjected(now, i)) {
      out.push_back(outlier_endpoints_[i]);
    }
  }
  return out;
}

} // namespace seawall::proxy
