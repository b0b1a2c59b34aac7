// Per-worker metric shards. One WorkerStats per worker thread; only that thread writes to it.
//
// Every counter is a std::atomic<uint64_t> that its single writer bumps with a relaxed load and
// store (no locked read-modify-write, no CAS loop); the scraper on the main thread reads them with
// relaxed loads and sums all shards (see proxy/stats/metrics.h). Handles (RequestStats,
// ListenerStats, ClusterStats) are created under a mutex shared with the scraper and never move
// or die while their WorkerStats lives: callers resolve them once (per listener, per cluster,
// per snapshot) and keep the reference, so the hot path does no lookup.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace seawall::proxy::stats {

// Label used for requests answered locally before any cluster was chosen (e.g. no route).
inline constexpr std::string_view kNoCluster = "none";

// A counter with one writer thread: bumps are a relaxed load and store.
class ShardCounter {
public:
  void inc(uint64_t n = 1) noexcept {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  // Release: a reader that acquires this value sees every write made before it (used so that a
  // "closed" count is never read ahead of its matching "opened" count).
  void incRelease() noexcept {
    value_.store(value_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }
  uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }
  uint64_t valueAcquire() const noexcept { return value_.load(std::memory_order_acquire); }

private:
  std::atomic<uint64_t> value_{0};
};

// Fixed latency buckets (upper bounds, seconds) of seawall_request_duration_seconds.
inline constexpr std::array<double, 16> kDurationBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

// One cluster's request durations on one worker. Buckets hold non-cumulative counts (the last
// one is +Inf); the scraper accumulates them.
class alignas(64) DurationHistogram {
public:
  void observe(double seconds) noexcept;
  uint64_t bucket(size_t i) const noexcept { return buckets_[i].value(); }
  double sum() const noexcept { return sum_.load(std::memory_order_relaxed); }

private:
  std::array<ShardCounter, kDurationBuckets.size() + 1> buckets_{};
  std::atomic<double> sum_{0.0};
};

// Requests of one (listener, cluster) pair on one worker, by exact status code.
class alignas(64) RequestStats {
public:
  static constexpr int kMinCode = 100;
  static constexpr int kMaxCode = 599;
  static constexpr size_t kOtherSlot = kMaxCode - kMinCode + 1; // codes outside 100..599

  explicit RequestStats(DurationHistogram& duration) : duration_(duration) {}

  // Counts one finished request with the status sent downstream and its duration.
  void record(int status_code, double seconds) noexcept;
  // Count for code slot `slot` (code - kMinCode, or kOtherSlot).
  uint64_t slotCount(size_t slot) const noexcept { return codes_[slot].value(); }

private:
  std::array<ShardCounter, kOtherSlot + 1> codes_{};
  DurationHistogram& duration_;
};

enum class RejectReason {
  HeaderTooLarge,
  BadRequest,
  AmbiguousFraming,
  UnsupportedTransferCoding,
  TooManyStreams,
  Other,
};
inline constexpr size_t kRejectReasonCount = 6;
// "header-too-large", ...; parse maps unknown tokens to Other.
std::string_view toString(RejectReason r);
RejectReason parseRejectReason(std::string_view token);

enum class FailureReason {
  ConnectFailure,
  Reset,
  RefusedStream,
  ProtocolError,
  Overflow,
  Timeout,
  Other,
};
inline constexpr size_t kFailureReasonCount = 7;
// "connect-failure", ...; parse maps unknown tokens to Other.
std::string_view toString(FailureReason r);
FailureReason parseFailureReason(std::string_view token);

// Downstream connections of one listener on one worker.
class alignas(64) ListenerStats {
public:
  void connectionOpened() noexcept { opened_.inc(); }
  void connectionClosed() noexcept { closed_.incRelease(); }
  void rejected(RejectReason reason) noexcept { rejected_[static_cast<size_t>(reason)].inc(); }
  void rejected(std::string_view reason) noexcept { rejected(parseRejectReason(reason)); }

