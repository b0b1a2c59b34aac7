// Circuit breaker of a cluster (`breaker:`): it opens on the failure rate or the slow-call rate of
// its window, rejects with 503 `breaker-open` without calling the upstream, probes after
// `open_for` and closes or reopens, opens for a Retry-After, and in `metrics_only` mode only
// counts. Two workers: the breaker state is shared, whichever worker a connection lands on.
#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "tests/harness/command.h"
#include "tests/integration/proxy_test_base.h"

namespace seawall::test {
namespace {

using std::chrono::milliseconds;

class Breaker : public ProxyTest {
protected:
  // `breaker` is the YAML map under the cluster's `breaker:` key (6-space indent).
  void startWith(const std::string& breaker) {
    ASSERT_TRUE(h1_.start({"--name", "svc"}));
    admin_port_ = freeTcpPort();
    port_ = freeTcpPort();
    std::string yaml = "admin: { address: 127.0.0.1:{{ADMIN_PORT}} }\n"
                       "workers: 2\n"
                       "listeners:\n"
                       "  - name: main\n"
                       "    address: 127.0.0.1:" +
                       std::to_string(port_) +
                       "\n"
                       "    routes:\n"
                       "      - match: { prefix: / }\n"
                       "        cluster: svc\n"
                       "clusters:\n"
                       "  - name: svc\n"
                       "    endpoints: [" +
                       h1_.address() +
                       "]\n"
                       "    breaker:\n" +
                       breaker;
    ASSERT_TRUE(proxy_.start(yaml, admin_port_)) << proxy_.output();
  }

  int64_t upstreamRequests() const {
    auto s = h1_.stats();
    return s ? s->requests_total : -1;
  }
  static std::string state(const std::string& s) {
    return R"(seawall_breaker_state{cluster="svc",state=")" + s + R"("})";
  }
  static std::string transition(const std::string& from, const std::string& to) {
    return R"(seawall_breaker_transitions_total{cluster="svc",from=")" + from + R"(",to=")" + to +
           R"("})";
  }
  // Sends `n` requests to `path`, each expected to get `status` from the upstream (not rejected).
  void expectPassedThrough(const std::string& path, int n, int status) {
    for (int i = 0; i < n; ++i) {
      auto r = curl({}, url(path));
      ASSERT_EQ(r.status, status) << path << " #" << i << ": " << r.err;
      ASSERT_FALSE(r.header("x-seawall-reason"))
          << path << " #" << i << ": " << *r.header("x-seawall-reason");
    }
  }
  void expectRejected(const std::string& path) {
    auto r = curl({}, url(path));
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.header("x-seawall-reason").value_or(""), "breaker-open");
  }
};

constexpr const char* kCountWindow = "      window: { type: count, size: 4 }\n"
                                     "      minimum_calls: 4\n"
                                     "      failure_rate: 50%\n";

TEST_F(Breaker, OpensAfterFailuresAndStopsCallingTheUpstream) {
  startWith(std::string(kCountWindow) + "      open_for: 5s\n      half_open_calls: 1\n");
  ASSERT_TRUE(metricBecomes(state("closed"), 1));
  // Three failures (503 and resets): under minimum_calls, still closed.
  expectPassedThrough("/a?status=503", 1, 503);
  auto reset = curl({}, url("/a?reset=before_headers"));
  EXPECT_EQ(reset.status, 502);
  EXPECT_EQ(reset.header("x-seawall-reason").value_or(""), "upstream-reset");
  expectPassedThrough("/a?status=503", 1, 503);
  EXPECT_TRUE(metricBecomes(state("closed"), 1));
  EXPECT_TRUE(metricBecomes(transition("closed", "open"), 0));
  // The fourth failure trips it (4 calls, 100% failed >= 50%).
  reset = curl({}, url("/a?reset=before_headers"));
  EXPECT_EQ(reset.status, 502);
  ASSERT_TRUE(metricBecomes(state("open"), 1));
  EXPECT_EQ(metric(state("closed")), 0);
  EXPECT_EQ(metric(transition("closed", "open")), 1);
  const int64_t seen = upstreamRequests();
  for (int i = 0; i < 5; ++i) {
    expectRejected("/a");
  }
  // HTTP/2 clients are rejected the same way.
  auto h2 = curlH2({}, url("/a"));
  EXPECT_EQ(h2.status, 503);
  EXPECT_EQ(h2.header("x-seawall-reason").value_or(""), "breaker-open");
  EXPECT_EQ(upstreamRequests(), seen) << "an open breaker must not call the upstream";
  EXPECT_TRUE(
      metricBecomes(R"(seawall_requests_total{listener="main",cluster="svc",code="503"})", 8));
  EXPECT_EQ(metric(transition("closed", "open")), 1);
  EXPECT_EQ(metric(state("open")), 1);
}

