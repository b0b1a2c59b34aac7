// Outlier ejection (`outlier:`): an endpoint that fails `consecutive_failures` times in a row is
// taken out of load balancing for `ejection_time` (times its ejection count), never more than
// `max_ejection` of the cluster; it gets traffic again afterwards. Counted in
// seawall_outlier_ejections_total and shown in GET /breakers "ejected". One worker with round
// robin, so per-endpoint counts are exact.
#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/harness/json_lite.h"
#include "tests/integration/proxy_test_base.h"

namespace seawall::test {
namespace {

using std::chrono::milliseconds;

constexpr const char* kEjections = R"(seawall_outlier_ejections_total{cluster="pair"})";

class OutlierEjection : public ProxyTest {
protected:
  // Endpoints `good_` then `bad_`; `bad_args` are the bad upstream's extra flags.
  void startWith(const std::vector<std::string>& bad_args, const std::string& outlier) {
    ASSERT_TRUE(good_.start({"--name", "good"}));
    std::vector<std::string> args = {"--name", "bad"};
    args.insert(args.end(), bad_args.begin(), bad_args.end());
    ASSERT_TRUE(bad_.start(args));
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
                       "        cluster: pair\n"
                       "clusters:\n"
                       "  - name: pair\n"
                       "    load_balancing: round_robin\n"
                       "    endpoints: [" +
                       good_.address() + ", " + bad_.address() +
                       "]\n"
                       "    outlier: " +
                       outlier + "\n";
    ASSERT_TRUE(proxy_.start(yaml, admin_port_)) << proxy_.output();
  }
  int64_t requestsTo(const TestUpstream& u) const {
    auto s = u.stats();
    return s ? s->requests_total : -1;
  }
  // Sends `n` requests; returns how many got 200.
  int send(int n) {
    int ok = 0;
    for (int i = 0; i < n; ++i) {
      ok += curl({}, url("/x")).status == 200 ? 1 : 0;
    }
    return ok;
  }
  std::string breakers() const {
    auto r = proxy_.admin("GET", "/breakers");
    return r ? r->body : "";
  }

  TestUpstream good_;
  TestUpstream bad_;
};

TEST_F(OutlierEjection, FailingEndpointIsEjectedThenReturns) {
  startWith({"--fail-ratio", "1", "--fail-status", "503"},
            "{ consecutive_failures: 3, ejection_time: 2s, max_ejection: 50% }");
  EXPECT_EQ(metric(kEjections), 0);
  // Round robin: three requests each; the bad endpoint's third failure ejects it.
  EXPECT_EQ(send(6), 3);
  const auto ejected_at = std::chrono::steady_clock::now();
  EXPECT_EQ(requestsTo(good_), 3);
  EXPECT_EQ(requestsTo(bad_), 3);
  EXPECT_EQ(metric(kEjections), 1);
  EXPECT_NE(breakers().find(R"("ejected":[")" + bad_.address() + R"("])"), std::string::npos)
      << breakers();
  const std::string clusters = proxy_.admin("GET", "/clusters")->body;
  EXPECT_NE(clusters.find(R"({"address":")" + bad_.address() + R"(","resolved":[")" +
                          bad_.address() + R"("],"ejected":[")" + bad_.address() +
                          R"("],"health":"ejected"})"),
            std::string::npos)
      << clusters;
  EXPECT_NE(clusters.find(R"({"address":")" + good_.address() + R"(","resolved":[")" +
                          good_.address() + R"("],"ejected":[],"health":"healthy"})"),
            std::string::npos)
      << clusters;
  // While ejected, everything goes to the good endpoint.
  EXPECT_EQ(send(10), 10);
  EXPECT_EQ(requestsTo(good_), 13);
  EXPECT_EQ(requestsTo(bad_), 3);
  EXPECT_LT(std::chrono::steady_clock::now() - ejected_at, milliseconds(1800))
      << "the requests above must run inside the ejection time for the test to mean anything";
  // After ejection_time it is back in rotation.
  std::this_thread::sleep_until(ejected_at + milliseconds(2150));
  EXPECT_NE(breakers().find(R"("ejected":[])"), std::string::npos) << breakers();
  EXPECT_EQ(proxy_.admin("GET", "/clusters")->body.find(R"("health":"ejected")"),
            std::string::npos);
  EXPECT_EQ(send(4), 2);
  EXPECT_EQ(requestsTo(bad_), 5);
  EXPECT_EQ(requestsTo(good_), 15);
  // Two failures after its return: under consecutive_failures, not ejected again.
  EXPECT_EQ(metric(kEjections), 1);
}

TEST_F(OutlierEjection, SuccessResetsTheConsecutiveCount) {
  // The bad endpoint fails only the requests that ask for it (status=503 on every other round).
  startWith({}, "{ consecutive_failures: 3, ejection_time: 5s, max_ejection: 50% }");
  // Round robin: requests 1, 3, 5... go to good_, 2, 4, 6... to bad_. Fail 2 of bad_'s, then one
  // success, then 2 more failures: never 3 in a row.
  const char* plan[] = {"/x", "/x?status=503", "/x", "/x?status=503", "/x", "/x",
                        "/x", "/x?status=503", "/x", "/x?status=503"};
  for (const char* path : plan) {
    curl({}, url(path));
  }
  EXPECT_EQ(requestsTo(bad_), 5);
  EXPECT_EQ(metric(kEjections), 0);
  EXPECT_EQ(send(4), 4);
  EXPECT_EQ(requestsTo(bad_), 7) << "not ejected: still in rotation";
}

TEST_F(OutlierEjection, NeverEjectsMoreThanMaxEjection) {
  // Both endpoints always fail; max_ejection 50% of 2 allows one ejection at a time.
  ASSERT_TRUE(good_.start({"--name", "also-bad", "--fail-ratio", "1"}));
  ASSERT_TRUE(bad_.start({"--name", "bad", "--fail-ratio", "1"}));
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
                     "        cluster: pair\n"
                     "clusters:\n"
                     "  - name: pair\n"
                     "    load_balancing: round_robin\n"
                     "    endpoints: [" +
                     good_.address() + ", " + bad_.address() +
                     "]\n"
                     "    outlier: { consecutive_failures: 2, ejection_time: 5s, max_ejection: "
                     "50% }\n";
  ASSERT_TRUE(proxy_.start(yaml, admin_port_)) << proxy_.output();
  EXPECT_EQ(send(12), 0);
  EXPECT_EQ(metric(kEjections), 1);
  // One endpoint was ejected after 2 failures each; the other took every request since.
  const int64_t a = requestsTo(good_);
  const int64_t b = requestsTo(bad_);
  EXPECT_EQ(a + b, 12);
  EXPECT_EQ(std::min(a, b), 2) << a << " / " << b;
  EXPECT_EQ(countOccurrences(breakers(), "127.0.0.1:"), 1U) << breakers();
}

} // namespace
} // namespace seawall::test
