#include "filters/circuit_breaker/outcome_window.h"

#include <algorithm>

namespace seawall::filters::circuit_breaker {

namespace {

constexpr auto kBucketCount = static_cast<int64_t>(OutcomeWindow::kTimeBuckets);

// Floor division, so that times before the clock's epoch still fall into the right bucket.
int64_t floorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

size_t slotOf(int64_t epoch) {
  return static_cast<size_t>(((epoch % kBucketCount) + kBucketCount) % kBucketCount);
}

} // namespace

OutcomeWindow::OutcomeWindow(const WindowPolicy& policy) : type_(policy.type) {
  if (type_ == WindowType::Count) {
    ring_.assign(static_cast<size_t>(std::max<uint64_t>(policy.size_calls, 1)), 0);
    return;
  }
  const auto ticks = policy.size_duration.count();
  width_ = Duration(std::max<Duration::rep>((ticks + kBucketCount - 1) / kBucketCount, 1));
}

int64_t OutcomeWindow::epochOf(TimePoint now) const {
  return floorDiv(now.time_since_epoch().count(), width_.count());
}

void OutcomeWindow::record(TimePoint now, Outcome outcome) {
  if (type_ == WindowType::Count) {
    recordCount(outcome);
  } else {
    recordTime(now, outcome);
  }
}

void OutcomeWindow::recordCount(Outcome outcome) {
  uint8_t& slot = ring_[next_];
  if (held_ == ring_.size()) { // full: the slot holds the oldest call, evict it
    failed_ -= (slot & kFailedBit) != 0 ? 1 : 0;
    slow_ -= (slot & kSlowBit) != 0 ? 1 : 0;
  } else {
    ++held_;
  }
  slot = static_cast<uint8_t>((outcome.failed ? kFailedBit : 0) | (outcome.slow ? kSlowBit : 0));
  failed_ += outcome.failed ? 1 : 0;
  slow_ += outcome.slow ? 1 : 0;
  next_ = (next_ + 1) % ring_.size();
}

void OutcomeWindow::recordTime(TimePoint now, Outcome outcome) {
  int64_t epoch = epochOf(now);
  if (any_ && epoch < newest_) {
    epoch = newest_; // a late caller: count it in the newest bucket
  }
  Bucket& bucket = buckets_[slotOf(epoch)];
  if (bucket.epoch != epoch) { // the slot holds a bucket that left the window: reuse it
    bucket = Bucket{epoch, 0, 0, 0};
  }
  ++bucket.calls;
  bucket.failed += outcome.failed ? 1 : 0;
  bucket.slow += outcome.slow ? 1 : 0;
  newest_ = epoch;
  any_ = true;
}

Rates OutcomeWindow::rates(TimePoint now) const {
  if (type_ == WindowType::Count) {
    return makeRates(held_, failed_, slow_);
  }
  return ratesTime(now);
}

Rates OutcomeWindow::ratesTime(TimePoint now) const {
  if (!any_) {
    return {};
  }
  const int64_t current = std::max(epochOf(now), newest_);
  uint64_t calls = 0;
  uint64_t failed = 0;
  uint64_t slow = 0;
  for (const Bucket& bucket : buckets_) {
    // Every recorded bucket has epoch <= newest_ <= current; keep the last kBucketCount.
    if (bucket.calls > 0 && bucket.epoch > current - kBucketCount) {
      calls += bucket.calls;
      failed += bucket.failed;
      slow += bucket.slow;
    }
  }
  return makeRates(calls, failed, slow);
}

Rates OutcomeWindow::makeRates(uint64_t calls, uint64_t failed, uint64_t slow) {
  if (calls == 0) {
    return {};
  }
  const auto total = static_cast<double>(calls);
  return {calls, static_cast<double>(failed) / total, static_cast<double>(slow) / total};
}

void OutcomeWindow::reset() {
  std::fill(ring_.begin(), ring_.end(), uint8_t{0});
  next_ = 0;
  held_ = 0;
  failed_ = 0;
  slow_ = 0;
  buckets_.fill(Bucket{});
  newest_ = 0;
  any_ = false;
}

} // namespace seawall::filters::circuit_breaker
