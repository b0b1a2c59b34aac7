// Malformed or ambiguous requests get the right 4xx, a reason, and the connection is closed;
// nothing reaches the upstream. Each rejection is counted in seawall_downstream_rejected_total.
#include <gtest/gtest.h>

#include "tests/integration/proxy_test_base.h"

namespace seawall::test {
namespace {

class BadInput : public ProxyTest {
protected:
  void SetUp() override {
    ProxyOptions o;
    o.listener_extra = "    limits: { max_header_bytes: 8KiB, max_concurrent_streams: 1000 }\n";
    startAll(o);
  }

  // Sends `bytes`, expects `status` with x-seawall-reason `reason` and the connection closed.
  void expectRejected(const std::string& bytes, int status, const std::string& reason) {
    auto r = rawExchange(port_, bytes, std::chrono::seconds(5));
    ASSERT_TRUE(r.connected);
    EXPECT_EQ(r.data.rfind("HTTP/1.1 " + std::to_string(status), 0), 0U) << r.data;
    EXPECT_NE(r.data.find("x-seawall-reason: " + reason), std::string::npos) << r.data;
    EXPECT_TRUE(r.closed_by_peer) << "connection left open after " << status;
  }
};

TEST_F(BadInput, ContentLengthAndTransferEncoding) {
  expectRejected("POST /up/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                 400, "ambiguous-framing");
}

TEST_F(BadInput, TwoDifferentContentLengths) {
  expectRejected("POST /up/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"
                 "hello",
                 400, "ambiguous-framing");
}

TEST_F(BadInput, BadRequestLine) {
  expectRejected("GET  /up/x HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bad-request");
  expectRejected("GET /up/x HTTP/9.9\r\nHost: a\r\n\r\n", 400, "bad-request");
}

TEST_F(BadInput, HeaderSyntax) {
  expectRejected("GET /up/x HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n", 400, "bad-request");
  expectRejected("GET /up/x HTTP/1.1\r\nHost: a\r\nX: a\r\n folded\r\n\r\n", 400, "bad-request");
  expectRejected("GET /up/x HTTP/1.1\r\nHost : a\r\n\r\n", 400, "bad-request");
}

TEST_F(BadInput, MissingOrDuplicateHost) {
  expectRejected("GET /up/x HTTP/1.1\r\n\r\n", 400, "bad-request");
  expectRejected("GET /up/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "bad-request");
}

TEST_F(BadInput, BadChunkSize) {
  expectRejected("POST /up/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400,
                 "bad-request");
}

TEST_F(BadInput, HeadersOverTheLimitAre431) {
  std::string big(9000, 'a');
  expectRejected("GET /up/x HTTP/1.1\r\nHost: a\r\nX-Big: " + big + "\r\n\r\n", 431,
                 "header-too-large");
  EXPECT_EQ(h1_.stats()->requests_total, 0) << "a rejected request reached the upstream";
  auto counted =
      metric(R"(seawall_downstream_rejected_total{listener="main",reason="header-too-large"})");
  EXPECT_EQ(counted, 1);
}

TEST_F(BadInput, Http2HeadersOverTheLimitAre431AndTheConnectionLives) {
  std::string big(9000, 'b');
  auto r = runCommand({"nghttp", "-v", "-H", "x-big: " + big, url("/up/x"), url("/up/y")},
                      std::chrono::seconds(10));
  // nghttp sends both requests on one connection; the first gets 431, the second 200.
  EXPECT_NE(r.out.find(":status: 431"), std::string::npos) << r.out << r.err;
}

TEST_F(BadInput, RejectionsNeverReachTheUpstreamAndAreCounted) {
  expectRejected("POST /up/x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                 400, "ambiguous-framing");
  expectRejected("GET /up/x HTTP/1.1\r\n\r\n", 400, "bad-request");
  EXPECT_EQ(h1_.stats()->requests_total, 0);
  EXPECT_EQ(
      metric(R"(seawall_downstream_rejected_total{listener="main",reason="ambiguous-framing"})"),
      1);
  EXPECT_EQ(metric(R"(seawall_downstream_rejected_total{listener="main",reason="bad-request"})"),
            1);
}

TEST_F(BadInput, PipelinedRequestsAnsweredInOrder) {
  auto r = rawExchange(port_,
                       "GET /up/a?delay=200 HTTP/1.1\r\nHost: a\r\n\r\n"
                       "GET /up/b HTTP/1.1\r\nHost: a\r\n\r\n"
                       "GET /up/c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                       std::chrono::seconds(5));
  auto a = r.data.find("ok up-h1 /up/a");
  auto b = r.data.find("ok up-h1 /up/b");
  auto c = r.data.find("ok up-h1 /up/c");
  ASSERT_NE(a, std::string::npos) << r.data;
  ASSERT_NE(b, std::string::npos) << r.data;
  ASSERT_NE(c, std::string::npos) << r.data;
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_TRUE(r.closed_by_peer);
}

} // namespace
} // namespace seawall::test
