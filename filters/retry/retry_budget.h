// Retry budget of one cluster, shared by all workers: retries in flight may be at most `ratio` of
// the requests in flight, and beyond that `min_per_second` retries per second are still allowed
// (a token bucket refilled by the time the callers pass in), so a quiet cluster can retry at all.
//
// Thread-safe: a mutex guards the token bucket; the count of retries in flight is an atomic.
// tryStartRetry() checks and counts under the mutex, so callers that use it never overshoot the
// ratio; canRetry() with a count kept elsewhere may overshoot by the retries other workers admit
// at the same moment, as every shared limit here may (see STYLE.md, "State outlives config").
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>

namespace seawall::filters::retry {

// `retry.budget` of a route (defaults: the CONFIG.md example).
struct RetryBudgetPolicy {
  double ratio = 0.2;           // of active requests; clamped to [0, 1000]
  uint32_t min_per_second = 10; // floor: retries per second allowed whatever the ratio; 0 = none
};

class RetryBudget {
public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // Holds one retry in flight; released when destroyed (or by release()). Empty when refused.
  // Must not outlive its budget (budgets live in the cluster runtime, which outlives streams).
  class Slot {
  public:
    Slot() = default;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    Slot(Slot&& other) noexcept : budget_(other.budget_) { other.budget_ = nullptr; }
    Slot& operator=(Slot&& other) noexcept;
    ~Slot() { release(); }
    explicit operator bool() const { return budget_ != nullptr; }
    void release() noexcept;

  private:
    friend class RetryBudget;
    explicit Slot(RetryBudget* budget) : budget_(budget) {}
    RetryBudget* budget_ = nullptr;
  };

  // The bucket starts full (min_per_second tokens) at `now`.
  RetryBudget(RetryBudgetPolicy policy, TimePoint now);

  // Admission of one more retry, given the requests and retries in flight (the new one
  // excluded). True when active_retries + 1 <= ratio * active_requests; otherwise true if the
  // floor bucket has a whole token, which is then spent. `now` earlier than a previous call's
  // (another worker read the clock a little sooner) refills nothing.
  bool canRetry(TimePoint now, uint64_t active_requests, uint64_t active_retries);

  // Count of retries in flight kept by the budget itself.
  void onRetryStarted() noexcept { active_retries_.fetch_add(1, std::memory_order_relaxed); }
  void onRetryFinished() noexcept { active_retries_.fetch_sub(1, std::memory_order_relaxed); }
  uint64_t activeRetries() const noexcept {
    return active_retries_.load(std::memory_order_relaxed);
  }

  // canRetry(now, active_requests, activeRetries()) and onRetryStarted() as one step.
  Slot tryStartRetry(TimePoint now, uint64_t active_requests);

private:
  bool admitLocked(TimePoint now, uint64_t active_requests, uint64_t active_retries);

  // Integer arithmetic throughout, so that 29% of 100 is 29 and 100ms at 10/s is one token.
  const uint64_t ratio_ppm_; // ratio in millionths
  const uint64_t rate_;      // floor tokens per second; the bucket holds one second's worth
  std::mutex mutex_;
  uint64_t credit_;       // tokens * 1e9 (token-nanoseconds); guarded by mutex_
  TimePoint last_refill_; // guarded by mutex_
  std::atomic<uint64_t> active_retries_{0};
};

} // namespace seawall::filters::retry
