#include "proxy/stats/metrics.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <map>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/text_serializer.h>

#include "filters/async_202/callback_sender.h"
#include "filters/async_202/job_store.h"
#include "filters/retry/retry_decision.h"
#include "proxy/upstream/cluster_runtime.h"

namespace seawall::proxy::stats {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

using CodeCounts = std::array<uint64_t, RequestStats::kOtherSlot + 1>;

struct DurationTotals {
  std::array<uint64_t, kDurationBuckets.size() + 1> buckets{}; // non-cumulative, last is +Inf
  double sum = 0.0;
};

struct ConnectionTotals {
  uint64_t opened = 0;
  uint64_t open = 0;
  std::array<uint64_t, kFailureReasonCount> reasons{}; // RejectReason or FailureReason index
};

static_assert(kRetryReasonCount == filters::retry::kRetryOnCount,
              "seawall_retries_total has one reason per retry.on condition");

// The resilience counters of one cluster (ClusterStats), every label value, zeros included.
struct ResilienceTotals {
  std::array<uint64_t, kRetryReasonCount> retries{};
  std::array<uint64_t, kTimeoutKindCount> timeouts{};
  std::array<uint64_t, kFallbackKindCount> fallbacks{};
  std::array<uint64_t, kOverflowLimitCount> overflows{};
};

// Every shard summed, keyed by label values (std::map: series come out sorted).
struct Totals {
  std::map<std::pair<std::string, std::string>, CodeCounts> requests;
  std::map<std::string, DurationTotals> durations;
  std::map<std::string, ConnectionTotals> listeners;
  std::map<std::string, ConnectionTotals> clusters;
  std::map<std::string, ResilienceTotals> resilience;
};

void addResilience(const ClusterStats& stats, ResilienceTotals& t) {
  for (size_t i = 0; i < kRetryReasonCount; ++i) {
    t.retries[i] += stats.retryCount(i);
  }
  for (size_t i = 0; i < kTimeoutKindCount; ++i) {
    t.timeouts[i] += stats.timeoutCount(static_cast<TimeoutKind>(i));
  }
  for (size_t i = 0; i < kFallbackKindCount; ++i) {
    t.fallbacks[i] += stats.fallbackCount(static_cast<FallbackKind>(i));
  }
  for (size_t i = 0; i < kOverflowLimitCount; ++i) {
    t.overflows[i] += stats.overflowCount(static_cast<OverflowLimit>(i));
  }
}

void addShard(const WorkerStats& shard, Totals& totals) {
  shard.forEachRequests(
      [&](const std::string& listener, const std::string& cluster, const RequestStats& stats) {
        auto& counts = totals.requests[{listener, cluster}];
        for (size_t i = 0; i < counts.size(); ++i) {
          counts[i] += stats.slotCount(i);
        }
      });
  shard.forEachDuration([&](const std::string& cluster, const DurationHistogram& hist) {
    auto& d = totals.durations[cluster];
    for (size_t i = 0; i < d.buckets.size(); ++i) {
      d.buckets[i] += hist.bucket(i);
    }
    d.sum += hist.sum();
  });
  shard.forEachListener([&](const std::string& name, const ListenerStats& stats) {
    auto& t = totals.listeners[name];
    t.open += stats.open(); // before opened(): a concurrent open then shows in both
    t.opened += stats.opened();
    for (size_t i = 0; i < kRejectReasonCount; ++i) {
      t.reasons[i] += stats.rejectedCount(static_cast<RejectReason>(i));
    }
  });
  shard.forEachCluster([&](const std::string& name, const ClusterStats& stats) {
    auto& t = totals.clusters[name];
    t.open += stats.open();
    t.opened += stats.opened();
    for (size_t i = 0; i < kFailureReasonCount; ++i) {
      t.reasons[i] += stats.failureCount(static_cast<FailureReason>(i));
    }
    addResilience(stats, totals.resilience[name]);
  });
}

MetricFamily family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

ClientMetric valueMetric(std::vector<ClientMetric::Label> labels, MetricType type, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  if (type == MetricType::Gauge) {
    m.gauge.value = value;
  } else {
    m.counter.value = value;
  }
  return m;
}

std::string codeLabel(size_t slot) {
  if (slot == RequestStats::kOtherSlot) {
    return "other";
  }
  return std::to_string(static_cast<int>(slot) + RequestStats::kMinCode);
}

void emitRequests(const Totals& totals, std::vector<MetricFamily>& out) {
  auto f = family("seawall_requests_total",
                  "Requests answered downstream, by listener, cluster (\"none\" for local replies "
                  "without one) and status code.",
                  MetricType::Counter);
  for (const auto& [key, counts] : totals.requests) {
    for (size_t slot = 0; slot < counts.size(); ++slot) {
      if (counts[slot] != 0) {
        f.metric.push_back(valueMetric(
            {{"listener", key.first}, {"cluster", key.second}, {"code", codeLabel(slot)}},
            MetricType::Counter, static_cast<double>(counts[slot])));
      }
    }
  }
  out.push_back(std::move(f));
}

void emitDurations(const Totals& totals, std::vector<MetricFamily>& out) {
  auto f = family("seawall_request_duration_seconds",
                  "Time from the first request byte to the end of the response, by cluster.",
                  MetricType::Histogram);
  for (const auto& [cluster, d] : totals.durations) {
    ClientMetric m;
    m.label = {{"cluster", cluster}};
    uint64_t cumulative = 0;
    for (size_t i = 0; i < d.buckets.size(); ++i) {
      cumulative += d.buckets[i];
      const double bound = i < kDurationBuckets.size() ? kDurationBuckets[i]
                                                       : std::numeric_limits<double>::infinity();
      m.histogram.bucket.push_back({cumulative, bound});
    }
    m.histogram.sample_count = cumulative; // always equal to the +Inf bucket
    m.histogram.sample_sum = d.sum;
    f.metric.push_back(std::move(m));
  }
  out.push_back(std::move(f));
}

// `opened` counter, `open` gauge and `reasons` counter families of listeners or clusters.
struct ConnectionNames {
  std::string label;
  std::string total_name, total_help;
  std::string gauge_name, gauge_help;
  std::string reason_name, reason_help;
  size_t reason_count;
  std::string_view (*reason_token)(size_t);
};

void emitConnections(const std::map<std::string, ConnectionTotals>& totals,
                     const ConnectionNames& n, std::vector<MetricFamily>& out) {
  auto total = family(n.total_name, n.total_help, MetricType::Counter);
  auto gauge = family(n.gauge_name, n.gauge_help, MetricType::Gauge);
  auto reasons = family(n.reason_name, n.reason_help, MetricType::Counter);
  for (const auto& [name, t] : totals) {
    total.metric.push_back(
        valueMetric({{n.label, name}}, MetricType::Counter, static_cast<double>(t.opened)));
    gauge.metric.push_back(
        valueMetric({{n.label, name}}, MetricType::Gauge, static_cast<double>(t.open)));
    for (size_t i = 0; i < n.reason_count; ++i) {
      if (t.reasons[i] != 0) {
        reasons.metric.push_back(
            valueMetric({{n.label, name}, {"reason", std::string(n.reason_token(i))}},
                        MetricType::Counter, static_cast<double>(t.reasons[i])));
      }
    }
  }
  out.push_back(std::move(total));
  out.push_back(std::move(gauge));
  out.push_back(std::move(reasons));
}

void emitShards(const Totals& totals, std::vector<MetricFamily>& out) {
  emitRequests(totals, out);
  emitDurations(totals, out);
  emitConnections(
      totals.listeners,
      {"listener", "seawall_downstream_connections_total", "Downstream connections accepted.",
       "seawall_downstream_connections", "Downstream connections open now.",
       "seawall_downstream_rejected_total",
       "Downstream requests or connections refused by the codec before any filter ran, by reason.",
       kRejectReasonCount, [](size_t i) { return toString(static_cast<RejectReason>(i)); }},
      out);
  emitConnections(totals.clusters,
                  {"cluster", "seawall_upstream_connections_total",
                   "Upstream connections established.", "seawall_upstream_connections",
                   "Upstream connections open now.", "seawall_upstream_failures_total",
                   "Upstream attempts that ended without a complete response, by reason.",
                   kFailureReasonCount,
                   [](size_t i) { return toString(static_cast<FailureReason>(i)); }},
                  out);
}

using TokenFn = std::string_view (*)(size_t);

// One counter series per label value of `label`, zeros included.
template <size_t N>
void addLabeled(MetricFamily& f, const std::string& cluster, const std::string& label,
                const std::array<uint64_t, N>& counts, TokenFn token) {
  for (size_t i = 0; i < N; ++i) {
    f.metric.push_back(valueMetric({{"cluster", cluster}, {label, std::string(token(i))}},
                                   MetricType::Counter, static_cast<double>(counts[i])));
  }
}

void emitResilience(const std::map<std::string, ResilienceTotals>& totals,
                    std::vector<MetricFamily>& out) {
  auto retries = family("seawall_retries_total",
                        "Retries scheduled, by cluster and the retry.on condition that matched.",
                        MetricType::Counter);
  auto timeouts =
      family("seawall_timeouts_total", "Timeouts, by cluster and kind.", MetricType::Counter);
  auto fallbacks = family("seawall_fallbacks_total",
                          "Fallback responses served, by cluster and kind.", MetricType::Counter);
  auto overflows = family("seawall_overflow_total",
                          "Attempts or retries refused by a concurrency limit or the retry budget.",
                          MetricType::Counter);
  for (const auto& [cluster, t] : totals) {
    addLabeled(retries, cluster, "reason", t.retries, [](size_t i) {
      return filters::retry::retryOnName(static_cast<filters::retry::RetryOn>(i));
    });
    addLabeled(timeouts, cluster, "kind", t.timeouts,
               [](size_t i) { return toString(static_cast<TimeoutKind>(i)); });
    addLabeled(fallbacks, cluster, "kind", t.fallbacks,
               [](size_t i) { return toString(static_cast<FallbackKind>(i)); });
    addLabeled(overflows, cluster, "limit", t.overflows,
               [](size_t i) { return toString(static_cast<OverflowLimit>(i)); });
  }
  out.push_back(std::move(retries));
  out.push_back(std::move(timeouts));
  out.push_back(std::move(fallbacks));
  out.push_back(std::move(overflows));
}

using BreakerState = ClusterRuntime::State;

std::string stateName(size_t i) {
  return std::string(filters::circuit_breaker::toString(static_cast<BreakerState>(i)));
}

void emitBreakers(const std::vector<ClusterRuntime*>& runtimes, std::vector<MetricFamily>& out) {
  auto state = family("seawall_breaker_state",
                      "Circuit breaker state: 1 for the current state, 0 for the others.",
                      MetricType::Gauge);
  auto transitions =
      family("seawall_breaker_transitions_total",
             "Circuit breaker state changes, by from and to state.", MetricType::Counter);
  auto would_reject =
      family("seawall_breaker_would_reject_total",
             "Calls a breaker in metrics_only mode admitted but would have rejected.",
             MetricType::Counter);
  for (ClusterRuntime* rt : runtimes) {
    if (rt->breaker() == nullptr) {
      continue;
    }
    const std::string& cluster = rt->name();
    const auto now = static_cast<size_t>(rt->breakerState()); // before the transitions it may add
    for (size_t s = 0; s < ClusterRuntime::kStateCount; ++s) {
      state.metric.push_back(valueMetric({{"cluster", cluster}, {"state", stateName(s)}},
                                         MetricType::Gauge, s == now ? 1 : 0));
    }
    for (size_t from = 0; from < ClusterRuntime::kStateCount; ++from) {
      for (size_t to = 0; to < ClusterRuntime::kStateCount; ++to) {
        if (from == to) {
          continue;
        }
        const uint64_t n =
            rt->transitions(static_cast<BreakerState>(from), static_cast<BreakerState>(to));
        transitions.metric.push_back(
            valueMetric({{"cluster", cluster}, {"from", stateName(from)}, {"to", stateName(to)}},
                        MetricType::Counter, static_cast<double>(n)));
      }
    }
    would_reject.metric.push_back(valueMetric({{"cluster", cluster}}, MetricType::Counter,
                                              static_cast<double>(rt->wouldRejectTotal())));
  }
  out.push_back(std::move(state));
  out.push_back(std::move(transitions));
  out.push_back(std::move(would_reject));
}

void emitClusterRuntimes(const std::vector<ClusterRuntime*>& runtimes,
                         std::vector<MetricFamily>& out) {
  auto ejections = family("seawall_outlier_ejections_total",
                          "Endpoint ejections by outlier detection.", MetricType::Counter);
  auto active = family("seawall_cluster_active",
                       "Slots of a concurrency limit in use now, by resource.", MetricType::Gauge);
  auto limit = family("seawall_cluster_limit", "Configured maximum of a concurrency limit.",
                      MetricType::Gauge);
  for (ClusterRuntime* rt : runtimes) {
    const std::string& cluster = rt->name();
    ejections.metric.push_back(valueMetric({{"cluster", cluster}}, MetricType::Counter,
                                           static_cast<double>(rt->ejectionsTotal())));
    const std::array<std::pair<const char*, const Resource*>, 4> resources = {{
        {"connections", &rt->connections()},
        {"pending", &rt->pending()},
        {"requests", &rt->requests()},
        {"retries", &rt->retries()},
    }};
    for (const auto& [name, resource] : resources) {
      active.metric.push_back(valueMetric({{"cluster", cluster}, {"resource", name}},
                                          MetricType::Gauge,
                                          static_cast<double>(resource->count())));
      limit.metric.push_back(valueMetric({{"cluster", cluster}, {"resource", name}},
                                         MetricType::Gauge, static_cast<double>(resource->max())));
    }
  }
  out.push_back(std::move(ejections));
  out.push_back(std::move(active));
  out.push_back(std::move(limit));
}

// Appends `more` to `out`, merging families of the same name and dropping empty ones.
void mergeFamilies(std::vector<MetricFamily>&& more, std::vector<MetricFamily>& out) {
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < out.size(); ++i) {
    index.emplace(out[i].name, i);
  }
  for (auto& f : more) {
    if (f.metric.empty()) {
      continue;
    }
    auto [it, inserted] = index.emplace(f.name, out.size());
    if (inserted) {
      out.push_back(std::move(f));
    } else {
      auto& target = out[it->second].metric;
      target.insert(target.end(), std::make_move_iterator(f.metric.begin()),
                    std::make_move_iterator(f.metric.end()));
    }
  }
}

} // namespace

