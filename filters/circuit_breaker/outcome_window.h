// The circuit breaker's memory: a sliding window of call outcomes, by count (the last N calls, a
// ring buffer) or by time (fixed buckets covering a duration). Pure logic: time is passed in,
// nothing here reads a clock, allocates after construction or locks (CircuitBreaker does).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace seawall::filters::circuit_breaker {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = Clock::duration;

enum class WindowType { Count, Time };

// `breaker.window` in the config. Only the field matching `type` is used.
struct WindowPolicy {
  WindowType type = WindowType::Count;
  uint64_t size_calls = 100;                         // Count: the last size_calls calls (>= 1)
  Duration size_duration = std::chrono::seconds(10); // Time: calls of roughly the last duration
};

// One finished call. `slow` is decided by the caller (latency >= slow_call.duration).
struct Outcome {
  bool failed = false;
  bool slow = false;
};

// Rates over the calls currently in the window; both rates are 0 when calls == 0.
struct Rates {
  uint64_t calls = 0;
  double failure_rate = 0.0; // failed calls / calls, in [0, 1]
  double slow_rate = 0.0;    // slow calls / calls, in [0, 1]
};

// Count window: record() evicts the oldest call once size_calls calls are held; `now` is ignored.
//
// Time window: kTimeBuckets buckets of width ceil(size_duration / kTimeBuckets) (at least 1 tick),
// aligned on multiples of the width since the clock's epoch. The window at `now` is the bucket
// holding `now` and the kTimeBuckets - 1 before it, so a call counts for more than
// (kTimeBuckets - 1) * width and at most kTimeBuckets * width after it was recorded (a 10s window
// has 1s buckets: a call stays between 9s and 10s). A `now` older than the newest bucket seen
// (callers on several threads read the clock before taking the breaker's lock) is treated as the
// newest bucket: time never runs backwards inside the window.
//
// Not thread-safe; CircuitBreaker serialises access.
class OutcomeWindow {
public:
  static constexpr size_t kTimeBuckets = 10;

  // A count window of size_calls == 0 holds one call; a time window of size_duration <= 0 has
  // buckets one tick wide. Config validation rejects both; these only keep the arithmetic safe.
  explicit OutcomeWindow(const WindowPolicy& policy);

  void record(TimePoint now, Outcome outcome);
  Rates rates(TimePoint now) const;
  // Forgets every call (the time window also forgets the newest bucket seen).
  void reset();

  WindowType type() const { return type_; }
  // Time window only: the width of one bucket.
  Duration bucketWidth() const { return width_; }

private:
  struct Bucket {
    int64_t epoch = 0; // bucket index since the clock's epoch (time / width)
    uint64_t calls = 0;
    uint64_t failed = 0;
    uint64_t slow = 0;
  };

  static constexpr uint8_t kFailedBit = 1;
  static constexpr uint8_t kSlowBit = 2;

  int64_t epochOf(TimePoint now) const;
  void recordCount(Outcome outcome);
  void recordTime(TimePoint now, Outcome outcome);
  Rates ratesTime(TimePoint now) const;
  static Rates makeRates(uint64_t calls, uint64_t failed, uint64_t slow);

  WindowType type_;

  // Count window: ring of kFailedBit | kSlowBit flags, running totals over the held calls.
  std::vector<uint8_t> ring_;
  size_t next_ = 0;   // slot written by the next record()
  uint64_t held_ = 0; // calls in the ring, <= ring_.size()
  uint64_t failed_ = 0;
  uint64_t slow_ = 0;

  // Time window.
  Duration width_{1};
  std::array<Bucket, kTimeBuckets> buckets_{};
  int64_t newest_ = 0; // newest bucket epoch recorded, valid when any_ is true
  bool any_ = false;
};

} // namespace seawall::filters::circuit_breaker
