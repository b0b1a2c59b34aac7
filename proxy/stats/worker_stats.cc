#include "proxy/stats/worker_stats.h"

#include <algorithm>

namespace seawall::proxy::stats {
namespace {

constexpr std::array<std::string_view, kRejectReasonCount> kRejectNames = {
    "header-too-large", "bad-request", "ambiguous-framing", "unsupported-transfer-coding",
    "too-many-streams", "other"};

constexpr std::array<std::string_view, kFailureReasonCount> kFailureNames = {
    "connect-failure", "reset", "refused-stream", "protocol-error", "overflow", "timeout", "other"};

// open = opened - closed. `closed` is loaded first with acquire: its writer stored it with release
// after the matching `opened` store, so the `opened` loaded next is never behind it.
uint64_t openNow(const ShardCounter& opened, const ShardCounter& closed) {
  const uint64_t c = closed.valueAcquire();
  const uint64_t o = opened.value();
  return o >= c ? o - c : 0;
}

template <typename Map, typename Key, typename Make>
auto& findOrCreate(std::mutex& mutex, Map& map, Key&& key, Make&& make) {
  std::lock_guard lock(mutex);
  auto it = map.find(key);
  if (it == map.end()) {
    it = map.emplace(typename Map::key_type(key), make()).first;
  }
  return *it->second;
}

} // namespace

std::string_view toString(RejectReason r) { return kRejectNames[static_cast<size_t>(r)]; }

RejectReason parseRejectReason(std::string_view token) {
  const auto* it = std::find(kRejectNames.begin(), kRejectNames.end(), token);
  if (it == kRejectNames.end()) {
    return RejectReason::Other;
  }
  return static_cast<RejectReason>(it - kRejectNames.begin());
}

std::string_view toString(FailureReason r) { return kFailureNames[static_cast<size_t>(r)]; }

FailureReason parseFailureReason(std::string_view token) {
  const auto* it = std::find(kFailureNames.begin(), kFailureNames.end(), token);
  if (it == kFailureNames.end()) {
    return FailureReason::Other;
  }
  return static_cast<FailureReason>(it - kFailureNames.begin());
}

std::string_view toString(TimeoutKind k) {
  static constexpr std::array<std::string_view, kTimeoutKindCount> kNames = {"connect", "per-try",
                                                                             "request", "idle"};
  return kNames[static_cast<size_t>(k)];
}

std::string_view toString(FallbackKind k) {
  static constexpr std::array<std::string_view, kFallbackKindCount> kNames = {"static", "cluster",
                                                                              "last-good"};
  return kNames[static_cast<size_t>(k)];
}

std::string_view toString(OverflowLimit l) {
  static constexpr std::array<std::string_view, kOverflowLimitCount> kNames = {
      "max_connections", "max_pending", "max_requests", "max_retries", "retry_budget"};
  return kNames[static_cast<size_t>(l)];
}

void DurationHistogram::observe(double seconds) noexcept {
  if (!(seconds >= 0.0)) { // negative or NaN: a clock went backwards; count it as instant
    seconds = 0.0;
  }
  // Prometheus buckets are inclusive: the first bound >= seconds.
  const auto* it = std::lower_bound(kDurationBuckets.begin(), kDurationBuckets.end(), seconds);
  buckets_[static_cast<size_t>(it - kDurationBuckets.begin())].inc();
  sum_.store(sum_.load(std::memory_order_relaxed) + seconds, std::memory_order_relaxed);
}

void RequestStats::record(int status_code, double seconds) noexcept {
  const size_t slot = status_code >= kMinCode && status_code <= kMaxCode
                          ? static_cast<size_t>(status_code - kMinCode)
                          : kOtherSlot;
  codes_[slot].inc();
  duration_.observe(seconds);
}

uint64_t ListenerStats::open() const noexcept { return openNow(opened_, closed_); }

uint64_t ClusterStats::open() const noexcept { return openNow(opened_, closed_); }

RequestStats& WorkerStats::requests(std::string_view listener, std::string_view cluster) {
  if (cluster.empty()) {
    cluster = kNoCluster;
  }
  std::lock_guard lock(mutex_);
  PairKey key{std::string(listener), std::string(cluster)};
  auto it = requests_.find(key);
  if (it != requests_.end()) {
    return *it->second;
  }
  auto d = durations_.find(cluster);
  if (d == durations_.end()) {
    d = durations_.emplace(std::string(cluster), std::make_unique<DurationHistogram>()).first;
  }
  auto stats = std::make_unique<RequestStats>(*d->second);
  return *requests_.emplace(std::move(key), std::move(stats)).first->second;
}

ListenerStats& WorkerStats::listener(std::string_view name) {
  return findOrCreate(mutex_, listeners_, name, [] { return std::make_unique<ListenerStats>(); });
}

ClusterStats& WorkerStats::cluster(std::string_view name) {
  return findOrCreate(mutex_, clusters_, name, [] { return std::make_unique<ClusterStats>(); });
}

} // namespace seawall::proxy::stats