TEST_F(Breaker, SuccessfulProbesCloseItAfterOpenFor) {
  startWith(std::string(kCountWindow) + "      open_for: 800ms\n      half_open_calls: 2\n");
  expectPassedThrough("/a?status=503", 4, 503);
  ASSERT_TRUE(metricBecomes(transition("closed", "open"), 1));
  expectRejected("/a");
  const int64_t seen = upstreamRequests();
  std::this_thread::sleep_for(milliseconds(950));
  // Two probes, both good: closed again, with an empty window.
  expectPassedThrough("/a", 2, 200);
  EXPECT_EQ(upstreamRequests(), seen + 2);
  EXPECT_TRUE(metricBecomes(state("closed"), 1));
  EXPECT_EQ(metric(state("open")), 0);
  EXPECT_EQ(metric(state("half_open")), 0);
  EXPECT_EQ(metric(transition("open", "half_open")), 1);
  EXPECT_EQ(metric(transition("half_open", "closed")), 1);
  EXPECT_EQ(metric(transition("half_open", "open")), 0);
  // Closed with an empty window: three failures (under minimum_calls) do not trip it, where the
  // four failures it opened on would have.
  expectPassedThrough("/a?status=503", 3, 503);
  EXPECT_TRUE(metricBecomes(state("closed"), 1));
  EXPECT_EQ(metric(transition("closed", "open")), 1);
}

TEST_F(Breaker, FailingProbeReopensIt) {
  startWith(std::string(kCountWindow) + "      open_for: 800ms\n      half_open_calls: 2\n");
  expectPassedThrough("/a?status=503", 4, 503);
  ASSERT_TRUE(metricBecomes(transition("closed", "open"), 1));
  std::this_thread::sleep_for(milliseconds(950));
  const int64_t seen = upstreamRequests();
  // The probe reaches the upstream and fails: open again at once.
  expectPassedThrough("/a?status=503", 1, 503);
  EXPECT_EQ(upstreamRequests(), seen + 1);
  expectRejected("/a");
  EXPECT_EQ(upstreamRequests(), seen + 1);
  EXPECT_EQ(metric(transition("open", "half_open")), 1);
  EXPECT_EQ(metric(transition("half_open", "open")), 1);
  EXPECT_EQ(metric(transition("half_open", "closed")), 0);
  // Reopened for open_for again: then good probes close it.
  std::this_thread::sleep_for(milliseconds(950));
  expectPassedThrough("/a", 2, 200);
  EXPECT_TRUE(metricBecomes(state("closed"), 1));
  EXPECT_EQ(metric(transition("half_open", "closed")), 1);
}

TEST_F(Breaker, SlowCallRateTripsIt) {
  // Failures alone never trip (failure_rate 100% of 200s is 0%); slow calls do.
  startWith("      window: { type: count, size: 4 }\n"
            "      minimum_calls: 4\n"
            "      failure_rate: 100%\n"
            "      slow_call: { duration: 100ms, rate: 50% }\n"
            "      open_for: 5s\n");
  expectPassedThrough("/fast", 2, 200);
  expectPassedThrough("/slow?delay=250", 1, 200);
  EXPECT_TRUE(metricBecomes(state("closed"), 1)); // 3 calls < minimum_calls
  expectPassedThrough("/slow?delay=250", 1, 200); // 2 slow of 4: 50% >= 50%
  ASSERT_TRUE(metricBecomes(state("open"), 1));
  EXPECT_EQ(metric(transition("closed", "open")), 1);
  const int64_t seen = upstreamRequests();
  expectRejected("/fast");
  EXPECT_EQ(upstreamRequests(), seen);
  auto breakers = proxy_.admin("GET", "/breakers");
  ASSERT_TRUE(breakers);
  EXPECT_NE(breakers->body.find(R"("slow_rate":0.5)"), std::string::npos) << breakers->body;
}

