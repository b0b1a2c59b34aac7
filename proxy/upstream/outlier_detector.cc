#include "proxy/upstream/outlier_detector.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <utility>

namespace seawall::proxy {
namespace {

size_t capFor(size_t endpoint_count, double max_ejection) {
  // NaN and out-of-range ratios are clamped; the epsilon keeps 0.29 * 100 at 29, not 28.
  const double ratio = std::isnan(max_ejection) ? 0.0 : std::clamp(max_ejection, 0.0, 1.0);
  const double cap = std::floor((static_cast<double>(endpoint_count) * ratio) + 1e-9);
  return std::min(endpoint_count, static_cast<size_t>(cap));
}

// now + base * k, saturating at TimePoint::max() instead of overflowing.
OutlierDetector::TimePoint ejectionEnd(OutlierDetector::TimePoint now,
                                       std::chrono::milliseconds base, uint32_t k) {
  using Duration = OutlierDetector::TimePoint::duration;
  const std::chrono::milliseconds step = std::max(base, std::chrono::milliseconds::zero());
  const auto headroom = std::chrono::duration_cast<std::chrono::milliseconds>(
      OutlierDetector::TimePoint::max() - now);
  if (step.count() != 0 && static_cast<int64_t>(k) > headroom.count() / step.count()) {
    return OutlierDetector::TimePoint::max();
  }
  return now + std::chrono::duration_cast<Duration>(step * static_cast<int64_t>(k));
}

} // namespace

OutlierDetector::OutlierDetector(const OutlierPolicy& policy, size_t endpoint_count,
                                 EjectionCallback on_ejection)
    : policy_(policy), endpoint_count_(endpoint_count),
      max_ejected_(capFor(endpoint_count, policy.max_ejection)),
      on_ejection_(std::move(on_ejection)), endpoints_(endpoint_count) {}

void OutlierDetector::settle(TimePoint now, EndpointState& state) {
  if (state.ejected && now >= state.until) {
    state.ejected = false;
    state.consecutive_failures = 0;
  }
}

bool OutlierDetector::onResult(TimePoint now, size_t endpoint, bool failed) {
  std::optional<OutlierEjection> ejection;
  {
    const std::lock_guard lock(mutex_);
    if (endpoint >= endpoint_count_) {
      return false;
    }
    EndpointState& state = endpoints_[endpoint];
    settle(now, state);
    if (state.ejected) {
      return false; // a late answer from before the ejection
    }
    if (!failed) {
      state.consecutive_failures = 0;
      return false;
    }
    if (state.consecutive_failures < std::numeric_limits<uint32_t>::max()) {
      ++state.consecutive_failures;
    }
    if (policy_.consecutive_failures == 0 ||
        state.consecutive_failures < policy_.consecutive_failures) {
      return false;
    }
    if (ejectedCountLocked(now) >= max_ejected_) {
      ++ejections_refused_;
      return false;
    }
    if (state.ejections < std::numeric_limits<uint32_t>::max()) {
      ++state.ejections;
    }
    state.ejected = true; // settle() clears the failure count when it returns
    state.until = ejectionEnd(now, policy_.ejection_time, state.ejections);
    ++ejections_total_;
    ejection = OutlierEjection{endpoint, state.ejections, state.until};
  }
  if (on_ejection_) {
    on_ejection_(*ejection);
  }
  return true;
}

bool OutlierDetector::isEjected(TimePoint now, size_t endpoint) const {
  const std::lock_guard lock(mutex_);
  if (endpoint >= endpoint_count_) {
    return false;
  }
  const EndpointState& state = endpoints_[endpoint];
  return state.ejected && now < state.until;
}

size_t OutlierDetector::ejectedCountLocked(TimePoint now) const {
  return static_cast<size_t>(
      std::count_if(endpoints_.begin(), endpoints_.end(), [now](const EndpointState& state) {
        return state.ejected && now < state.until;
      }));
}

size_t OutlierDetector::ejectedCount(TimePoint now) const {
  const std::lock_guard lock(mutex_);
  return ejectedCountLocked(now);
}

uint64_t OutlierDetector::ejectionsTotal() const {
  const std::lock_guard lock(mutex_);
  return ejections_total_;
}

uint64_t OutlierDetector::ejectionsRefused() const {
  const std::lock_guard lock(mutex_);
  return ejections_refused_;
}

uint32_t OutlierDetector::ejectionCount(size_t endpoint) const {
  const std::lock_guard lock(mutex_);
  return endpoint < endpoint_count_ ? endpoints_[endpoint].ejections : 0;
}

} // namespace seawall::proxy
