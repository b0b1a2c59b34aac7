// Every downstream protocol to every upstream protocol, and what the proxy does to headers.
#include <regex>

#include <gtest/gtest.h>

#include "tests/harness/json_lite.h"
#include "tests/integration/proxy_test_base.h"

namespace seawall::test {
namespace {

class Protocols : public ProxyTest {
protected:
  void SetUp() override { startAll(); }
};

TEST_F(Protocols, Http1ToHttp1) {
  auto r = curl({}, url("/up/hello"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.http_version, "1.1");
  EXPECT_EQ(r.header("x-upstream-name"), "up-h1");
  EXPECT_EQ(r.header("via"), "1.1 seawall");
  EXPECT_EQ(r.body, "ok up-h1 /up/hello\n");
}

TEST_F(Protocols, Http1ToHttp2) {
  auto r = curl({}, url("/h2/hello"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("x-upstream-name"), "up-h2");
  EXPECT_EQ(r.body, "ok up-h2 /h2/hello\n");
  auto stats = h2_.stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->h2_requests, 1);
}

TEST_F(Protocols, Http2ToHttp1) {
  auto r = curlH2({}, url("/up/hello"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.http_version, "2");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("via"), "2 seawall");
  EXPECT_EQ(r.body, "ok up-h1 /up/hello\n");
  auto stats = h1_.stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->h1_requests, 1);
}

TEST_F(Protocols, Http2ToHttp2) {
  auto r = curlH2({}, url("/h2/hello?status=201"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.http_version, "2");
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.header("x-upstream-name"), "up-h2");
}

TEST_F(Protocols, BodiesBothWaysOnEveryPair) {
  std::string body(300000, 'x');
  for (const char* path : {"/up/sink", "/h2/sink"}) {
    for (bool h2 : {false, true}) {
      CurlOptions o;
      o.http2_prior_knowledge = h2;
      o.stdin_data = body;
      auto r = curl({"-X", "POST", "--data-binary", "@-"}, url(path), o);
      ASSERT_EQ(r.exit_code, 0) << path << " h2=" << h2 << " " << r.err;
      EXPECT_EQ(jsonNumber(r.body, "bytes"), 300000) << path << " h2=" << h2 << " " << r.body;
      std::string big = std::string(path).substr(0, 4) + "big?body_size=250000"; // /up/, /h2/
      auto down = curl({}, url(big), o);
      ASSERT_EQ(down.exit_code, 0) << down.err;
      EXPECT_EQ(down.body.size(), 250000U) << path << " h2=" << h2;
    }
  }
}

TEST_F(Protocols, RequestHeadersRewritten) {
  auto r = curl({"-H", "connection: x-secret", "-H", "x-secret: 1", "-H", "keep-alive: 5", "-H",
                 "x-forwarded-for: 10.1.2.3", "-H", "x-keep: yes"},
                url("/up/echo"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string& echo = r.body;
  EXPECT_EQ(echo.find("x-secret"), std::string::npos) << echo;   // named by Connection
  EXPECT_EQ(echo.find("keep-alive"), std::string::npos) << echo; // hop-by-hop
  EXPECT_NE(echo.find(R"(["x-keep","yes"])"), std::string::npos) << echo;
  EXPECT_NE(echo.find(R"(["x-forwarded-for","10.1.2.3, 127.0.0.1"])"), std::string::npos) << echo;
  EXPECT_NE(echo.find(R"(["via","1.1 seawall"])"), std::string::npos) << echo;
  EXPECT_NE(echo.find(R"(["x-request-id",")"), std::string::npos) << echo;
}

TEST_F(Protocols, RequestIdKeptWhenPresent) {
  auto r = curlH2({"-H", "x-request-id: abc-123"}, url("/h2/echo"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.body.find(R"(["x-request-id","abc-123"])"), std::string::npos) << r.body;
}

TEST_F(Protocols, GeneratedRequestIdsDiffer) {
  auto a = curl({}, url("/up/echo"));
  auto b = curl({}, url("/up/echo"));
  auto id = [](const std::string& body) {
    auto pos = body.find(R"(["x-request-id",")");
    return pos == std::string::npos ? std::string() : body.substr(pos + 17, 36);
  };
  EXPECT_EQ(id(a.body).size(), 36U) << a.body;
  EXPECT_NE(id(a.body), id(b.body));
  // A version-4 UUID, lowercase.
  const std::regex uuid("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  EXPECT_TRUE(std::regex_match(id(a.body), uuid)) << id(a.body);
  EXPECT_TRUE(std::regex_match(id(b.body), uuid)) << id(b.body);
}

TEST_F(Protocols, TrailersPassThrough) {
  // h2 client -> h2 upstream, and h2 client -> HTTP/1.1 upstream (chunked trailers).
  for (const char* path : {"/h2/t?trailers=1", "/up/t?trailers=1"}) {
    auto r = runCommand({"nghttp", "-v", url(path)}, std::chrono::seconds(10));
    ASSERT_EQ(r.exit_code, 0) << path << r.err;
    EXPECT_NE(r.out.find("grpc-status: 0"), std::string::npos) << path << "\n" << r.out;
    EXPECT_NE(r.out.find("x-trailer: yes"), std::string::npos) << path << "\n" << r.out;
  }
}

TEST_F(Protocols, KeepAliveReusesUpstreamConnections) {
  for (int i = 0; i < 20; ++i) {
    auto r = curl({}, url("/up/k"));
    ASSERT_EQ(r.status, 200);
  }
  auto stats = h1_.stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->requests_total, 20);
  // Two workers, each with its own pool: at most one connection each for sequential requests.
  EXPECT_LE(stats->connections_total, 2);
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(curlH2({}, url("/h2/k")).status, 200);
  }
  auto h2stats = h2_.stats();
  ASSERT_TRUE(h2stats);
  EXPECT_LE(h2stats->connections_total, 2);
}

TEST_F(Protocols, ExpectContinue) {
  std::string body(100000, 'y');
  CurlOptions o;
  o.stdin_data = body;
  auto r =
      curl({"-H", "expect: 100-continue", "-X", "POST", "--data-binary", "@-"}, url("/up/sink"), o);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(jsonNumber(r.body, "bytes"), 100000) << r.body;
  EXPECT_LT(r.elapsed, std::chrono::milliseconds(900)); // curl waits 1 s without a 100
}

TEST_F(Protocols, NoRouteIs404WithReason) {
  auto r = curl({}, url("/nowhere"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.header("x-seawall-reason"), "no-route");
  EXPECT_NE(r.body.find("no route for GET /nowhere"), std::string::npos) << r.body;
  // Method and exact-path matching.
  EXPECT_EQ(curl({}, url("/only-post/x")).status, 404);
  EXPECT_EQ(curl({"-X", "POST", "-d", "a"}, url("/only-post/x")).status, 200);
  EXPECT_EQ(curl({}, url("/exact?q=1")).status, 200);
  EXPECT_EQ(curl({}, url("/exact/more")).status, 404);
  EXPECT_EQ(metric(R"(seawall_requests_total{listener="main",cluster="none",code="404"})"), 3);
}

TEST_F(Protocols, UnreachableUpstreamIs503WithReason) {
  for (bool h2 : {false, true}) {
    CurlOptions o;
    o.http2_prior_knowledge = h2;
    auto r = curl({}, url("/dead/x"), o);
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.header("x-seawall-reason"), "upstream-connect-failure");
    EXPECT_NE(r.body.find("upstream connect failure"), std::string::npos) << r.body;
  }
  EXPECT_EQ(metric(R"(seawall_requests_total{listener="main",cluster="dead",code="503"})"), 2);
}

TEST_F(Protocols, UpstreamResetBeforeHeadersIs502) {
  auto r = curl({}, url("/up/x?reset=before_headers"));
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(r.header("x-seawall-reason"), "upstream-reset");
  auto r2 = curlH2({}, url("/h2/x?reset=before_headers"));
  EXPECT_EQ(r2.status, 502);
}

TEST_F(Protocols, UpstreamResetMidBodyAbortsTheClient) {
  auto r = curl({}, url("/up/x?reset=mid_body&body_size=100000"));
  EXPECT_NE(r.exit_code, 0); // the truncated body must not look complete
  auto r2 = curlH2({}, url("/h2/x?reset=mid_body&body_size=100000"));
  EXPECT_NE(r2.exit_code, 0);
}

TEST_F(Protocols, GrpcLocalReplyIsTrailersOnly) {
  auto r = curlH2({"-H", "content-type: application/grpc", "-H", "te: trailers"},
                  url("/dead/pkg.Service/Method"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("grpc-status"), "14"); // UNAVAILABLE
  EXPECT_EQ(r.header("x-seawall-reason"), "upstream-connect-failure");
}

TEST_F(Protocols, WebSocketUpgradeIsTunnelled) {
  RawConnection c;
  ASSERT_TRUE(c.connect(port_));
  ASSERT_TRUE(c.send("GET /up/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                     "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"));
  auto head = c.readUntil("\r\n\r\n", std::chrono::seconds(5));
  ASSERT_TRUE(head) << c.received();
  EXPECT_EQ(head->rfind("HTTP/1.1 101", 0), 0U) << *head;
  size_t before = c.received().size();
  ASSERT_TRUE(c.send("raw-bytes-\x01\x02-after-upgrade"));
  auto echoed = c.readAtLeast(before + 25, std::chrono::seconds(5));
  ASSERT_TRUE(echoed) << c.received();
  EXPECT_NE(echoed->find("raw-bytes-\x01\x02-after-upgrade"), std::string::npos);
}

TEST_F(Protocols, MetricsPassPromtool) {
  ASSERT_EQ(curl({}, url("/up/m")).status, 200);
  ASSERT_EQ(curl({}, url("/nowhere")).status, 404);
  auto reply = proxy_.admin("GET", "/metrics");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200);
  EXPECT_NE(reply->body.find("seawall_request_duration_seconds_bucket{cluster=\"h1\""),
            std::string::npos);
  if (runCommand({"sh", "-c", "command -v promtool"}).exit_code != 0) {
    GTEST_SKIP() << "promtool is not installed (Debian package prometheus): NOT CHECKED";
  }
  auto check = runCommand({"promtool", "check", "metrics"}, std::chrono::seconds(20), reply->body);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

TEST_F(Protocols, AdminEndpoints) {
  auto health = proxy_.admin("GET", "/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto cfg = proxy_.admin("GET", "/config");
  ASSERT_TRUE(cfg);
  EXPECT_EQ(cfg->status, 200);
  EXPECT_NE(cfg->body.find("name: h2"), std::string::npos) << cfg->body;
  auto clusters = proxy_.admin("GET", "/clusters");
  ASSERT_TRUE(clusters);
  EXPECT_NE(clusters->body.find("\"name\":\"h1\""), std::string::npos) << clusters->body;
  EXPECT_NE(clusters->body.find(h1_.address()), std::string::npos) << clusters->body;
}

} // namespace
} // namespace seawall::test
