// The value scenarios of the resilience filters, with figures printed for the record ("SCENARIO:"
// lines): a caller through Seawall fares far better than a caller talking directly to a flaky
// upstream, and a black-holed upstream costs at most the route timeout, then almost nothing once
// the breaker opens.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "tests/harness/command.h"
#include "tests/harness/ports.h"
#include "tests/integration/proxy_test_base.h"

namespace seawall::test {
namespace {

using std::chrono::milliseconds;

struct Transfer {
  int status = 0;
  double seconds = 0; // curl's time_total
  std::string reason; // x-seawall-reason, if any
};

// `count` sequential GETs of `url` by one curl process (one keep-alive connection where possible).
std::vector<Transfer> getSequentially(const std::string& url, int count,
                                      milliseconds timeout = std::chrono::seconds(30)) {
  std::vector<std::string> argv = {"curl", "-s", "-w",
                                   "%{http_code} %{time_total} [%header{x-seawall-reason}]\\n"};
  for (int i = 0; i < count; ++i) {
    argv.insert(argv.end(), {"-o", "/dev/null", url}); // -o applies to the next URL only
  }
  const CommandResult run = runCommand(argv, timeout);
  std::vector<Transfer> out;
  std::istringstream in(run.out);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    Transfer t;
    std::string reason;
    fields >> t.status >> t.seconds >> reason;
    if (reason.size() >= 2) {
      t.reason = reason.substr(1, reason.size() - 2);
    }
    out.push_back(t);
  }
  return out;
}

double successRate(const std::vector<Transfer>& transfers) {
  if (transfers.empty()) {
    return 0;
  }
  const auto ok = std::count_if(transfers.begin(), transfers.end(), [](const Transfer& t) {
    return t.status >= 200 && t.status < 300;
  });
  return static_cast<double>(ok) / static_cast<double>(transfers.size());
}

// Nearest-rank percentile of latencies in milliseconds.
double percentileMs(std::vector<double> seconds, double p) {
  if (seconds.empty()) {
    return 0;
  }
  std::sort(seconds.begin(), seconds.end());
  const auto rank = static_cast<size_t>(
      std::max(0.0, std::ceil(p / 100.0 * static_cast<double>(seconds.size())) - 1.0));
  return seconds[std::min(rank, seconds.size() - 1)] * 1000.0;
}

class Scenario : public ProxyTest {
protected:
  void startProxy(const std::string& routes, const std::string& clusters) {
    admin_port_ = freeTcpPort();
    port_ = freeTcpPort();
    const std::string yaml = "admin: { address: 127.0.0.1:{{ADMIN_PORT}} }\n"
                             "workers: 2\n"
                             "listeners:\n"
                             "  - name: main\n"
                             "    address: 127.0.0.1:" +
                             std::to_string(port_) + "\n    routes:\n" + routes + "clusters:\n" +
                             clusters;
    ASSERT_TRUE(proxy_.start(yaml, admin_port_)) << proxy_.output();
  }
};

// A request fails through Seawall only when all 1 + max_retries attempts fail: 0.3^4 = 0.81% with
// max_retries 3 (99.19% expected success), 0.3^5 = 0.24% with 4 (99.76%). Over 300 requests the
// bounds below hold with about 99% probability for any seed; the seed makes each run repeatable.
TEST_F(Scenario, RetriesTurnA30PercentFailureRateIntoSuccess) {
  constexpr int kRequests = 300;
  struct Arm {
    int max_retries;
    double min_success;
    TestUpstream upstream;
    std::vector<Transfer> transfers;
  };
  std::array<Arm, 2> arms{{{3, 0.98, {}, {}}, {4, 0.99, {}, {}}}};
  TestUpstream direct_up;
  ASSERT_TRUE(direct_up.start({"--name", "flaky-direct", "--seed", "7"}));
  std::string routes;
  std::string clusters;
  for (Arm& arm : arms) {
    const std::string name = "flaky" + std::to_string(arm.max_retries);
    ASSERT_TRUE(arm.upstream.start({"--name", name, "--seed", "7"}));
    const std::vector<std::pair<std::string, std::string>> values = {
        {"NAME", name},
        {"MAX_RETRIES", std::to_string(arm.max_retries)},
        {"ADDRESS", arm.upstream.address()}};
    routes += fillPlaceholders(R"(      - match: { prefix: /{{NAME}}/ }
        cluster: {{NAME}}
        timeout: 5s
        retry:
          max_retries: {{MAX_RETRIES}}
          on: [5xx]
          backoff: { base: 5ms, max: 50ms }
          budget: { ratio: 100%, min_per_second: 1000 }
)",
                               values);
    clusters += fillPlaceholders(R"(  - name: {{NAME}}
    endpoints: [{{ADDRESS}}]
    limits: { max_retries: 100 }
)",
                                 values);
  }
  startProxy(routes, clusters);

  const std::vector<Transfer> direct =
      getSequentially(direct_up.url("/items?fail_ratio=0.3&fail_status=503"), kRequests);
  ASSERT_EQ(direct.size(), static_cast<size_t>(kRequests));
  const double direct_rate = successRate(direct);
  std::cout << std::fixed << std::setprecision(1) << "SCENARIO: upstream failing 30% at random, "
            << kRequests << " sequential GETs: direct success " << direct_rate * 100 << "%\n";
  EXPECT_GE(direct_rate, 0.55);
  EXPECT_LE(direct_rate, 0.85);
  for (Arm& arm : arms) {
    const std::string name = "flaky" + std::to_string(arm.max_retries);
    arm.transfers =
        getSequentially(url("/" + name + "/items?fail_ratio=0.3&fail_status=503"), kRequests);
    ASSERT_EQ(arm.transfers.size(), static_cast<size_t>(kRequests));
    const double rate = successRate(arm.transfers);
    const int64_t attempts = arm.upstream.stats()->requests_total;
    const double retries =
        metric("seawall_retries_total{cluster=\"" + name + "\",reason=\"5xx\"}").value_or(-1);
    std::cout << "SCENARIO: same upstream through Seawall (max_retries " << arm.max_retries
              << ", backoff 5ms..50ms): success " << rate * 100 << "% using " << attempts
              << " upstream attempts (" << retries << " retries)\n";
    EXPECT_GE(rate, arm.min_success) << "max_retries " << arm.max_retries;
    EXPECT_GT(rate, direct_rate);
    EXPECT_EQ(static_cast<double>(attempts - kRequests), retries);
  }
}

