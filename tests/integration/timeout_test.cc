// Timeouts through the real proxy: the whole-request timeout bounds a black-holed upstream, the
// per-try timeout moves on to another endpoint, the idle timeout cuts a stalled response, and a
// gRPC grpc-timeout caps the deadline and is passed on; all counted in seawall_timeouts_total.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "tests/harness/curl.h"
#include "tests/harness/ports.h"
#include "tests/integration/proxy_test_base.h"

namespace seawall::test {
namespace {

using std::chrono::milliseconds;

// gRPC timeout value ("199876u", "200m", ...) in nanoseconds; nullopt if malformed.
std::optional<int64_t> grpcTimeoutNanos(std::string_view value) {
  if (value.size() < 2) {
    return std::nullopt;
  }
  int64_t n = 0;
  for (const char c : value.substr(0, value.size() - 1)) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    n = n * 10 + (c - '0');
  }
  switch (value.back()) {
  case 'n':
    return n;
  case 'u':
    return n * 1'000;
  case 'm':
    return n * 1'000'000;
  case 'S':
    return n * 1'000'000'000;
  case 'M':
    return n * 60'000'000'000;
  case 'H':
    return n * 3'600'000'000'000;
  default:
    return std::nullopt;
  }
}

// The value of the first `["name","value"]` header pair in a /__requests log.
std::optional<std::string> loggedHeader(std::string_view log, std::string_view name) {
  const std::string needle = "[\"" + std::string(name) + "\",\"";
  const size_t at = log.find(needle);
  if (at == std::string_view::npos) {
    return std::nullopt;
  }
  const size_t begin = at + needle.size();
  const size_t end = log.find('"', begin);
  if (end == std::string_view::npos) {
    return std::nullopt;
  }
  return std::string(log.substr(begin, end - begin));
}

CurlOptions within(milliseconds timeout) {
  CurlOptions options;
  options.timeout = timeout;
  return options;
}

class Timeouts : public ProxyTest {
protected:
  // One listener ("main", one worker) with `routes` (list items, 6-space indent) and `clusters`
  // (list items, 2-space indent).
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
  double timeouts(const std::string& cluster, const std::string& kind) const {
    return metric("seawall_timeouts_total{cluster=\"" + cluster + "\",kind=\"" + kind + "\"}")
        .value_or(-1);
  }
  // Requests of `cluster` that took at most `le` seconds by the proxy's own clock (the duration
  // histogram's cumulative bucket: "0.1", "0.25", "0.5", "1", ...). Wall-clock bounds seen by curl
  // include process start-up on a busy machine; these do not.
  double durationAtMost(const std::string& cluster, const std::string& le) const {
    return metric("seawall_request_duration_seconds_bucket{cluster=\"" + cluster + "\",le=\"" + le +
                  "\"}")
        .value_or(-1);
  }
  TestUpstream up_;
};

TEST_F(Timeouts, RequestTimeoutBoundsABlackHoledUpstream) {
  ASSERT_TRUE(up_.start({"--name", "bh"}));
  startProxy(R"(      - match: { prefix: / }
        cluster: bh
        timeout: 300ms
)",
             "  - name: bh\n    endpoints: [" + up_.address() + "]\n");
  const CurlResult r = curl({}, url("/x?blackhole=1"), within(milliseconds(5000)));
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(r.header("x-seawall-reason"), "timeout-request");
  EXPECT_GE(r.elapsed, milliseconds(290));
  EXPECT_LT(r.elapsed, milliseconds(1500));
  EXPECT_EQ(durationAtMost("bh", "0.25"), 0.0); // 300 ms by the proxy's clock
  EXPECT_EQ(durationAtMost("bh", "0.5"), 1.0);
  EXPECT_EQ(timeouts("bh", "request"), 1.0);
  EXPECT_EQ(timeouts("bh", "per-try"), 0.0);
  // An answer within the timeout is not touched.
  const CurlResult fast = curl({}, url("/x?delay=50"));
  EXPECT_EQ(fast.status, 200);
  EXPECT_EQ(timeouts("bh", "request"), 1.0);
}

TEST_F(Timeouts, PerTryTimeoutMovesOnToAGoodEndpoint) {
  TestUpstream good;
  ASSERT_TRUE(up_.start({"--name", "bh", "--blackhole"}));
  ASSERT_TRUE(good.start({"--name", "good"}));
  startProxy(R"(      - match: { prefix: / }
        cluster: pair
        timeout: 2s
        retry: { max_retries: 1, on: [gateway-error], per_try_timeout: 200ms, backoff: { base: 5ms, max: 20ms }, budget: { ratio: 100%, min_per_second: 1000 } }
)",
             "  - name: pair\n    load_balancing: round_robin\n    endpoints: [" + up_.address() +
                 ", " + good.address() + "]\n");
  for (int i = 0; i < 4; ++i) {
    const CurlResult r = curl({}, url("/p"), within(milliseconds(5000)));
    EXPECT_EQ(r.status, 200) << r.header("x-seawall-reason").value_or("");
    EXPECT_EQ(r.header("x-upstream-name"), "good");
    EXPECT_LT(r.elapsed, milliseconds(2000));
  }
  EXPECT_EQ(durationAtMost("pair", "0.5"), 4.0); // one 200 ms try at most, then the good one
  const int64_t black_holed = up_.stats()->requests_total;
  EXPECT_GE(black_holed, 1);
  EXPECT_EQ(good.stats()->requests_total, 4);
  EXPECT_EQ(timeouts("pair", "per-try"), static_cast<double>(black_holed));
  EXPECT_EQ(timeouts("pair", "request"), 0.0);
}

