// Cluster concurrency limits (`limits:`, Envoy's thresholds): an attempt over `max_requests`, a
// request that would wait beyond `max_pending`, or one that needs a connection over
// `max_connections` with none of its pool's to wait for, is answered 503
// `x-seawall-reason: overflow-<limit>` without reaching the upstream, and counted in
// seawall_overflow_total{limit}. Semantics, from proxy/upstream/connection_pool.h and
// filters/concurrency_limits/limits_filter.h: a request that must wait for a connection takes a
// max_pending slot; a connection takes a max_connections slot; with none left the request waits
// for one of its pool's connections, or fails when that pool has none. One worker, so the
// order of events is exact.
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/harness/json_lite.h"
#include "tests/harness/process.h"
#include "tests/integration/proxy_test_base.h"

namespace seawall::test {
namespace {

using std::chrono::milliseconds;

// Every "arrival_ms" of a /__requests log, in order.
std::vector<int64_t> arrivals(const std::string& log) {
  std::vector<int64_t> out;
  const std::string key = "\"arrival_ms\":";
  for (size_t at = log.find(key); at != std::string::npos; at = log.find(key, at + 1)) {
    if (auto v = jsonNumber(std::string_view(log).substr(at), "arrival_ms")) {
      out.push_back(*v);
    }
  }
  return out;
}

class Limits : public ProxyTest {
protected:
  // `limits` is the flow map of the cluster's `limits:`; `endpoints` its endpoint list.
  void startWith(const std::string& limits, const std::string& endpoints) {
    admin_port_ = freeTcpPort();
    port_ = freeTcpPort();
    std::string yaml = "admin: { address: 127.0.0.1:{{ADMIN_PORT}} }\n"
                       "workers: 1\n"
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
                       "    protocol: http1\n"
                       "    load_balancing: round_robin\n"
                       "    endpoints: [" +
                       endpoints +
                       "]\n"
                       "    limits: " +
                       limits + "\n";
    ASSERT_TRUE(proxy_.start(yaml, admin_port_)) << proxy_.output();
  }
  static std::string overflow(const std::string& limit) {
    return R"(seawall_overflow_total{cluster="svc",limit=")" + limit + R"("})";
  }
  static std::string active(const std::string& resource) {
    return R"(seawall_cluster_active{cluster="svc",resource=")" + resource + R"("})";
  }
  // A curl in the background; its status line and reason go to stdout.
  std::unique_ptr<ChildProcess> background(const std::string& path) const {
    auto c = std::make_unique<ChildProcess>();
    EXPECT_TRUE(c->start({"curl", "-s", "-o", "/dev/null", "--max-time", "10", "-w",
                          "%{http_code} %{header_json}", url(path)}));
    return c;
  }
  static int backgroundStatus(ChildProcess& c) {
    if (!c.waitExit(std::chrono::seconds(10))) {
      return -1;
    }
    std::string out = c.output();
    return out.size() >= 3 ? std::stoi(out.substr(0, 3)) : 0;
  }
};

TEST_F(Limits, MaxRequestsOverflows) {
  ASSERT_TRUE(h1_.start({"--name", "svc"}));
  startWith("{ max_requests: 1 }", h1_.address());
  EXPECT_EQ(metric(R"(seawall_cluster_limit{cluster="svc",resource="requests"})"), 1);
  auto slow = background("/slow?delay=800");
  ASSERT_TRUE(h1_.waitForRequests(1, std::chrono::seconds(5)));
  ASSERT_TRUE(metricBecomes(active("requests"), 1));
  // The second concurrent request finds the only slot taken: refused at once, not sent.
  auto second = curl({}, url("/fast"));
  EXPECT_EQ(second.status, 503);
  EXPECT_EQ(second.header("x-seawall-reason").value_or(""), "overflow-max_requests");
  EXPECT_LT(second.elapsed, milliseconds(600)) << "an overflow does not wait for the slot";
  EXPECT_EQ(backgroundStatus(*slow), 200) << slow->allOutput();
  EXPECT_EQ(h1_.stats()->requests_total, 1);
  EXPECT_EQ(h1_.requestCount("/fast"), 0U);
  EXPECT_TRUE(metricBecomes(overflow("max_requests"), 1));
  EXPECT_EQ(metric(overflow("max_pending")), 0);
  EXPECT_EQ(metric(overflow("max_connections")), 0);
  EXPECT_TRUE(
      metricBecomes(R"(seawall_requests_total{listener="main",cluster="svc",code="503"})", 1));
  // The slot came back with the first response.
  EXPECT_TRUE(metricBecomes(active("requests"), 0));
  EXPECT_EQ(curl({}, url("/fast")).status, 200);
  EXPECT_EQ(metric(overflow("max_requests")), 1);
}

TEST_F(Limits, MaxPendingQueuesOneAndRefusesTheNext) {
  ASSERT_TRUE(h1_.start({"--name", "svc"}));
  startWith("{ max_connections: 1, max_pending: 1 }", h1_.address());
  // First: gets the only connection.
  auto first = background("/one?delay=800");
  ASSERT_TRUE(h1_.waitForRequests(1, std::chrono::seconds(5)));
  ASSERT_TRUE(metricBecomes(active("connections"), 1));
  // Second: no connection free and none may be opened: it waits, holding the pending slot.
  auto second = background("/two?delay=200");
  ASSERT_TRUE(metricBecomes(active("pending"), 1));
  // Third: no pending slot left: refused at once.
  auto third = curl({}, url("/three"));
  EXPECT_EQ(third.status, 503);
  EXPECT_EQ(third.header("x-seawall-reason").value_or(""), "overflow-max_pending");
  EXPECT_LT(third.elapsed, milliseconds(600));
  EXPECT_EQ(backgroundStatus(*first), 200) << first->allOutput();
  EXPECT_EQ(backgroundStatus(*second), 200) << second->allOutput();
  // The waiting request went out on the same connection once the first response was done.
  auto stats = h1_.stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->requests_total, 2);
  EXPECT_EQ(stats->connections_total, 1);
  EXPECT_EQ(h1_.requestCount("/three"), 0U);
  auto times = arrivals(h1_.requests());
  ASSERT_EQ(times.size(), 2U) << h1_.requests();
  EXPECT_GE(times[1] - times[0], 750) << "the second request waited for the first to finish";
  EXPECT_TRUE(metricBecomes(overflow("max_pending"), 1));
  EXPECT_EQ(metric(overflow("max_requests")), 0);
  EXPECT_TRUE(metricBecomes(active("pending"), 0));
  EXPECT_TRUE(metricBecomes(active("connections"), 1)) << "the connection stays pooled";
}

// docs/metrics.md: seawall_overflow_total counts "attempts or retries refused by a limit". A
// request that waits for one of its pool's connections at max_connections is not refused.
TEST_F(Limits, QueuedRequestIsNotAConnectionOverflow) {
  ASSERT_TRUE(h1_.start({"--name", "svc"}));
  startWith("{ max_connections: 1, max_pending: 1 }", h1_.address());
  auto first = background("/one?delay=800");
  ASSERT_TRUE(h1_.waitForRequests(1, std::chrono::seconds(5)));
  auto second = background("/two?delay=200");
  ASSERT_TRUE(metricBecomes(active("pending"), 1));
  EXPECT_EQ(curl({}, url("/three")).status, 503); // overflow-max_pending
  EXPECT_EQ(backgroundStatus(*first), 200) << first->allOutput();
  EXPECT_EQ(backgroundStatus(*second), 200) << second->allOutput();
  EXPECT_TRUE(metricBecomes(overflow("max_pending"), 1));
  EXPECT_EQ(metric(overflow("max_connections")), 0);
}

TEST_F(Limits, MaxConnectionsRefusesWhenThePoolHasNoConnectionToWaitFor) {
  TestUpstream other;
  ASSERT_TRUE(h1_.start({"--name", "a"}));
  ASSERT_TRUE(other.start({"--name", "b"}));
  // One connection for the whole cluster; round robin sends the second request to endpoint b,
  // whose pool has no connection and may not open one.
  startWith("{ max_connections: 1 }", h1_.address() + ", " + other.address());
  EXPECT_EQ(metric(R"(seawall_cluster_limit{cluster="svc",resource="connections"})"), 1);
  auto first = background("/one?delay=800");
  ASSERT_TRUE(h1_.waitForRequests(1, std::chrono::seconds(5)));
  auto second = curl({}, url("/two"));
  EXPECT_EQ(second.status, 503);
  EXPECT_EQ(second.header("x-seawall-reason").value_or(""), "overflow-max_connections");
  EXPECT_LT(second.elapsed, milliseconds(600));
  EXPECT_EQ(backgroundStatus(*first), 200) << first->allOutput();
  EXPECT_EQ(other.stats()->requests_total, 0);
  EXPECT_EQ(other.stats()->connections_total, 0);
  EXPECT_TRUE(metricBecomes(overflow("max_connections"), 1));
  EXPECT_EQ(metric(overflow("max_pending")), 0);
}

TEST_F(Limits, ConcurrentBurstRespectsMaxRequests) {
  ASSERT_TRUE(h1_.start({"--name", "svc"}));
  startWith("{ max_requests: 2 }", h1_.address());
  std::vector<std::unique_ptr<ChildProcess>> clients;
  clients.reserve(6);
  for (int i = 0; i < 6; ++i) {
    clients.push_back(background("/burst?delay=1000"));
  }
  int ok = 0;
  int overflowed = 0;
  for (auto& c : clients) {
    int status = backgroundStatus(*c);
    ok += status == 200 ? 1 : 0;
    bool refused = status == 503 && c->output().find("overflow-max_requests") != std::string::npos;
    overflowed += refused ? 1 : 0;
  }
  // curl processes start within a few ms of each other, well inside the 1s delay.
  EXPECT_EQ(ok, 2);
  EXPECT_EQ(overflowed, 4);
  EXPECT_EQ(h1_.stats()->requests_total, 2);
  EXPECT_TRUE(metricBecomes(overflow("max_requests"), 4));
}

} // namespace
} // namespace seawall::test
