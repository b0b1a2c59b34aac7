// The breaker admin API (docs/admin.md): GET /breakers lists every cluster's breaker, limits and
// ejections; POST /breakers/<cluster>?state=forced_open|disabled|metrics_only|normal|reset
// changes a breaker for every worker at once, and the data path follows at once.
#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "tests/harness/json_lite.h"
#include "tests/integration/proxy_test_base.h"

namespace seawall::test {
namespace {

using std::chrono::milliseconds;

class AdminBreakers : public ProxyTest {
protected:
  void SetUp() override {
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
                       "      - match: { prefix: /plain/ }\n"
                       "        cluster: plain\n"
                       "      - match: { prefix: / }\n"
                       "        cluster: svc\n"
                       "clusters:\n"
                       "  - name: svc\n"
                       "    endpoints: [" +
                       h1_.address() +
                       "]\n"
                       "    limits: { max_connections: 64, max_pending: 32, max_requests: 48, "
                       "max_retries: 2 }\n"
                       "    breaker:\n"
                       "      window: { type: count, size: 4 }\n"
                       "      minimum_calls: 4\n"
                       "      failure_rate: 50%\n"
                       "      open_for: 5s\n"
                       "  - name: plain\n"
                       "    endpoints: [" +
                       h1_.address() + "]\n";
    ASSERT_TRUE(proxy_.start(yaml, admin_port_)) << proxy_.output();
  }

  std::optional<HttpReply> post(const std::string& path) const {
    return proxy_.admin("POST", path);
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
  // The object of `cluster` in GET /breakers (from its name to the end of the array).
  std::string clusterObject(const std::string& cluster) const {
    auto r = proxy_.admin("GET", "/breakers");
    if (!r) {
      return "";
    }
    auto at = r->body.find("{\"name\":\"" + cluster + "\"");
    return at == std::string::npos ? "" : r->body.substr(at);
  }
};

TEST_F(AdminBreakers, ListsEveryCluster) {
  auto r = proxy_.admin("GET", "/breakers");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("content-type").value_or("").rfind("application/json", 0), 0U) << r->head;
  EXPECT_EQ(r->header("cache-control").value_or(""), "no-store");
  const std::string& body = r->body;
  ASSERT_EQ(body.rfind('[', 0), 0U) << body;
  // Sorted by name: plain, then svc.
  auto plain = body.find(R"({"name":"plain","breaker":false,"state":"disabled","mode":"disabled")");
  auto svc = body.find(R"({"name":"svc","breaker":true,"state":"closed","mode":"normal")");
  ASSERT_NE(plain, std::string::npos) << body;
  ASSERT_NE(svc, std::string::npos) << body;
  EXPECT_LT(plain, svc) << body;
  const std::string object = body.substr(svc);
  EXPECT_NE(object.find(R"("window":{"calls":0,)"), std::string::npos) << object;
  for (const char* limit :
       {R"("connections":{"active":0,"max":64})", R"("pending":{"active":0,"max":32})",
        R"("requests":{"active":0,"max":48})", R"("retries":{"active":0,"max":2})"}) {
    EXPECT_NE(object.find(limit), std::string::npos) << limit << " in " << object;
  }
  EXPECT_NE(object.find(R"("ejected":[])"), std::string::npos) << object;
  // Calls show up in the window.
  ASSERT_EQ(curl({}, url("/a")).status, 200);
  ASSERT_EQ(curl({}, url("/a?status=503")).status, 503);
  EXPECT_NE(clusterObject("svc").find(R"("window":{"calls":2,"failure_rate":0.5,)"),
            std::string::npos)
      << clusterObject("svc");
  // HEAD: same status, no body.
  auto head = rawExchange(admin_port_,
                          "HEAD /breakers HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n",
                          std::chrono::seconds(5));
  ASSERT_TRUE(head.closed_by_peer) << head.data;
  EXPECT_EQ(head.data.rfind("HTTP/1.1 200", 0), 0U) << head.data;
  auto head_end = head.data.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos) << head.data;
  EXPECT_EQ(head.data.size(), head_end + 4) << "HEAD got a body: " << head.data;
}

TEST_F(AdminBreakers, ForcedOpenRejectsEveryRequest) {
  auto r = post("/breakers/svc?state=forced_open");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(jsonString(r->body, "state"), "forced_open") << r->body;
  EXPECT_EQ(jsonString(r->body, "mode"), "forced_open") << r->body;
  for (int i = 0; i < 4; ++i) { // two workers: every one of them sees it
    auto c = curl({}, url("/a"));
    EXPECT_EQ(c.status, 503);
    EXPECT_EQ(c.header("x-seawall-reason").value_or(""), "breaker-open");
  }
  EXPECT_EQ(upstreamRequests(), 0);
  EXPECT_EQ(curl({}, url("/plain/a")).status, 200) << "other clusters are not affected";
  EXPECT_TRUE(metricBecomes(state("forced_open"), 1));
  EXPECT_EQ(metric(state("closed")), 0);
  EXPECT_EQ(metric(transition("closed", "forced_open")), 1);
  // Back to normal: closed, traffic flows.
  r = post("/breakers/svc?state=normal");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(jsonString(r->body, "state"), "closed") << r->body;
  EXPECT_EQ(curl({}, url("/a")).status, 200);
  EXPECT_TRUE(metricBecomes(state("closed"), 1));
  EXPECT_EQ(metric(transition("forced_open", "closed")), 1);
}

TEST_F(AdminBreakers, DisabledLetsFailingRequestsThrough) {
  auto r = post("/breakers/svc?state=disabled");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(jsonString(r->body, "state"), "disabled") << r->body;
  // Twice the window of failures: never rejected.
  for (int i = 0; i < 8; ++i) {
    auto c = curl({}, url("/a?status=503"));
    EXPECT_EQ(c.status, 503);
    EXPECT_FALSE(c.header("x-seawall-reason")) << i;
  }
  EXPECT_EQ(upstreamRequests(), 8);
  EXPECT_TRUE(metricBecomes(state("disabled"), 1));
  EXPECT_EQ(metric(transition("closed", "disabled")), 1);
  EXPECT_EQ(metric(transition("closed", "open")), 0);
  // Outcomes were ignored: back to normal, the window is empty and the breaker closed.
  r = post("/breakers/svc?state=normal");
  ASSERT_TRUE(r);
  EXPECT_EQ(jsonString(r->body, "state"), "closed") << r->body;
  EXPECT_NE(r->body.find(R"("window":{"calls":0,)"), std::string::npos) << r->body;
}

TEST_F(AdminBreakers, ResetClosesAnOpenBreaker) {
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(curl({}, url("/a?status=503")).status, 503);
  }
  ASSERT_TRUE(metricBecomes(state("open"), 1));
  EXPECT_EQ(curl({}, url("/a")).header("x-seawall-reason").value_or(""), "breaker-open");
  auto r = post("/breakers/svc?state=reset");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(jsonString(r->body, "state"), "closed") << r->body;
  EXPECT_EQ(jsonString(r->body, "mode"), "normal") << r->body;
  EXPECT_NE(r->body.find(R"("window":{"calls":0,)"), std::string::npos) << r->body;
  const int64_t seen = upstreamRequests();
  EXPECT_EQ(curl({}, url("/a")).status, 200);
  EXPECT_EQ(upstreamRequests(), seen + 1);
  EXPECT_TRUE(metricBecomes(state("closed"), 1));
  EXPECT_EQ(metric(state("open")), 0);
  // As documented: <state> -> disabled, then disabled -> closed.
  EXPECT_EQ(metric(transition("closed", "open")), 1);
  EXPECT_EQ(metric(transition("open", "disabled")), 1);
  EXPECT_EQ(metric(transition("disabled", "closed")), 1);
}

