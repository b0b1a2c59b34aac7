// Fallbacks through the real proxy: a static response, another cluster, or the last good response
// answers when the call fails or the breaker is open; each carries x-seawall-fallback and is
// counted in seawall_fallbacks_total.
#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "tests/harness/curl.h"
#include "tests/harness/ports.h"
#include "tests/integration/proxy_test_base.h"

namespace seawall::test {
namespace {

using std::chrono::milliseconds;

constexpr const char* kStaticBody = R"({"items":[],"stale":true})";

// A route item: `prefix` to `cluster`, then `extra` lines (8-space indent).
std::string route(const std::string& prefix, const std::string& cluster,
                  const std::string& extra = "") {
  return "      - match: { prefix: " + prefix + " }\n        cluster: " + cluster + "\n" + extra;
}

std::string staticFallback(bool on_upstream_5xx = true) {
  return std::string("        fallback:\n"
                     "          status: 200\n"
                     "          headers: { content-type: application/json }\n"
                     "          body: '") +
         kStaticBody + "'\n" + (on_upstream_5xx ? "" : "          on_upstream_5xx: false\n");
}

class Fallback : public ProxyTest {
protected:
  // One listener ("main", one worker: one last-good cache) with `routes` and `clusters`.
  void startProxy(const std::string& routes, const std::string& clusters) {
    admin_port_ = freeTcpPort();
    port_ = freeTcpPort();
    const std::string yaml = "admin: { address: 127.0.0.1:{{ADMIN_PORT}} }\n"
                             "workers: 1\n"
                             "listeners:\n"
                             "  - name: main\n"
                             "    address: 127.0.0.1:" +
                             std::to_string(port_) + "\n    routes:\n" + routes + "clusters:\n" +
                             clusters;
    ASSERT_TRUE(proxy_.start(yaml, admin_port_)) << proxy_.output();
  }
  static std::string cluster(const std::string& name, const std::string& endpoints,
                             const std::string& extra = "") {
    return "  - name: " + name + "\n    endpoints: [" + endpoints + "]\n" + extra;
  }
  static std::string deadAddress() { return "127.0.0.1:" + std::to_string(freeTcpPort()); }
  double fallbacks(const std::string& cluster_name, const std::string& kind) const {
    return metric("seawall_fallbacks_total{cluster=\"" + cluster_name + "\",kind=\"" + kind + "\"}")
        .value_or(-1);
  }
  static void expectStatic(const CurlResult& r, const std::string& what) {
    EXPECT_EQ(r.status, 200) << what;
    EXPECT_EQ(r.body, kStaticBody) << what;
    EXPECT_EQ(r.header("content-type"), "application/json") << what;
    EXPECT_EQ(r.header("x-seawall-fallback"), "static") << what;
  }
  TestUpstream up_;
};

TEST_F(Fallback, StaticResponseAnswersFailures) {
  ASSERT_TRUE(up_.start({"--name", "app"}));
  startProxy(route("/app/", "app", staticFallback()) + route("/dead/", "dead", staticFallback()) +
                 route("/strict/", "app", staticFallback(false)),
             cluster("app", up_.address()) +
                 cluster("dead", deadAddress(), "    connect_timeout: 200ms\n"));
  expectStatic(curl({}, url("/app/x?status=503")), "upstream 503");
  EXPECT_EQ(fallbacks("app", "static"), 1.0);
  expectStatic(curl({}, url("/dead/x")), "connect failure");
  EXPECT_EQ(fallbacks("dead", "static"), 1.0);

  // A success and a 404 pass through unchanged.
  const CurlResult ok = curl({}, url("/app/x"));
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.header("x-upstream-name"), "app");
  EXPECT_FALSE(ok.header("x-seawall-fallback"));
  const CurlResult missing = curl({}, url("/app/x?status=404"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body, "ok app /app/x\n");
  EXPECT_FALSE(missing.header("x-seawall-fallback"));

  // on_upstream_5xx: false: the upstream's own 503 passes through; a local failure still does not.
  const CurlResult own = curl({}, url("/strict/x?status=503&header=x-own:1"));
  EXPECT_EQ(own.status, 503);
  EXPECT_EQ(own.header("x-own"), "1");
  EXPECT_FALSE(own.header("x-seawall-fallback"));
  expectStatic(curl({}, url("/strict/x?reset=before_headers")), "strict route, reset");
  EXPECT_EQ(fallbacks("app", "static"), 2.0);
}

TEST_F(Fallback, StaticResponseAnswersWhileTheBreakerIsOpen) {
  ASSERT_TRUE(up_.start({"--name", "app"}));
  startProxy(route("/", "app", staticFallback()),
             cluster("app", up_.address(),
                     "    breaker: { window: { type: count, size: 4 }, minimum_calls: 4, "
                     "failure_rate: 50%, open_for: 30s, failure_on: [5xx] }\n"));
  const std::string open = "seawall_breaker_state{cluster=\"app\",state=\"open\"}";
  int sent = 0;
  for (; sent < 20 && metric(open).value_or(0) != 1.0; ++sent) {
    expectStatic(curl({}, url("/x?status=503")), "failing call " + std::to_string(sent));
  }
  ASSERT_EQ(metric(open), 1.0) << "breaker never opened after " << sent << " failures";
  const int64_t seen = up_.stats()->requests_total;
  EXPECT_EQ(seen, sent);
  // Open: the upstream is not called, the fallback answers (the request would succeed now).
  const CurlResult r = curl({}, url("/x"));
  expectStatic(r, "breaker open");
  EXPECT_EQ(up_.stats()->requests_total, seen);
  EXPECT_EQ(fallbacks("app", "static"), static_cast<double>(sent + 1));
}

TEST_F(Fallback, ForcedOpenBreakerIsAnsweredByTheFallback) {
  ASSERT_TRUE(up_.start({"--name", "app"}));
  startProxy(route("/", "app", staticFallback()),
             cluster("app", up_.address(), "    breaker: { minimum_calls: 5 }\n"));
  const auto forced = proxy_.admin("POST", "/breakers/app?state=forced_open");
  ASSERT_TRUE(forced);
  ASSERT_EQ(forced->status, 200) << forced->body;
  expectStatic(curl({}, url("/x")), "forced open");
  EXPECT_EQ(up_.stats()->requests_total, 0);
  EXPECT_EQ(fallbacks("app", "static"), 1.0);
}

TEST_F(Fallback, BackupClusterAnswersWhenThePrimaryRefuses) {
  ASSERT_TRUE(up_.start({"--name", "backup"}));
  startProxy(route("/", "primary", "        fallback: { cluster: backup }\n"),
             cluster("primary", deadAddress(), "    connect_timeout: 200ms\n") +
                 cluster("backup", up_.address()));
  const CurlResult r = curl({}, url("/inventory?x=1"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("x-seawall-fallback"), "cluster");
  EXPECT_EQ(r.header("x-upstream-name"), "backup");
  EXPECT_EQ(r.body, "ok backup /inventory\n");
  EXPECT_EQ(up_.stats()->requests_total, 1);
  EXPECT_EQ(fallbacks("primary", "cluster"), 1.0);
}

TEST_F(Fallback, LastGoodResponseIsServedUntilItsTtl) {
  ASSERT_TRUE(up_.start({"--name", "app"}));
  startProxy(
      route("/", "app", "        fallback: { last_good: { ttl: 1500ms, max_bytes: 1MiB } }\n"),
      cluster("app", up_.address(), "    connect_timeout: 200ms\n"));
  const CurlResult good = curl({}, url("/item?id=7&header=x-version:3"));
  ASSERT_EQ(good.status, 200);
  EXPECT_FALSE(good.header("x-seawall-fallback"));
  const auto stored_at = std::chrono::steady_clock::now();
  up_.stop(); // from now on every call fails

  const CurlResult replay = curl({}, url("/item?id=7&header=x-version:3"));
  EXPECT_EQ(replay.status, 200);
  EXPECT_EQ(replay.body, good.body);
  EXPECT_EQ(replay.header("x-version"), "3");
  EXPECT_EQ(replay.header("x-seawall-fallback"), "last-good");
  EXPECT_EQ(fallbacks("app", "last-good"), 1.0);

  // Another path (or query) has nothing stored: the original failure.
  for (const char* other : {"/other", "/item?id=8&header=x-version:3"}) {
    const CurlResult r = curl({}, url(other));
    EXPECT_GE(r.status, 500) << other;
    EXPECT_FALSE(r.header("x-seawall-fallback")) << other;
    EXPECT_TRUE(r.header("x-seawall-reason")) << other;
  }
  ASSERT_LT(std::chrono::steady_clock::now() - stored_at, milliseconds(1400))
      << "too slow to check before the ttl";

  // Past the ttl the stored response is gone.
  std::this_thread::sleep_until(stored_at + milliseconds(1700));
  const CurlResult expired = curl({}, url("/item?id=7&header=x-version:3"));
  EXPECT_GE(expired.status, 500);
  EXPECT_FALSE(expired.header("x-seawall-fallback"));
  EXPECT_EQ(fallbacks("app", "last-good"), 1.0);
}

} // namespace
} // namespace seawall::test
