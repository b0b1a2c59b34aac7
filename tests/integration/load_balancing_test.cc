// Load balancing across a cluster's endpoints, and listener idle timeouts.
#include <memory>

#include <gtest/gtest.h>

#include "tests/harness/process.h"
#include "tests/integration/proxy_test_base.h"

namespace seawall::test {
namespace {

class Balancing : public ProxyTest {
protected:
  void startWith(const std::string& policy) {
    ASSERT_TRUE(a_.start({"--name", "a"}));
    ASSERT_TRUE(b_.start({"--name", "b"}));
    ProxyOptions o;
    o.workers = 1; // one worker: one balancer, so counts are exact
    o.clusters_extra = "  - name: pair\n    load_balancing: " + policy + "\n    endpoints: [" +
                       a_.address() + ", " + b_.address() + "]\n";
    o.listener_extra = "    limits: { idle_timeout: 500ms }\n";
    ASSERT_TRUE(h1_.start());
    ASSERT_TRUE(h2_.start());
    admin_port_ = freeTcpPort();
    port_ = freeTcpPort();
    std::string yaml = proxyConfig(admin_port_, port_, h1_.port(), h2_.port(), o);
    yaml.replace(yaml.find("    routes:\n") + 12, 0,
                 "      - match: { prefix: /pair/ }\n        cluster: pair\n");
    ASSERT_TRUE(proxy_.start(yaml, admin_port_)) << proxy_.output();
  }
  TestUpstream a_;
  TestUpstream b_;
};

TEST_F(Balancing, RoundRobinAlternates) {
  startWith("round_robin");
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(curl({}, url("/pair/x")).status, 200);
  }
  EXPECT_EQ(a_.stats()->requests_total, 5);
  EXPECT_EQ(b_.stats()->requests_total, 5);
}

TEST_F(Balancing, LeastRequestSpreadsConcurrentRequests) {
  startWith("least_request");
  std::vector<std::unique_ptr<ChildProcess>> clients;
  for (int i = 0; i < 10; ++i) {
    auto c = std::make_unique<ChildProcess>();
    ASSERT_TRUE(c->start(
        {"curl", "-s", "-o", "/dev/null", "--max-time", "10", url("/pair/slow?delay=800")}));
    clients.push_back(std::move(c));
  }
  for (auto& c : clients) {
    ASSERT_TRUE(c->waitExit(std::chrono::seconds(15)));
  }
  // Power of two choices over two endpoints always compares both: in-flight counts stay within
  // one of each other, so ten concurrent requests split evenly.
  EXPECT_EQ(a_.stats()->requests_total, 5);
  EXPECT_EQ(b_.stats()->requests_total, 5);
}

TEST_F(Balancing, UnreachableEndpointFailsOnlyItsShare) {
  startWith("round_robin");
  b_.stop();
  int ok = 0;
  int unavailable = 0;
  for (int i = 0; i < 10; ++i) {
    auto r = curl({}, url("/pair/x"));
    ok += r.status == 200 ? 1 : 0;
    unavailable += r.status == 503 ? 1 : 0;
  }
  EXPECT_EQ(ok, 5);
  EXPECT_EQ(unavailable, 5); // outlier ejection (skipping the dead endpoint) is a later feature
}

TEST_F(Balancing, IdleConnectionsAreClosed) {
  startWith("round_robin");
  RawConnection idle;
  ASSERT_TRUE(idle.connect(port_));
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(idle.waitClosed(std::chrono::seconds(5)));
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, std::chrono::milliseconds(400));
  // A connection that made a request is closed too once it goes quiet.
  RawConnection used;
  ASSERT_TRUE(used.connect(port_));
  ASSERT_TRUE(used.send("GET /pair/x HTTP/1.1\r\nHost: a\r\n\r\n"));
  ASSERT_TRUE(used.readUntil("ok ", std::chrono::seconds(5)));
  EXPECT_TRUE(used.waitClosed(std::chrono::seconds(5)));
  // A request slower than the idle timeout is not cut by it.
  auto slow = curl({}, url("/pair/slow?delay=1200"));
  EXPECT_EQ(slow.status, 200);
}

} // namespace
} // namespace seawall::test
