// The resilience series of Metrics: ClusterStats counters summed over shards (every label value,
// zeros included) and the ClusterRuntime series (breaker one-hot state, transitions,
// would-reject, ejections, limits) read at scrape time from real ClusterRuntime objects.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "proxy/stats/metrics.h"
#include "proxy/upstream/cluster_runtime.h"

namespace seawall::proxy::stats {
namespace {

using namespace std::chrono_literals;
using prometheus::ClientMetric;
using prometheus::MetricFamily;
using Labels = std::vector<ClientMetric::Label>;
using BreakerMode = filters::circuit_breaker::Mode;

const MetricFamily* findFamily(const std::vector<MetricFamily>& families, const std::string& name) {
  const MetricFamily* found = nullptr;
  for (const auto& f : families) {
    if (f.name == name) {
      EXPECT_EQ(nullptr, found) << "family twice: " << name;
      found = &f;
    }
  }
  return found;
}

const ClientMetric* findSeries(const std::vector<MetricFamily>& families, const std::string& name,
                               const Labels& labels) {
  const MetricFamily* f = findFamily(families, name);
  if (f == nullptr) {
    return nullptr;
  }
  for (const auto& m : f->metric) {
    if (m.label == labels) {
      return &m;
    }
  }
  return nullptr;
}

double counterValue(const std::vector<MetricFamily>& families, const std::string& name,
                    const Labels& labels) {
  const ClientMetric* m = findSeries(families, name, labels);
  return m == nullptr ? -1 : m->counter.value;
}

double gaugeValue(const std::vector<MetricFamily>& families, const std::string& name,
                  const Labels& labels) {
  const ClientMetric* m = findSeries(families, name, labels);
  return m == nullptr ? -1 : m->gauge.value;
}

// Series of `name` whose `cluster` label is `cluster`.
size_t seriesCount(const std::vector<MetricFamily>& families, const std::string& name,
                   const std::string& cluster) {
  const MetricFamily* f = findFamily(families, name);
  size_t n = 0;
  for (size_t i = 0; f != nullptr && i < f->metric.size(); ++i) {
    for (const auto& l : f->metric[i].label) {
      n += l.name == "cluster" && l.value == cluster ? 1 : 0;
    }
  }
  return n;
}

config::Cluster clusterConfig(const std::string& name, bool breaker) {
  config::Cluster c;
  c.name = name;
  if (breaker) {
    config::BreakerConfig b;
    b.window_calls = 10;
    b.minimum_calls = 2;
    b.failure_rate = 0.5;
    c.breaker = b;
  }
  return c;
}

class MetricsResilienceTest : public ::testing::Test {
protected:
  ClusterRuntime& add(const config::Cluster& config) {
    runtimes_.push_back(std::make_unique<ClusterRuntime>(config));
    return *runtimes_.back();
  }
  void wire() {
    metrics_.setClusterRuntimes([this] {
      std::vector<ClusterRuntime*> out;
      for (auto& rt : runtimes_) {
        out.push_back(rt.get());
      }
      return out;
    });
  }

