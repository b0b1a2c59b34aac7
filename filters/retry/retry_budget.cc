#include "filters/retry/retry_budget.h"

#include <algorithm>
#include <cmath>

namespace seawall::filters::retry {
namespace {

constexpr double kMaxRatio = 1000.0;
constexpr uint64_t kNanosPerSecond = 1'000'000'000;
// Counts (and the floor rate) above this are clamped so that count * ppm and
// rate * kNanosPerSecond * 2 fit 64 bits.
constexpr uint64_t kMaxCount = uint64_t{1} << 32;

uint64_t toPpm(double ratio) {
  if (!(ratio > 0.0)) { // also NaN
    return 0;
  }
  return static_cast<uint64_t>(std::llround(std::min(ratio, kMaxRatio) * 1e6));
}

} // namespace

RetryBudget::Slot& RetryBudget::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    release();
    budget_ = other.budget_;
    other.budget_ = nullptr;
  }
  return *this;
}

void RetryBudget::Slot::release() noexcept {
  if (budget_ != nullptr) {
    budget_->onRetryFinished();
    budget_ = nullptr;
  }
}

RetryBudget::RetryBudget(RetryBudgetPolicy policy, TimePoint now)
    : ratio_ppm_(toPpm(policy.ratio)), rate_(std::min<uint64_t>(policy.min_per_second, kMaxCount)),
      credit_(rate_ * kNanosPerSecond), last_refill_(now) {}

bool RetryBudget::canRetry(TimePoint now, uint64_t active_requests, uint64_t active_retries) {
  const std::lock_guard<std::mutex> lock(mutex_);
  return admitLocked(now, active_requests, active_retries);
}

RetryBudget::Slot RetryBudget::tryStartRetry(TimePoint now, uint64_t active_requests) {
  const std::lock_guard<std::mutex> lock(mutex_);
  if (!admitLocked(now, active_requests, activeRetries())) {
    return Slot{};
  }
  onRetryStarted();
  return Slot{this};
}

bool RetryBudget::admitLocked(TimePoint now, uint64_t active_requests, uint64_t active_retries) {
  const uint64_t requests = std::min(active_requests, kMaxCount);
  const uint64_t retries = std::min(active_retries, kMaxCount);
  if ((retries + 1) * 1'000'000 <= ratio_ppm_ * requests) {
    return true;
  }
  if (now > last_refill_) {
    // One second refills the whole bucket, so longer gaps need not be multiplied out.
    const auto elapsed_ns = static_cast<uint64_t>(
        std::min<int64_t>(std::chrono::nanoseconds(now - last_refill_).count(), kNanosPerSecond));
    credit_ = std::min(rate_ * kNanosPerSecond, credit_ + elapsed_ns * rate_);
    last_refill_ = now;
  }
  if (credit_ >= kNanosPerSecond) {
    credit_ -= kNanosPerSecond;
    return true;
  }
  return false;
}

} // namespace seawall::filters::retry