TEST_F(Scenario, BlackHoledUpstreamCostsTheTimeoutUntilTheBreakerOpens) {
  constexpr int kRequests = 30;
  TestUpstream up;
  ASSERT_TRUE(up.start({"--name", "dark", "--blackhole"}));
  startProxy(R"(      - match: { prefix: / }
        cluster: dark
        timeout: 200ms
)",
             "  - name: dark\n    endpoints: [" + up.address() +
                 "]\n    breaker: { window: { type: count, size: 10 }, minimum_calls: 5, "
                 "failure_rate: 50%, open_for: 30s, failure_on: [timeout] }\n");

  const std::vector<Transfer> all = getSequentially(url("/inventory/items"), kRequests);
  ASSERT_EQ(all.size(), static_cast<size_t>(kRequests));
  std::vector<double> timed_out;
  std::vector<double> rejected;
  size_t first_open = all.size();
  for (size_t i = 0; i < all.size(); ++i) {
    const Transfer& t = all[i];
    EXPECT_LE(t.seconds, 0.300) << "request " << i;
    if (t.reason == "breaker-open") {
      first_open = std::min(first_open, i);
      EXPECT_EQ(t.status, 503) << "request " << i;
      EXPECT_LT(t.seconds, 0.020) << "request " << i;
      rejected.push_back(t.seconds);
    } else {
      EXPECT_EQ(t.status, 504) << "request " << i;
      EXPECT_EQ(t.reason, "timeout-request") << "request " << i;
      timed_out.push_back(t.seconds);
    }
  }
  // The breaker opens on the 5th timeout, and stays open for every later request.
  EXPECT_EQ(first_open, 5u);
  EXPECT_EQ(rejected.size(), all.size() - first_open);
  EXPECT_EQ(metric("seawall_breaker_state{cluster=\"dark\",state=\"open\"}"), 1.0);
  EXPECT_EQ(metric("seawall_timeouts_total{cluster=\"dark\",kind=\"request\"}"),
            static_cast<double>(timed_out.size()));
  EXPECT_EQ(up.stats()->requests_total, static_cast<int64_t>(timed_out.size()));

  std::vector<double> every;
  every.reserve(all.size());
  for (const Transfer& t : all) {
    every.push_back(t.seconds);
  }
  std::cout << std::fixed << std::setprecision(1) << "SCENARIO: black-holed upstream, timeout "
            << "200ms, breaker minimum_calls 5: " << timed_out.size() << " timed out (p50 "
            << percentileMs(timed_out, 50) << "ms, max " << percentileMs(timed_out, 100)
            << "ms), then " << rejected.size() << " breaker-open (p50 "
            << percentileMs(rejected, 50) << "ms, p99 " << percentileMs(rejected, 99) << "ms, max "
            << percentileMs(rejected, 100) << "ms); all " << kRequests << ": p50 "
            << percentileMs(every, 50) << "ms, p90 " << percentileMs(every, 90) << "ms, p99 "
            << percentileMs(every, 99) << "ms, max " << percentileMs(every, 100) << "ms\n";
}

} // namespace
} // namespace seawall::test