  uint64_t opened() const noexcept { return opened_.value(); }
  // Open now; never negative (closed is read first, with acquire).
  uint64_t open() const noexcept;
  uint64_t rejectedCount(RejectReason reason) const noexcept {
    return rejected_[static_cast<size_t>(reason)].value();
  }

private:
  ShardCounter opened_;
  ShardCounter closed_;
  std::array<ShardCounter, kRejectReasonCount> rejected_{};
};

// Label values of the resilience counters (the `kind` / `limit` labels).
enum class TimeoutKind { Connect, PerTry, Request, Idle };
inline constexpr size_t kTimeoutKindCount = 4;
std::string_view toString(TimeoutKind k); // "connect", "per-try", "request", "idle"

enum class FallbackKind { Static, Cluster, LastGood };
inline constexpr size_t kFallbackKindCount = 3;
std::string_view toString(FallbackKind k); // "static", "cluster", "last-good"

enum class OverflowLimit { MaxConnections, MaxPending, MaxRequests, MaxRetries, RetryBudget };
inline constexpr size_t kOverflowLimitCount = 5;
// "max_connections", "max_pending", "max_requests", "max_retries", "retry_budget"
std::string_view toString(OverflowLimit l);

// `reason` label of seawall_retries_total: the retry condition that matched
// (filters::retry::retryOnName of RetryOn, indexed by the enum's value).
inline constexpr size_t kRetryReasonCount = 11;

// Upstream connections, failures and resilience actions of one cluster on one worker.
class alignas(64) ClusterStats {
public:
  void retry(size_t reason_index) noexcept {
    retries_[reason_index < kRetryReasonCount ? reason_index : 0].inc();
  }
  void timeout(TimeoutKind kind) noexcept { timeouts_[static_cast<size_t>(kind)].inc(); }
  void fallback(FallbackKind kind) noexcept { fallbacks_[static_cast<size_t>(kind)].inc(); }
  void overflow(OverflowLimit limit) noexcept { overflows_[static_cast<size_t>(limit)].inc(); }
  uint64_t retryCount(size_t reason_index) const noexcept { return retries_[reason_index].value(); }
  uint64_t timeoutCount(TimeoutKind k) const noexcept {
    return timeouts_[static_cast<size_t>(k)].value();
  }
  uint64_t fallbackCount(FallbackKind k) const noexcept {
    return fallbacks_[static_cast<size_t>(k)].value();
  }
  uint64_t overflowCount(OverflowLimit l) const noexcept {
    return overflows_[static_cast<size_t>(l)].value();
  }

  void upstreamConnectionOpened() noexcept { opened_.inc(); }
  void upstreamConnectionClosed() noexcept { closed_.incRelease(); }
  void upstreamFailure(FailureReason reason) noexcept {
    failures_[static_cast<size_t>(reason)].inc();
  }
  void upstreamFailure(std::string_view reason) noexcept {
    upstreamFailure(parseFailureReason(reason));
  }

  uint64_t opened() const noexcept { return opened_.value(); }
  uint64_t open() const noexcept;
  uint64_t failureCount(FailureReason reason) const noexcept {
    return failures_[static_cast<size_t>(reason)].value();
  }

private:
  ShardCounter opened_;
  ShardCounter closed_;
  std::array<ShardCounter, kFailureReasonCount> failures_{};
  std::array<ShardCounter, kRetryReasonCount> retries_{};
  std::array<ShardCounter, kTimeoutKindCount> timeouts_{};
  std::array<ShardCounter, kFallbackKindCount> fallbacks_{};
  std::array<ShardCounter, kOverflowLimitCount> overflows_{};
};

class WorkerStats {
public:
  WorkerStats() = default;
  WorkerStats(const WorkerStats&) = delete;
  WorkerStats& operator=(const WorkerStats&) = delete;
  WorkerStats(WorkerStats&&) = delete;
  WorkerStats& operator=(WorkerStats&&) = delete;
  ~WorkerStats() = default;

  // Creates on first use (under the shard mutex); the reference stays valid for the lifetime of
  // this WorkerStats. An empty cluster name is recorded as kNoCluster.
  RequestStats& requests(std::string_view listener, std::string_view cluster);
  ListenerStats& listener(std::string_view name);
  ClusterStats& cluster(std::string_view name);

  // Scraper side: calls fn(key, stats) for every handle, holding the shard mutex.
  template <typename Fn> void forEachRequests(Fn&& fn) const {
    std::lock_guard lock(mutex_);
    for (const auto& [key, value] : requests_) {
      fn(key.first, key.second, *value);
    }
  }
  template <typename Fn> void forEachDuration(Fn&& fn) const {
    std::lock_guard lock(mutex_);
    for (const auto& [name, value] : durations_) {
      fn(name, *value);
    }
  }
  template <typename Fn> void forEachListener(Fn&& fn) const {
    std::lock_guard lock(mutex_);
    for (const auto& [name, value] : listeners_) {
      fn(name, *value);
    }
  }
  template <typename Fn> void forEachCluster(Fn&& fn) const {
    std::lock_guard lock(mutex_);
    for (const auto& [name, value] : clusters_) {
      fn(name, *value);
    }
  }

private:
  using PairKey = std::pair<std::string, std::string>;

  mutable std::mutex mutex_; // guards the maps (not the counters) against the scraper
  std::map<std::string, std::unique_ptr<DurationHistogram>, std::less<>> durations_;
  std::map<PairKey, std::unique_ptr<RequestStats>> requests_;
  std::map<std::string, std::unique_ptr<ListenerStats>, std::less<>> listeners_;
  std::map<std::string, std::unique_ptr<ClusterStats>, std::less<>> clusters_;
};

} // namespace seawall::proxy::stats