TEST_F(Breaker, RetryAfterOpensItForThatLong) {
  // minimum_calls far above what the test sends: only the Retry-After can open it.
  startWith("      window: { type: count, size: 100 }\n"
            "      minimum_calls: 100\n"
            "      open_for: 30s\n"
            "      half_open_calls: 1\n"
            "      open_on_retry_after: true\n");
  expectPassedThrough("/a?status=503", 2, 503); // a 503 without Retry-After: still closed
  EXPECT_TRUE(metricBecomes(state("closed"), 1));
  auto first = curl({}, url("/a?status=503&retry_after=1"));
  const auto opened = std::chrono::steady_clock::now();
  ASSERT_EQ(first.status, 503);
  EXPECT_EQ(first.header("retry-after").value_or(""), "1");
  EXPECT_FALSE(first.header("x-seawall-reason"));
  expectRejected("/a");
  EXPECT_EQ(metric(transition("closed", "open")), 1);
  const int64_t seen = upstreamRequests();
  // Poll (rejections never reach the upstream) until a request is admitted again.
  auto admitted_after = milliseconds::max();
  for (int i = 0; i < 60; ++i) {
    auto r = curl({}, url("/a"));
    if (r.status == 200) {
      admitted_after =
          std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - opened);
      break;
    }
    ASSERT_EQ(r.header("x-seawall-reason").value_or(""), "breaker-open") << r.status;
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_GE(admitted_after, milliseconds(850)) << "Retry-After: 1 opens it for about 1s";
  EXPECT_LE(admitted_after, milliseconds(2000)) << "open for Retry-After, not for open_for (30s)";
  EXPECT_EQ(upstreamRequests(), seen + 1);
  // The admitted request was the single half-open probe, and it succeeded.
  EXPECT_TRUE(metricBecomes(state("closed"), 1));
  EXPECT_EQ(metric(transition("half_open", "closed")), 1);
}

TEST_F(Breaker, MetricsOnlyCountsButLetsEverythingThrough) {
  startWith(std::string(kCountWindow) + "      open_for: 5s\n      mode: metrics_only\n");
  expectPassedThrough("/a?status=503", 4, 503);
  // The state machine opened (and says so), but every call still reaches the upstream.
  ASSERT_TRUE(metricBecomes(state("open"), 1));
  EXPECT_EQ(metric(transition("closed", "open")), 1);
  EXPECT_EQ(metric(R"(seawall_breaker_would_reject_total{cluster="svc"})"), 0);
  const int64_t seen = upstreamRequests();
  expectPassedThrough("/a", 3, 200);
  expectPassedThrough("/a?status=503", 2, 503);
  EXPECT_EQ(upstreamRequests(), seen + 5);
  EXPECT_TRUE(metricBecomes(R"(seawall_breaker_would_reject_total{cluster="svc"})", 5));
  EXPECT_EQ(metric(state("open")), 1);
  auto breakers = proxy_.admin("GET", "/breakers");
  ASSERT_TRUE(breakers);
  EXPECT_NE(breakers->body.find(R"("mode":"metrics_only")"), std::string::npos) << breakers->body;
}

TEST_F(Breaker, MetricsPassPromtool) {
  startWith(std::string(kCountWindow) + "      open_for: 5s\n");
  expectPassedThrough("/a?status=503", 4, 503);
  expectRejected("/a");
  ASSERT_TRUE(metricBecomes(state("open"), 1));
  auto reply = proxy_.admin("GET", "/metrics");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200);
  for (const char* family : {"seawall_breaker_state", "seawall_breaker_transitions_total",
                             "seawall_breaker_would_reject_total", "seawall_overflow_total"}) {
    EXPECT_NE(reply->body.find(std::string("# TYPE ") + family + " "), std::string::npos) << family;
  }
  if (runCommand({"sh", "-c", "command -v promtool"}).exit_code != 0) {
    GTEST_SKIP() << "promtool is not installed (Debian package prometheus): NOT CHECKED";
  }
  auto check = runCommand({"promtool", "check", "metrics"}, std::chrono::seconds(20), reply->body);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

} // namespace
} // namespace seawall::test