TEST_F(Timeouts, PerTryTimeoutsStayWithinTheRequestTimeout) {
  TestUpstream other;
  ASSERT_TRUE(up_.start({"--name", "bh1", "--blackhole"}));
  ASSERT_TRUE(other.start({"--name", "bh2", "--blackhole"}));
  startProxy(R"(      - match: { prefix: / }
        cluster: dark
        timeout: 500ms
        retry: { max_retries: 5, on: [gateway-error], per_try_timeout: 200ms, backoff: { base: 5ms, max: 20ms }, budget: { ratio: 100%, min_per_second: 1000 } }
)",
             "  - name: dark\n    endpoints: [" + up_.address() + ", " + other.address() + "]\n");
  const CurlResult r = curl({}, url("/d"), within(milliseconds(5000)));
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(r.header("x-seawall-reason"), "timeout-request");
  EXPECT_GE(r.elapsed, milliseconds(490));
  EXPECT_LT(r.elapsed, milliseconds(2000));
  EXPECT_EQ(durationAtMost("dark", "0.25"), 0.0); // about 500 ms by the proxy's clock
  EXPECT_EQ(durationAtMost("dark", "1"), 1.0);
  // Two tries of 200 ms fit in 500 ms, the third is cut by the request timeout.
  const int64_t tries = up_.stats()->requests_total + other.stats()->requests_total;
  EXPECT_GE(tries, 2);
  EXPECT_LE(tries, 3);
  EXPECT_GE(timeouts("dark", "per-try"), 2.0);
  EXPECT_EQ(timeouts("dark", "request"), 1.0);
}

TEST_F(Timeouts, IdleTimeoutCutsAStalledResponse) {
  ASSERT_TRUE(up_.start({"--name", "slow"}));
  startProxy(R"(      - match: { prefix: / }
        cluster: slow
        idle_timeout: 200ms
)",
             "  - name: slow\n    endpoints: [" + up_.address() + "]\n");
  // Chunks 50 ms apart keep the stream alive, however long it takes overall.
  const CurlResult steady = curl({}, url("/s?body_size=3000&chunks=6&chunk_delay=50"));
  EXPECT_EQ(steady.exit_code, 0) << steady.err;
  EXPECT_EQ(steady.status, 200);
  EXPECT_EQ(steady.body.size(), 3000u);
  EXPECT_EQ(timeouts("slow", "idle"), 0.0);
  // A 600 ms stall after the first chunk: the response has started, so the stream is cut.
  const CurlResult stalled =
      curl({}, url("/s?body_size=3000&chunks=3&chunk_delay=600"), within(milliseconds(5000)));
  EXPECT_NE(stalled.exit_code, 0); // 18: partial transfer
  EXPECT_EQ(stalled.status, 200);
  EXPECT_LT(stalled.body.size(), 3000u);
  EXPECT_LT(stalled.elapsed, milliseconds(2000));
  EXPECT_EQ(timeouts("slow", "idle"), 1.0);
  // Stalled before the headers: answered with 504.
  const CurlResult late = curl({}, url("/s?delay=600"), within(milliseconds(5000)));
  EXPECT_EQ(late.status, 504);
  EXPECT_EQ(late.header("x-seawall-reason"), "timeout-idle");
  EXPECT_EQ(timeouts("slow", "idle"), 2.0);
}

TEST_F(Timeouts, GrpcTimeoutCapsTheDeadlineAndIsPassedOn) {
  ASSERT_TRUE(up_.start({"--name", "grpc"}));
  startProxy(R"(      - match: { prefix: / }
        cluster: grpc
        timeout: 5s
)",
             "  - name: grpc\n    protocol: h2\n    endpoints: [" + up_.address() + "]\n");
  const CurlResult r = curlH2({"-H", "content-type: application/grpc", "-H", "te: trailers", "-H",
                               "grpc-timeout: 200m", "--data-binary", "hello"},
                              url("/pkg.Service/Method?delay=5000"), within(milliseconds(5000)));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.http_version, "2");
  EXPECT_EQ(r.status, 200); // trailers-only gRPC reply
  EXPECT_EQ(r.header("grpc-status"), "4");
  EXPECT_EQ(r.header("x-seawall-reason"), "timeout-request");
  EXPECT_GE(r.elapsed, milliseconds(190));
  EXPECT_LT(r.elapsed, milliseconds(2000)); // the upstream answers after 5 s, the route allows 5 s
  EXPECT_EQ(durationAtMost("grpc", "0.1"), 0.0); // 200 ms by the proxy's clock
  EXPECT_EQ(durationAtMost("grpc", "0.25"), 1.0);
  EXPECT_EQ(timeouts("grpc", "request"), 1.0);

  ASSERT_TRUE(up_.waitForRequests(1, milliseconds(3000)));
  const std::optional<std::string> passed = loggedHeader(up_.requests(), "grpc-timeout");
  ASSERT_TRUE(passed) << up_.requests();
  const std::optional<int64_t> nanos = grpcTimeoutNanos(*passed);
  ASSERT_TRUE(nanos) << *passed;
  EXPECT_GT(*nanos, 0);
  EXPECT_LE(*nanos, 200'000'000) << *passed; // the remaining deadline, never more
}

} // namespace
} // namespace seawall::test