Metrics::Metrics(std::string version, std::chrono::system_clock::time_point start)
    : registry_(std::make_shared<prometheus::Registry>()) {
  prometheus::BuildGauge()
      .Name("seawall_build_info")
      .Help("Always 1; the version label says which build is running.")
      .Register(*registry_)
      .Add({{"version", std::move(version)}})
      .Set(1);
  const auto since_epoch = std::chrono::duration<double>(start.time_since_epoch()).count();
  prometheus::BuildGauge()
      .Name("seawall_start_time_seconds")
      .Help("Process start time in seconds since the Unix epoch.")
      .Register(*registry_)
      .Add({})
      .Set(since_epoch);
}

WorkerStats& Metrics::addWorker() {
  std::lock_guard lock(mutex_);
  workers_.push_back(std::make_unique<WorkerStats>());
  return *workers_.back();
}

size_t Metrics::workerCount() const {
  std::lock_guard lock(mutex_);
  return workers_.size();
}

namespace {

void emitJobStore(const filters::async_202::JobStore& store, std::vector<MetricFamily>& out) {
  using filters::async_202::JobState;
  auto jobs = family("seawall_async_jobs", "Jobs of 202 conversion in the store now, by state.",
                     MetricType::Gauge);
  for (JobState s : {JobState::Processing, JobState::Completed, JobState::Failed}) {
    std::string state(filters::async_202::toString(s));
    std::transform(state.begin(), state.end(), state.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    jobs.metric.push_back(
        valueMetric({{"state", state}}, MetricType::Gauge, static_cast<double>(store.jobs(s))));
  }
  out.push_back(std::move(jobs));
  const filters::async_202::JobStore::Counters c = store.counters();
  auto total = family("seawall_async_jobs_total",
                      "Jobs of 202 conversion by outcome: accepted, rejected (store full), "
                      "completed, failed, result_too_large (also in failed), expired.",
                      MetricType::Counter);
  const std::array<std::pair<const char*, uint64_t>, 6> outcomes = {{
      {"accepted", c.accepted},
      {"rejected", c.rejected},
      {"completed", c.completed},
      {"failed", c.failed},
      {"result_too_large", c.result_too_large},
      {"expired", c.expired},
  }};
  for (const auto& [name, value] : outcomes) {
    total.metric.push_back(
        valueMetric({{"outcome", name}}, MetricType::Counter, static_cast<double>(value)));
  }
  out.push_back(std::move(total));
  auto bytes =
      family("seawall_async_store_bytes",
             "Bytes the job store accounts for (jobs and their results).", MetricType::Gauge);
  bytes.metric.push_back(valueMetric({}, MetricType::Gauge, static_cast<double>(store.bytes())));
  out.push_back(std::move(bytes));
}

void emitCallbacks(const std::vector<const filters::async_202::CallbackCounters*>& senders,
                   std::vector<MetricFamily>& out) {
  uint64_t delivered = 0;
  uint64_t retried = 0;
  uint64_t failed = 0;
  uint64_t refused = 0;
  for (const auto* c : senders) {
    if (c != nullptr) {
      delivered += c->delivered.value();
      retried += c->retried.value();
      failed += c->failed.value();
      refused += c->refused.value();
    }
  }
  auto f = family("seawall_callbacks_total",
                  "Callbacks of 202 jobs: delivered (2xx), retried (attempts after the first), "
                  "failed (gave up at retention), refused (URL not allowed or not usable).",
                  MetricType::Counter);
  const std::array<std::pair<const char*, uint64_t>, 4> outcomes = {
      {{"delivered", delivered}, {"retried", retried}, {"failed", failed}, {"refused", refused}}};
  for (const auto& [name, value] : outcomes) {
    f.metric.push_back(
        valueMetric({{"outcome", name}}, MetricType::Counter, static_cast<double>(value)));
  }
  out.push_back(std::move(f));
}

} // namespace

void Metrics::setCallbackCounters(CallbackCountersSource source) {
  std::lock_guard lock(mutex_);
  callbacks_ = std::move(source);
}

void Metrics::setJobStore(const filters::async_202::JobStore* store) {
  std::lock_guard lock(mutex_);
  job_store_ = store;
}

void Metrics::setClusterRuntimes(ClusterRuntimeSource source) {
  std::lock_guard lock(mutex_);
  runtimes_ = std::move(source);
}

std::vector<MetricFamily> Metrics::Collect() const {
  Totals totals;
  ClusterRuntimeSource source;
  const filters::async_202::JobStore* job_store = nullptr;
  CallbackCountersSource callbacks;
  {
    std::lock_guard lock(mutex_);
    for (const auto& shard : workers_) {
      addShard(*shard, totals);
    }
    source = runtimes_;
    job_store = job_store_;
    callbacks = callbacks_;
  }
  std::vector<ClusterRuntime*> runtimes;
  if (source) {
    runtimes = source();
  }
  std::erase(runtimes, nullptr);
  std::sort(runtimes.begin(), runtimes.end(),
            [](ClusterRuntime* a, ClusterRuntime* b) { return a->name() < b->name(); });
  runtimes.erase(std::unique(runtimes.begin(), runtimes.end(),
                             [](ClusterRuntime* a, ClusterRuntime* b) {
                               return a->name() == b->name(); // a series once, whatever the source
                             }),
                 runtimes.end());
  for (ClusterRuntime* rt : runtimes) {
    totals.resilience.try_emplace(rt->name()); // every known cluster gets its zeros
  }
  std::vector<MetricFamily> shards;
  emitShards(totals, shards);
  emitResilience(totals.resilience, shards);
  emitBreakers(runtimes, shards);
  emitClusterRuntimes(runtimes, shards);
  if (job_store != nullptr) {
    emitJobStore(*job_store, shards);
  }
  if (callbacks) {
    emitCallbacks(callbacks(), shards);
  }
  std::vector<MetricFamily> out;
  mergeFamilies(registry_->Collect(), out);
  mergeFamilies(std::move(shards), out);
  return out;
}

std::string Metrics::serialize() const { return prometheus::TextSerializer().Serialize(Collect()); }

} // namespace seawall::proxy::stats