TEST_F(AdminBreakers, MetricsOnlyAdmitsWhatItWouldReject) {
  auto r = post("/breakers/svc?state=metrics_only");
  ASSERT_TRUE(r);
  EXPECT_EQ(jsonString(r->body, "mode"), "metrics_only") << r->body;
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(curl({}, url("/a?status=503")).status, 503);
  }
  EXPECT_EQ(upstreamRequests(), 6);
  EXPECT_TRUE(metricBecomes(state("open"), 1));
  EXPECT_TRUE(metricBecomes(R"(seawall_breaker_would_reject_total{cluster="svc"})", 2));
}

TEST_F(AdminBreakers, BadRequestsChangeNothing) {
  auto bad = post("/breakers/svc?state=open");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  for (const char* s : {"normal", "forced_open", "disabled", "metrics_only", "reset"}) {
    EXPECT_NE(bad->body.find(s), std::string::npos) << s << " in " << bad->body;
  }
  auto missing = post("/breakers/svc");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 400);
  auto unknown = post("/breakers/nope?state=reset");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  auto no_breaker = post("/breakers/plain?state=forced_open");
  ASSERT_TRUE(no_breaker);
  EXPECT_EQ(no_breaker->status, 404);
  auto get = proxy_.admin("GET", "/breakers/svc?state=forced_open");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 405);
  EXPECT_EQ(get->header("allow").value_or(""), "POST");
  auto post_list = post("/breakers");
  ASSERT_TRUE(post_list);
  EXPECT_EQ(post_list->status, 405);
  EXPECT_EQ(post_list->header("allow").value_or(""), "GET, HEAD");
  // None of them changed anything.
  EXPECT_NE(clusterObject("svc").find(R"("state":"closed","mode":"normal")"), std::string::npos)
      << clusterObject("svc");
  EXPECT_EQ(curl({}, url("/a")).status, 200);
  EXPECT_EQ(curl({}, url("/plain/a")).status, 200);
  EXPECT_EQ(metric(state("closed")), 1);
  for (const char* to : {"open", "forced_open", "disabled"}) {
    EXPECT_EQ(metric(transition("closed", to)), 0) << to;
  }
}

} // namespace
} // namespace seawall::test