  Metrics metrics_;
  std::vector<std::unique_ptr<ClusterRuntime>> runtimes_;
};

TEST_F(MetricsResilienceTest, ShardCountersSumOverWorkersWithEveryLabelValue) {
  WorkerStats& w1 = metrics_.addWorker();
  WorkerStats& w2 = metrics_.addWorker();
  w1.cluster("a").retry(0);
  w2.cluster("a").retry(0);
  w2.cluster("a").retry(2);
  w1.cluster("a").timeout(TimeoutKind::PerTry);
  w2.cluster("a").timeout(TimeoutKind::Request);
  w2.cluster("a").timeout(TimeoutKind::Request);
  w1.cluster("a").fallback(FallbackKind::LastGood);
  w2.cluster("a").overflow(OverflowLimit::RetryBudget);
  w1.cluster("a").overflow(OverflowLimit::MaxPending);

  auto f = metrics_.Collect();
  struct Row {
    const char* name;
    const char* label;
    const char* value;
    double expected;
  };
  const std::vector<Row> rows = {
      {"seawall_retries_total", "reason", "5xx", 2},
      {"seawall_retries_total", "reason", "reset", 1},
      {"seawall_retries_total", "reason", "gateway-error", 0},
      {"seawall_retries_total", "reason", "grpc-unavailable", 0},
      {"seawall_timeouts_total", "kind", "per-try", 1},
      {"seawall_timeouts_total", "kind", "request", 2},
      {"seawall_timeouts_total", "kind", "connect", 0},
      {"seawall_timeouts_total", "kind", "idle", 0},
      {"seawall_fallbacks_total", "kind", "last-good", 1},
      {"seawall_fallbacks_total", "kind", "static", 0},
      {"seawall_fallbacks_total", "kind", "cluster", 0},
      {"seawall_overflow_total", "limit", "retry_budget", 1},
      {"seawall_overflow_total", "limit", "max_pending", 1},
      {"seawall_overflow_total", "limit", "max_connections", 0},
      {"seawall_overflow_total", "limit", "max_requests", 0},
      {"seawall_overflow_total", "limit", "max_retries", 0},
  };
  for (const auto& r : rows) {
    EXPECT_EQ(r.expected, counterValue(f, r.name, {{"cluster", "a"}, {r.label, r.value}}))
        << r.name << " " << r.value;
  }
  EXPECT_EQ(kRetryReasonCount, seriesCount(f, "seawall_retries_total", "a"));
  EXPECT_EQ(kTimeoutKindCount, seriesCount(f, "seawall_timeouts_total", "a"));
  EXPECT_EQ(kFallbackKindCount, seriesCount(f, "seawall_fallbacks_total", "a"));
  EXPECT_EQ(kOverflowLimitCount, seriesCount(f, "seawall_overflow_total", "a"));
}

TEST_F(MetricsResilienceTest, EveryKnownClusterHasZerosFromTheStart) {
  metrics_.addWorker().cluster("shard-only"); // created, nothing counted yet
  add(clusterConfig("runtime-only", false));
  wire();
  auto f = metrics_.Collect();
  for (const char* cluster : {"shard-only", "runtime-only"}) {
    EXPECT_EQ(kRetryReasonCount, seriesCount(f, "seawall_retries_total", cluster)) << cluster;
    EXPECT_EQ(kOverflowLimitCount, seriesCount(f, "seawall_overflow_total", cluster)) << cluster;
    EXPECT_EQ(0,
              counterValue(f, "seawall_timeouts_total", {{"cluster", cluster}, {"kind", "idle"}}))
        << cluster;
  }
}

TEST_F(MetricsResilienceTest, NoRuntimeSeriesWithoutASource) {
  add(clusterConfig("a", true));
  const std::string text = metrics_.serialize();
  EXPECT_EQ(std::string::npos, text.find("seawall_breaker_state")) << text;
  EXPECT_EQ(std::string::npos, text.find("seawall_cluster_limit")) << text;
  EXPECT_EQ(std::string::npos, text.find("seawall_retries_total")) << text;
}

// The one-hot gauge in each of the five states; exactly one series is 1.
TEST_F(MetricsResilienceTest, BreakerStateIsOneHot) {
  const auto now = std::chrono::steady_clock::now();
  struct Case {
    const char* cluster;
    void (*drive)(ClusterRuntime&, std::chrono::steady_clock::time_point);
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"c-closed", [](ClusterRuntime&, std::chrono::steady_clock::time_point) {}, "closed"},
      {"c-open",
       [](ClusterRuntime& rt, std::chrono::steady_clock::time_point t) {
         rt.breaker()->onResult(t, true, 1ms);
         rt.breaker()->onResult(t, true, 1ms);
       },
       "open"},
      {"c-half-open", // opened 10s ago for 1s: the scrape's own clock moves it to half_open
       [](ClusterRuntime& rt, std::chrono::steady_clock::time_point t) {
         rt.breaker()->openFor(t - 10s, 1s);
       },
       "half_open"},
      {"c-forced",
       [](ClusterRuntime& rt, std::chrono::steady_clock::time_point) {
         rt.breaker()->setMode(BreakerMode::ForcedOpen);
       },
       "forced_open"},
      {"c-disabled",
       [](ClusterRuntime& rt, std::chrono::steady_clock::time_point) {
         rt.breaker()->setMode(BreakerMode::Disabled);
       },
       "disabled"},
  };
  for (const auto& c : cases) {
    c.drive(add(clusterConfig(c.cluster, true)), now);
  }
  wire();
  auto f = metrics_.Collect();
  for (const auto& c : cases) {
    EXPECT_EQ(ClusterRuntime::kStateCount, seriesCount(f, "seawall_breaker_state", c.cluster));
    for (const char* state : {"closed", "open", "half_open", "forced_open", "disabled"}) {
      const double expected = std::string(state) == c.expected ? 1 : 0;
      EXPECT_EQ(expected,
                gaugeValue(f, "seawall_breaker_state", {{"cluster", c.cluster}, {"state", state}}))
          << c.cluster << " " << state;
    }
  }
}

TEST_F(MetricsResilienceTest, TransitionsCountEveryPairOfDistinctStates) {
  ClusterRuntime& rt = add(clusterConfig("a", true));
  const auto now = std::chrono::steady_clock::now();
  rt.breaker()->openFor(now - 10s, 1s); // closed -> open; the scrape moves it to half_open
  wire();
  auto f = metrics_.Collect();
  EXPECT_EQ(1, counterValue(f, "seawall_breaker_transitions_total",
                            {{"cluster", "a"}, {"from", "closed"}, {"to", "open"}}));
  EXPECT_EQ(1, counterValue(f, "seawall_breaker_transitions_total",
                            {{"cluster", "a"}, {"from", "open"}, {"to", "half_open"}}));
  EXPECT_EQ(0, counterValue(f, "seawall_breaker_transitions_total",
                            {{"cluster", "a"}, {"from", "half_open"}, {"to", "closed"}}));
  EXPECT_EQ(-1, counterValue(f, "seawall_breaker_transitions_total",
                             {{"cluster", "a"}, {"from", "closed"}, {"to", "closed"}}));
  EXPECT_EQ(20u, seriesCount(f, "seawall_breaker_transitions_total", "a"));

  rt.breaker()->setMode(BreakerMode::ForcedOpen);
  rt.breaker()->setMode(BreakerMode::Normal);
  f = metrics_.Collect();
  EXPECT_EQ(1, counterValue(f, "seawall_breaker_transitions_total",
                            {{"cluster", "a"}, {"from", "half_open"}, {"to", "forced_open"}}));
  EXPECT_EQ(1, counterValue(f, "seawall_breaker_transitions_total",
                            {{"cluster", "a"}, {"from", "forced_open"}, {"to", "closed"}}));
}

TEST_F(MetricsResilienceTest, ClusterWithoutBreakerHasNoBreakerSeries) {
  add(clusterConfig("plain", false));
  wire();
  auto f = metrics_.Collect();
  EXPECT_EQ(0u, seriesCount(f, "seawall_breaker_state", "plain"));
  EXPECT_EQ(0u, seriesCount(f, "seawall_breaker_transitions_total", "plain"));
  EXPECT_EQ(0u, seriesCount(f, "seawall_breaker_would_reject_total", "plain"));
  EXPECT_EQ(0, counterValue(f, "seawall_outlier_ejections_total", {{"cluster", "plain"}}));
  EXPECT_EQ(4u, seriesCount(f, "seawall_cluster_limit", "plain"));
}

TEST_F(MetricsResilienceTest, WouldRejectCountsMetricsOnlyRejections) {
  ClusterRuntime& rt = add(clusterConfig("a", true));
  rt.breaker()->setMode(BreakerMode::MetricsOnly);
  rt.countWouldReject();
  rt.countWouldReject();
  wire();
  auto f = metrics_.Collect();
  EXPECT_EQ(2, counterValue(f, "seawall_breaker_would_reject_total", {{"cluster", "a"}}));
}

TEST_F(MetricsResilienceTest, ActiveAndLimitGaugesPerResource) {
  config::Cluster c = clusterConfig("a", false);
  c.limits = {7, 8, 9, 2};
  ClusterRuntime& rt = add(c);
  ResourceSlot c1 = ResourceSlot::tryAcquire(rt.connections());
  ResourceSlot c2 = ResourceSlot::tryAcquire(rt.connections());
  ResourceSlot r1 = ResourceSlot::tryAcquire(rt.retries());
  ASSERT_TRUE(c1 && c2 && r1);
  wire();
  auto f = metrics_.Collect();
  struct Row {
    const char* resource;
    double active;
    double limit;
  };
  for (const Row& r : std::vector<Row>{
           {"connections", 2, 7}, {"pending", 0, 8}, {"requests", 0, 9}, {"retries", 1, 2}}) {
    EXPECT_EQ(r.active,
              gaugeValue(f, "seawall_cluster_active", {{"cluster", "a"}, {"resource", r.resource}}))
        << r.resource;
    EXPECT_EQ(r.limit,
              gaugeValue(f, "seawall_cluster_limit", {{"cluster", "a"}, {"resource", r.resource}}))
        << r.resource;
  }
  c2.release();
  f = metrics_.Collect();
  EXPECT_EQ(
      1, gaugeValue(f, "seawall_cluster_active", {{"cluster", "a"}, {"resource", "connections"}}));
}

TEST_F(MetricsResilienceTest, OutlierEjectionsAreCounted) {
  config::Cluster c = clusterConfig("a", false);
  c.outlier = config::OutlierConfig{1, config::Duration(30000), 1.0};
  ClusterRuntime& rt = add(c);
  auto detector = rt.outlierDetector({"127.0.0.1:1", "127.0.0.1:2"});
  ASSERT_NE(nullptr, detector);
  const auto now = std::chrono::steady_clock::now();
  EXPECT_TRUE(detector->onResult(now, 0, true));
  EXPECT_TRUE(detector->onResult(now, 1, true));
  wire();
  auto f = metrics_.Collect();
  EXPECT_EQ(2, counterValue(f, "seawall_outlier_ejections_total", {{"cluster", "a"}}));
}

TEST_F(MetricsResilienceTest, SeriesSortedByClusterNullAndDuplicateRuntimesSkipped) {
  add(clusterConfig("b", true));
  add(clusterConfig("a", true));
  metrics_.setClusterRuntimes([this] {
    return std::vector<ClusterRuntime*>{runtimes_[0].get(), nullptr, runtimes_[1].get(),
                                        runtimes_[0].get()};
  });
  const std::string text = metrics_.serialize();
  const size_t a = text.find("seawall_breaker_state{cluster=\"a\"");
  const size_t b = text.find("seawall_breaker_state{cluster=\"b\"");
  ASSERT_NE(std::string::npos, a) << text;
  ASSERT_NE(std::string::npos, b) << text;
  EXPECT_LT(a, b);
  const std::string b_closed = "seawall_breaker_state{cluster=\"b\",state=\"closed\"} 1\n";
  EXPECT_EQ(text.rfind(b_closed), text.find(b_closed)) << text; // once
  EXPECT_NE(std::string::npos,
            text.find("seawall_breaker_state{cluster=\"a\",state=\"closed\"} 1\n"));
  EXPECT_NE(std::string::npos,
            text.find("seawall_cluster_limit{cluster=\"b\",resource=\"requests\"} 1024\n"));
}

} // namespace
} // namespace seawall::proxy::stats
