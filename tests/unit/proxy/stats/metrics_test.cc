#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>

#include "proxy/stats/metrics.h"
#include "proxy/upstream/cluster_runtime.h"

namespace seawall::proxy::stats {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using Labels = std::vector<ClientMetric::Label>;

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

TEST(MetricsTest, CountersFromTwoShardsSum) {
  Metrics metrics("1.0.0");
  WorkerStats& w1 = metrics.addWorker();
  WorkerStats& w2 = metrics.addWorker();
  EXPECT_EQ(2u, metrics.workerCount());
  w1.requests("in", "a").record(200, 0.01);
  w2.requests("in", "a").record(200, 0.01);
  w2.requests("in", "a").record(200, 0.01);
  w2.requests("in", "a").record(503, 0.01);
  w1.listener("in").connectionOpened();
  w2.listener("in").connectionOpened();
  w2.listener("in").connectionOpened();
  w2.listener("in").connectionClosed();
  w1.listener("in").rejected("bad-request");
  w2.listener("in").rejected("bad-request");
  w1.cluster("a").upstreamConnectionOpened();
  w2.cluster("a").upstreamConnectionOpened();
  w1.cluster("a").upstreamFailure("reset");
  w2.cluster("a").upstreamFailure("reset");

  auto f = metrics.Collect();
  EXPECT_EQ(3, counterValue(f, "seawall_requests_total",
                            {{"listener", "in"}, {"cluster", "a"}, {"code", "200"}}));
  EXPECT_EQ(1, counterValue(f, "seawall_requests_total",
                            {{"listener", "in"}, {"cluster", "a"}, {"code", "503"}}));
  EXPECT_EQ(3, counterValue(f, "seawall_downstream_connections_total", {{"listener", "in"}}));
  EXPECT_EQ(2, gaugeValue(f, "seawall_downstream_connections", {{"listener", "in"}}));
  EXPECT_EQ(2, counterValue(f, "seawall_downstream_rejected_total",
                            {{"listener", "in"}, {"reason", "bad-request"}}));
  EXPECT_EQ(2, counterValue(f, "seawall_upstream_connections_total", {{"cluster", "a"}}));
  EXPECT_EQ(2, gaugeValue(f, "seawall_upstream_connections", {{"cluster", "a"}}));
  EXPECT_EQ(2, counterValue(f, "seawall_upstream_failures_total",
                            {{"cluster", "a"}, {"reason", "reset"}}));
}

TEST(MetricsTest, HistogramIsCumulativeWithSumAndCount) {
  Metrics metrics;
  WorkerStats& w1 = metrics.addWorker();
  WorkerStats& w2 = metrics.addWorker();
  w1.requests("in", "a").record(200, 0.0004); // le=0.0005
  w2.requests("in", "a").record(200, 0.003);  // le=0.005
  w2.requests("out", "a").record(500, 0.003); // le=0.005, other listener, same cluster
  w1.requests("in", "a").record(200, 100);    // +Inf only

  auto f = metrics.Collect();
  const ClientMetric* m = findSeries(f, "seawall_request_duration_seconds", {{"cluster", "a"}});
  ASSERT_NE(nullptr, m);
  const auto& h = m->histogram;
  ASSERT_EQ(kDurationBuckets.size() + 1, h.bucket.size());
  const std::vector<uint64_t> expected = {1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4};
  for (size_t i = 0; i < h.bucket.size(); ++i) {
    EXPECT_EQ(expected[i], h.bucket[i].cumulative_count) << "bucket " << i;
    if (i < kDurationBuckets.size()) {
      EXPECT_EQ(kDurationBuckets[i], h.bucket[i].upper_bound);
    } else {
      EXPECT_TRUE(std::isinf(h.bucket[i].upper_bound));
    }
  }
  EXPECT_EQ(4u, h.sample_count);
  EXPECT_DOUBLE_EQ(0.0004 + 0.003 + 0.003 + 100, h.sample_sum);

  const std::string text = metrics.serialize();
  EXPECT_NE(std::string::npos,
            text.find("seawall_request_duration_seconds_bucket{cluster=\"a\",le=\"0.005\"} 3\n"));
  EXPECT_NE(std::string::npos,
            text.find("seawall_request_duration_seconds_bucket{cluster=\"a\",le=\"+Inf\"} 4\n"));
  EXPECT_NE(std::string::npos,
            text.find("seawall_request_duration_seconds_count{cluster=\"a\"} 4\n"));
}

size_t countOf(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

TEST(MetricsTest, FamiliesAppearOnceWithEveryLabelSet) {
  Metrics metrics;
  WorkerStats& w1 = metrics.addWorker();
  WorkerStats& w2 = metrics.addWorker();
  w1.requests("in", "a").record(200, 0.01);
  w2.requests("in", "b").record(200, 0.01);
  w2.requests("out", "").record(404, 0.01);
  w1.listener("in").connectionOpened();
  w2.listener("out").connectionOpened();
  w1.cluster("a").upstreamFailure("overflow");
  w2.cluster("b").upstreamFailure("timeout");

  const std::string text = metrics.serialize();
  for (const char* name :
       {"seawall_requests_total", "seawall_request_duration_seconds",
        "seawall_downstream_connections_total", "seawall_downstream_connections",
        "seawall_upstream_failures_total", "seawall_upstream_connections_total",
        "seawall_upstream_connections", "seawall_build_info", "seawall_start_time_seconds"}) {
    EXPECT_EQ(1u, countOf(text, std::string("# TYPE ") + name + " ")) << name;
    EXPECT_EQ(1u, countOf(text, std::string("# HELP ") + name + " ")) << name;
  }
  EXPECT_NE(std::string::npos,
            text.find("seawall_requests_total{listener=\"in\",cluster=\"a\",code=\"200\"} 1\n"));
  EXPECT_NE(std::string::npos,
            text.find("seawall_requests_total{listener=\"in\",cluster=\"b\",code=\"200\"} 1\n"));
  EXPECT_NE(
      std::string::npos,
      text.find("seawall_requests_total{listener=\"out\",cluster=\"none\",code=\"404\"} 1\n"));
  EXPECT_EQ(3u, countOf(text, "seawall_request_duration_seconds_count{"));
  EXPECT_EQ(2u, countOf(text, "seawall_downstream_connections_total{"));
  EXPECT_EQ(2u, countOf(text, "seawall_upstream_failures_total{"));
}

TEST(MetricsTest, OnlyCreatedSeriesAreEmitted) {
  Metrics metrics;
  WorkerStats& w = metrics.addWorker();
  std::string text = metrics.serialize();
  EXPECT_EQ(std::string::npos, text.find("seawall_requests_total")) << text;
  EXPECT_EQ(std::string::npos, text.find("seawall_downstream_rejected_total")) << text;

  w.listener("in").connectionOpened();
  w.cluster("a").upstreamConnectionOpened();
  text = metrics.serialize();
  EXPECT_NE(std::string::npos, text.find("seawall_downstream_connections{listener=\"in\"} 1\n"));
  EXPECT_EQ(std::string::npos, text.find("seawall_downstream_rejected_total")) << text;
  EXPECT_EQ(std::string::npos, text.find("seawall_upstream_failures_total")) << text;
  EXPECT_EQ(std::string::npos, text.find("seawall_requests_total")) << text;
  w.requests("in", "a"); // created but nothing recorded yet: no code series
  EXPECT_EQ(std::string::npos, metrics.serialize().find("seawall_requests_total{"));
}

TEST(MetricsTest, BuildInfoStartTimeAndRegistryMetrics) {
  const auto start = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  Metrics metrics("9.8.7", start);
  auto& reloads = prometheus::BuildCounter()
                      .Name("seawall_reloads_total")
                      .Help("Config reloads.")
                      .Register(metrics.registry())
                      .Add({{"result", "ok"}});
  reloads.Increment(2);
  auto f = metrics.Collect();
  EXPECT_EQ(1, gaugeValue(f, "seawall_build_info", {{"version", "9.8.7"}}));
  EXPECT_EQ(1700000000, gaugeValue(f, "seawall_start_time_seconds", {}));
  EXPECT_EQ(2, counterValue(f, "seawall_reloads_total", {{"result", "ok"}}));
}

// One writer thread per shard and a scraper thread, all at once. Writers keep going until the
// scraper has scraped kMinScrapes times (so scrapes overlap writes), within bounded iterations.
// Run under -fsanitize=thread to check the single-writer/scraper protocol.
TEST(MetricsTest, ConcurrentWritersAndScraperAgreeAtTheEnd) {
  constexpr int kMinIterations = 20000;
  constexpr int kMaxIterations = 5000000;
  constexpr int kMinScrapes = 20;
  constexpr int kMaxScrapes = 100000;
  Metrics metrics;
  WorkerStats& w1 = metrics.addWorker();
  WorkerStats& w2 = metrics.addWorker();
  std::atomic<int> writers_done{0};
  std::atomic<int> scrapes{0};

  auto write = [&](WorkerStats& w) {
    RequestStats& r = w.requests("in", "a");
    ListenerStats& l = w.listener("in");
    int i = 0;
    for (; i < kMaxIterations && (i < kMinIterations || scrapes.load() < kMinScrapes); ++i) {
      l.connectionOpened();
      r.record(i % 2 == 0 ? 200 : 503, 0.001);
      w.cluster("c" + std::to_string(i % 50)).upstreamFailure("reset"); // map grows while scraped
      l.connectionClosed();
    }
    writers_done.fetch_add(1);
    return i;
  };
  int n1 = 0;
  int n2 = 0;
  std::thread t1([&] { n1 = write(w1); });
  std::thread t2([&] { n2 = write(w2); });

  double last_ok = 0;
  bool monotonic = true;
  std::string first_drop; // for the failure message
  bool gauge_in_range = true;
  std::thread scraper([&] {
    while (writers_done.load() < 2 && scrapes.load() < kMaxScrapes) {
      auto f = metrics.Collect();
      const double ok = counterValue(f, "seawall_requests_total",
                                     {{"listener", "in"}, {"cluster", "a"}, {"code", "200"}});
      if (ok < last_ok && monotonic) {
        first_drop = std::to_string(ok) + " after " + std::to_string(last_ok);
      }
      monotonic = monotonic && ok >= last_ok;
      last_ok = ok;
      const double open = gaugeValue(f, "seawall_downstream_connections", {{"listener", "in"}});
      gauge_in_range = gauge_in_range && open <= 2; // at most one open per writer
      scrapes.fetch_add(1);
    }
  });
  t1.join();
  t2.join();
  scraper.join();
  EXPECT_TRUE(monotonic) << first_drop;
  EXPECT_TRUE(gauge_in_range);
  EXPECT_GE(scrapes.load(), 1);
  ASSERT_GE(n1, kMinIterations);
  ASSERT_GE(n2, kMinIterations);

  auto f = metrics.Collect();
  const int even_iterations = (n1 + 1) / 2 + (n2 + 1) / 2; // code 200
  const int odd_iterations = n1 / 2 + n2 / 2;              // code 503
  const auto evens = static_cast<double>(even_iterations);
  const auto odds = static_cast<double>(odd_iterations);
  EXPECT_EQ(evens, counterValue(f, "seawall_requests_total",
                                {{"listener", "in"}, {"cluster", "a"}, {"code", "200"}}));
  EXPECT_EQ(odds, counterValue(f, "seawall_requests_total",
                               {{"listener", "in"}, {"cluster", "a"}, {"code", "503"}}));
  EXPECT_EQ(n1 + n2, counterValue(f, "seawall_downstream_connections_total", {{"listener", "in"}}));
  EXPECT_EQ(0, gaugeValue(f, "seawall_downstream_connections", {{"listener", "in"}}));
  const ClientMetric* h = findSeries(f, "seawall_request_duration_seconds", {{"cluster", "a"}});
  ASSERT_NE(nullptr, h);
  EXPECT_EQ(static_cast<uint64_t>(n1 + n2), h->histogram.sample_count);
  EXPECT_NEAR((n1 + n2) * 0.001, h->histogram.sample_sum, 1e-6 * (n1 + n2));
  double failures = 0;
  for (int c = 0; c < 50; ++c) {
    failures += counterValue(f, "seawall_upstream_failures_total",
                             {{"cluster", "c" + std::to_string(c)}, {"reason", "reset"}});
  }
  EXPECT_EQ(n1 + n2, failures);
}

// std::system is not thread-safe: these run on the test's only thread.
bool promtoolOnPath() {
  return std::system( // NOLINT(concurrency-mt-unsafe)
             "command -v promtool >/dev/null 2>&1") == 0;
}

TEST(MetricsTest, TextPassesPromtoolCheckMetrics) {
  if (!promtoolOnPath()) {
    GTEST_SKIP() << "\n*** promtool NOT FOUND on PATH: the exposition format is NOT checked. ***\n"
                 << "*** Install it with: apt-get install -y prometheus                      ***";
  }
  Metrics metrics("0.1.0");
  WorkerStats& w1 = metrics.addWorker();
  WorkerStats& w2 = metrics.addWorker();
  w1.requests("in", "a").record(200, 0.02);
  w2.requests("in", "").record(404, 0.0001);
  w2.requests("in", "a").record(999, 3);
  w1.listener("in").connectionOpened();
  w2.listener("in").rejected("header-too-large");
  w1.cluster("a").upstreamConnectionOpened();
  w2.cluster("a").upstreamFailure("connect-failure");
  w1.cluster("a").retry(1);
  w2.cluster("a").timeout(TimeoutKind::Connect);
  w2.cluster("a").fallback(FallbackKind::Static);
  w1.cluster("a").overflow(OverflowLimit::MaxRequests);
  config::Cluster with_breaker;
  with_breaker.name = "a";
  with_breaker.breaker = config::BreakerConfig{};
  with_breaker.outlier = config::OutlierConfig{};
  config::Cluster plain;
  plain.name = "b";
  ClusterRuntime a(with_breaker);
  ClusterRuntime b(plain);
  a.breaker()->setMode(filters::circuit_breaker::Mode::ForcedOpen);
  a.countWouldReject();
  ResourceSlot slot = ResourceSlot::tryAcquire(b.requests());
  metrics.setClusterRuntimes([&] { return std::vector<ClusterRuntime*>{&a, &b}; });
  const std::string text = metrics.serialize();
  for (const char* name :
       {"seawall_retries_total", "seawall_timeouts_total", "seawall_fallbacks_total",
        "seawall_overflow_total", "seawall_breaker_state", "seawall_breaker_transitions_total",
        "seawall_breaker_would_reject_total", "seawall_outlier_ejections_total",
        "seawall_cluster_active", "seawall_cluster_limit"}) {
    EXPECT_EQ(1u, countOf(text, std::string("# TYPE ") + name + " ")) << name;
  }

  const std::string dir = ::testing::TempDir();
  const std::string in = dir + "/seawall_metrics_" + std::to_string(::getpid()) + ".txt";
  const std::string out = in + ".out";
  {
    std::ofstream file(in);
    file << text;
  }
  const std::string cmd = "promtool check metrics < '" + in + "' > '" + out + "' 2>&1";
  const int rc = std::system(cmd.c_str()); // NOLINT(concurrency-mt-unsafe)
  std::stringstream report;
  report << std::ifstream(out).rdbuf();
  std::remove(in.c_str());
  std::remove(out.c_str());
  EXPECT_EQ(0, rc) << "promtool says:\n" << report.str() << "\nfor:\n" << text;
}

} // namespace
} // namespace seawall::proxy::stats
