#include "proxy/stats/metrics.h"

#include <limits>
#include <map>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/text_serializer.h>

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

// Every shard summed, keyed by label values (std::map: series come out sorted).
struct Totals {
  std::map<std::pair<std::string, std::string>, CodeCounts> requests;
  std::map<std::string, DurationTotals> durations;
  std::map<std::string, ConnectionTotals> listeners;
  std::map<std::string, ConnectionTotals> clusters;
};

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

std::vector<MetricFamily> Metrics::Collect() const {
  Totals totals;
  {
    std::lock_guard lock(mutex_);
    for (const auto& shard : workers_) {
      addShard(*shard, totals);
    }
  }
  std::vector<MetricFamily> shards;
  emitShards(totals, shards);
  std::vector<MetricFamily> out;
  mergeFamilies(registry_->Collect(), out);
  mergeFamilies(std::move(shards), out);
  return out;
}

std::string Metrics::serialize() const { return prometheus::TextSerializer().Serialize(Collect()); }

} // namespace seawall::proxy::stats
