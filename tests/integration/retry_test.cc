// Retries through the real proxy: which failures are retried, how many times, with what delay
// between attempts (the test upstream's arrival_ms), which methods and bodies may be replayed,
// and seawall_retries_total.
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "tests/harness/curl.h"
#include "tests/harness/json_lite.h"
#include "tests/harness/ports.h"
#include "tests/integration/proxy_test_base.h"

namespace seawall::test {
namespace {

using std::chrono::milliseconds;

// Every integer written as `"key":N` in `json`, in order (the test upstream's /__requests).
std::vector<int64_t> jsonNumbers(std::string_view json, std::string_view key) {
  std::vector<int64_t> out;
  const std::string needle = "\"" + std::string(key) + "\":";
  for (size_t at = json.find(needle); at != std::string_view::npos;
       at = json.find(needle, at + 1)) {
    const char* begin = json.data() + at + needle.size();
    int64_t value = 0;
    const auto [ptr, ec] = std::from_chars(begin, json.data() + json.size(), value);
    if (ec == std::errc()) {
      out.push_back(value);
    }
  }
  return out;
}

// curl options that feed `body` on stdin (for "--data-binary @-").
CurlOptions sending(std::string body) {
  CurlOptions options;
  options.stdin_data = std::move(body);
  return options;
}

class Retry : public ProxyTest {
protected:
  // One listener ("main", one worker) with `routes` (list items, 6-space indent) and `clusters`
  // (list items, 2-space indent); `listener_limits` goes inside the listener (4-space indent).
  void startProxy(const std::string& routes, const std::string& clusters,
                  const std::string& listener_limits = "") {
    admin_port_ = freeTcpPort();
    port_ = freeTcpPort();
    const std::string yaml = "admin: { address: 127.0.0.1:{{ADMIN_PORT}} }\n"
                             "workers: 1\n"
                             "listeners:\n"
                             "  - name: main\n"
                             "    address: 127.0.0.1:" +
                             std::to_string(port_) + "\n" + listener_limits + "    routes:\n" +
                             routes + "clusters:\n" + clusters;
    ASSERT_TRUE(proxy_.start(yaml, admin_port_)) << proxy_.output();
  }
  // A cluster item named `name` with `endpoints` ("a, b").
  static std::string cluster(const std::string& name, const std::string& endpoints,
                             const std::string& extra = "") {
    return "  - name: " + name + "\n    endpoints: [" + endpoints + "]\n" + extra;
  }
  double counter(const std::string& cluster_name, const std::string& reason) const {
    return metric("seawall_retries_total{cluster=\"" + cluster_name + "\",reason=\"" + reason +
                  "\"}")
        .value_or(-1);
  }
  TestUpstream up_;
};

TEST_F(Retry, FailingEndpointIsRetriedOnTheOther) {
  TestUpstream good;
  ASSERT_TRUE(up_.start({"--name", "bad", "--status", "503"}));
  ASSERT_TRUE(good.start({"--name", "good"}));
  startProxy(
      R"(      - match: { prefix: / }
        cluster: pair
        retry: { max_retries: 1, on: [5xx], budget: { ratio: 100%, min_per_second: 1000 }, backoff: { base: 10ms, max: 50ms } }
)",
      cluster("pair", up_.address() + ", " + good.address(), "    load_balancing: round_robin\n"));
  for (int i = 0; i < 10; ++i) {
    const CurlResult r = curl({}, url("/item"));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("x-upstream-name"), "good");
  }
  const int64_t failed = up_.stats()->requests_total;
  EXPECT_GE(failed, 1);
  EXPECT_EQ(good.stats()->requests_total, 10);
  EXPECT_EQ(counter("pair", "5xx"), static_cast<double>(failed));
}

TEST_F(Retry, BackoffStaysUnderEachCeiling) {
  ASSERT_TRUE(up_.start({"--name", "bad", "--status", "503"}));
  startProxy(R"(      - match: { prefix: / }
        cluster: bad
        retry: { max_retries: 3, on: [5xx], budget: { ratio: 100%, min_per_second: 1000 }, backoff: { base: 100ms, max: 400ms } }
)",
             cluster("bad", up_.address()));
  constexpr int kRequests = 4;
  const std::vector<int64_t> ceilings = {100, 200, 400}; // min(max, base * 2^(n-1))
  constexpr int64_t kSlack = 60;                         // proxy and loopback overhead per try
  int64_t all_gaps = 0;
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_TRUE(up_.reset());
    const CurlResult r = curl({}, url("/b"));
    EXPECT_EQ(r.status, 503); // the last attempt's answer, passed through
    const std::vector<int64_t> arrivals = jsonNumbers(up_.requests(), "arrival_ms");
    ASSERT_EQ(arrivals.size(), 4u) << up_.requests();
    int64_t total = 0;
    for (size_t n = 0; n < ceilings.size(); ++n) {
      const int64_t gap = arrivals[n + 1] - arrivals[n];
      EXPECT_GE(gap, 0);
      EXPECT_LE(gap, ceilings[n] + kSlack) << "retry " << n + 1 << " of request " << i;
      total += gap;
    }
    EXPECT_LE(total, 700 + kSlack * 3);
    all_gaps += total;
  }
  // Full jitter averages half of each ceiling (350 ms per request): the retries were not immediate.
  EXPECT_GE(all_gaps, 300);
  EXPECT_EQ(counter("bad", "5xx"), 3.0 * kRequests);
}

TEST_F(Retry, RetryAfterIsHonouredUpToBackoffMax) {
  ASSERT_TRUE(up_.start({"--name", "ra"}));
  startProxy(R"(      - match: { prefix: /long/ }
        cluster: ra
        retry: { max_retries: 1, on: [5xx], budget: { ratio: 100%, min_per_second: 1000 }, backoff: { base: 10ms, max: 2s }, honor_retry_after: true }
      - match: { prefix: /short/ }
        cluster: ra
        retry: { max_retries: 1, on: [5xx], budget: { ratio: 100%, min_per_second: 1000 }, backoff: { base: 10ms, max: 300ms }, honor_retry_after: true }
)",
             cluster("ra", up_.address()));
  struct Case {
    std::string path;
    int64_t min_gap;
    int64_t max_gap;
  };
  const std::vector<Case> cases = {
      {"/long/x?status=503&retry_after=1", 950, 1500}, // Retry-After: 1 s, under max
      {"/short/x?status=503&retry_after=1", 250, 600}, // capped at backoff.max (300 ms)
  };
  for (const Case& c : cases) {
    ASSERT_TRUE(up_.reset());
    const CurlResult r = curl({}, url(c.path));
    EXPECT_EQ(r.status, 503) << c.path;
    const std::vector<int64_t> arrivals = jsonNumbers(up_.requests(), "arrival_ms");
    ASSERT_EQ(arrivals.size(), 2u) << c.path << ": " << up_.requests();
    EXPECT_GE(arrivals[1] - arrivals[0], c.min_gap) << c.path;
    EXPECT_LT(arrivals[1] - arrivals[0], c.max_gap) << c.path;
  }
  EXPECT_EQ(counter("ra", "5xx"), 2.0);
}

TEST_F(Retry, PostIsNotRetriedUnlessAllowed) {
  ASSERT_TRUE(up_.start({"--name", "p"}));
  startProxy(R"(      - match: { prefix: /plain/ }
        cluster: p
        retry: { max_retries: 2, on: [5xx], budget: { ratio: 100%, min_per_second: 1000 }, backoff: { base: 5ms, max: 20ms } }
      - match: { prefix: /key-on/ }
        cluster: p
        retry: { max_retries: 2, on: [5xx], budget: { ratio: 100%, min_per_second: 1000 }, backoff: { base: 5ms, max: 20ms }, retry_idempotency_key: true }
      - match: { prefix: /key-off/ }
        cluster: p
        retry: { max_retries: 2, on: [5xx], budget: { ratio: 100%, min_per_second: 1000 }, backoff: { base: 5ms, max: 20ms }, retry_idempotency_key: false }
)",
             cluster("p", up_.address()));
  struct Case {
    std::string path;
    std::vector<std::string> args;
    int64_t upstream_requests;
  };
  const std::vector<Case> cases = {
      {"/plain/x?status=503", {"-X", "POST", "--data-binary", "a=1"}, 1},
      {"/plain/x?status=503", {"-X", "GET"}, 3}, // the same route retries an idempotent method
      {"/key-on/x?status=503", {"--data-binary", "a=1", "-H", "Idempotency-Key: k-1"}, 3},
      {"/key-on/x?status=503", {"--data-binary", "a=1"}, 1}, // no key: not retried
      {"/key-off/x?status=503", {"--data-binary", "a=1", "-H", "Idempotency-Key: k-2"}, 1},
  };
  double retries = 0;
  for (const Case& c : cases) {
    ASSERT_TRUE(up_.reset());
    const CurlResult r = curl(c.args, url(c.path));
    EXPECT_EQ(r.status, 503) << c.path;
    EXPECT_EQ(up_.stats()->requests_total, c.upstream_requests) << c.path << " " << c.args[0];
    retries += static_cast<double>(c.upstream_requests - 1);
    EXPECT_EQ(counter("p", "5xx"), retries) << c.path;
  }
}

TEST_F(Retry, ConnectFailureMovesToAnotherEndpoint) {
  ASSERT_TRUE(up_.start({"--name", "good"}));
  const std::string dead = "127.0.0.1:" + std::to_string(freeTcpPort());
  startProxy(R"(      - match: { prefix: / }
        cluster: half
        retry: { max_retries: 1, on: [connect-failure], budget: { ratio: 100%, min_per_second: 1000 }, backoff: { base: 5ms, max: 20ms } }
)",
             cluster("half", dead + ", " + up_.address(),
                     "    load_balancing: round_robin\n    connect_timeout: 200ms\n"));
  for (int i = 0; i < 6; ++i) {
    const CurlResult r = curl({}, url("/c"));
    ASSERT_EQ(r.status, 200) << r.body << r.header("x-seawall-reason").value_or("");
  }
  // Never processed upstream, so even a POST is retried after a connect failure.
  for (int i = 0; i < 4; ++i) {
    const CurlResult r = curl({"--data-binary", "x=1"}, url("/c"));
    ASSERT_EQ(r.status, 200) << r.body << r.header("x-seawall-reason").value_or("");
  }
  EXPECT_EQ(up_.stats()->requests_total, 10);
  EXPECT_GE(counter("half", "connect-failure"), 1.0);
  EXPECT_EQ(counter("half", "5xx"), 0.0);
}

TEST_F(Retry, RetriesAreCountedByReason) {
  ASSERT_TRUE(up_.start({"--name", "r"}));
  startProxy(R"(      - match: { prefix: /5xx/ }
        cluster: r
        retry: { max_retries: 1, on: [5xx], budget: { ratio: 100%, min_per_second: 1000 }, backoff: { base: 5ms, max: 20ms } }
      - match: { prefix: /gw/ }
        cluster: r
        retry: { max_retries: 1, on: [gateway-error], budget: { ratio: 100%, min_per_second: 1000 }, backoff: { base: 5ms, max: 20ms } }
      - match: { prefix: /status/ }
        cluster: r
        retry: { max_retries: 1, on: [retriable-status], retriable_status: [409], budget: { ratio: 100%, min_per_second: 1000 }, backoff: { base: 5ms, max: 20ms } }
      - match: { prefix: /reset/ }
        cluster: r
        retry: { max_retries: 1, on: [reset], budget: { ratio: 100%, min_per_second: 1000 }, backoff: { base: 5ms, max: 20ms } }
)",
             cluster("r", up_.address()));
  struct Case {
    std::string path;
    std::string reason;
    int status; // what the client finally gets
  };
  const std::vector<Case> cases = {
      {"/5xx/x?status=500", "5xx", 500},
      {"/gw/x?status=502", "gateway-error", 502},
      {"/status/x?status=409", "retriable-status", 409},
      {"/reset/x?reset=before_headers", "reset", 502},
  };
  for (const Case& c : cases) {
    ASSERT_TRUE(up_.reset());
    const double before = counter("r", c.reason);
    const CurlResult r = curl({}, url(c.path));
    EXPECT_EQ(r.status, c.status) << c.path;
    EXPECT_EQ(up_.stats()->requests_total, 2) << c.path;
    EXPECT_EQ(counter("r", c.reason), before + 1) << c.path;
  }
  // Not in `on`: a 409 on the 5xx route passes through untried.
  ASSERT_TRUE(up_.reset());
  EXPECT_EQ(curl({}, url("/5xx/x?status=409")).status, 409);
  EXPECT_EQ(up_.stats()->requests_total, 1);
}

TEST_F(Retry, MaxRetriesIsRespected) {
  ASSERT_TRUE(up_.start({"--name", "m", "--status", "503"}));
  startProxy(R"(      - match: { prefix: /zero/ }
        cluster: m
        retry: { max_retries: 0, on: [5xx], budget: { ratio: 100%, min_per_second: 1000 }, backoff: { base: 5ms, max: 20ms } }
      - match: { prefix: /one/ }
        cluster: m
        retry: { max_retries: 1, on: [5xx], budget: { ratio: 100%, min_per_second: 1000 }, backoff: { base: 5ms, max: 20ms } }
      - match: { prefix: /three/ }
        cluster: m
        retry: { max_retries: 3, on: [5xx], budget: { ratio: 100%, min_per_second: 1000 }, backoff: { base: 5ms, max: 20ms } }
      - match: { prefix: /five/ }
        cluster: m
        retry: { max_retries: 5, on: [5xx], budget: { ratio: 100%, min_per_second: 1000 }, backoff: { base: 5ms, max: 20ms } }
)",
             cluster("m", up_.address(), "    limits: { max_retries: 10 }\n"));
  const std::vector<std::pair<std::string, int64_t>> cases = {
      {"/zero/x", 0}, {"/one/x", 1}, {"/three/x", 3}, {"/five/x", 5}};
  double total = 0;
  for (const auto& [path, max_retries] : cases) {
    ASSERT_TRUE(up_.reset());
    EXPECT_EQ(curl({}, url(path)).status, 503) << path;
    EXPECT_EQ(up_.stats()->requests_total, 1 + max_retries) << path;
    total += static_cast<double>(max_retries);
  }
  EXPECT_EQ(counter("m", "5xx"), total);
}

TEST_F(Retry, BufferedBodyIsReplayedIdentically) {
  ASSERT_TRUE(up_.start({"--name", "s"}));
  startProxy(R"(      - match: { prefix: / }
        cluster: s
        retry: { max_retries: 2, on: [5xx], budget: { ratio: 100%, min_per_second: 1000 }, backoff: { base: 5ms, max: 20ms }, retry_non_idempotent: true }
)",
             cluster("s", up_.address()), "    limits: { request_buffer: 8KiB }\n");
  std::string body;
  for (int i = 0; i < 5000; ++i) {
    body.push_back(static_cast<char>('A' + (i * 7 + i / 26) % 26));
  }
  // The upstream's CRC-32 of the body, sent directly.
  const CurlResult direct = curl({"--data-binary", "@-"}, up_.url("/sink"), sending(body));
  ASSERT_EQ(direct.status, 200);
  const auto crc = jsonString(direct.body, "crc32");
  ASSERT_TRUE(crc);
  ASSERT_TRUE(up_.reset());

  const CurlResult r = curl({"--data-binary", "@-"}, url("/sink?status=503"), sending(body));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(jsonString(r.body, "crc32"), crc) << r.body; // the last replay, byte for byte
  const std::vector<int64_t> sizes = jsonNumbers(up_.requests(), "body_bytes");
  EXPECT_EQ(sizes, std::vector<int64_t>(3, static_cast<int64_t>(body.size())));
  EXPECT_EQ(counter("s", "5xx"), 2.0);
}

TEST_F(Retry, BodyLargerThanRequestBufferIsNotRetried) {
  ASSERT_TRUE(up_.start({"--name", "s"}));
  startProxy(R"(      - match: { prefix: / }
        cluster: s
        retry: { max_retries: 2, on: [5xx], budget: { ratio: 100%, min_per_second: 1000 }, backoff: { base: 5ms, max: 20ms }, retry_non_idempotent: true }
)",
             cluster("s", up_.address()), "    limits: { request_buffer: 4KiB }\n");
  const std::vector<std::pair<size_t, int64_t>> cases = {
      {1024, 3},      // kept: replayed twice
      {64 * 1024, 1}, // streamed past request_buffer: sent once
  };
  for (const auto& [size, attempts] : cases) {
    ASSERT_TRUE(up_.reset());
    const CurlResult r =
        curl({"--data-binary", "@-"}, url("/sink?status=503"), sending(std::string(size, 'z')));
    EXPECT_EQ(r.status, 503) << size;
    EXPECT_EQ(jsonNumber(r.body, "bytes"), static_cast<int64_t>(size)) << r.body;
    EXPECT_EQ(up_.stats()->requests_total, attempts) << size;
  }
  EXPECT_EQ(counter("s", "5xx"), 2.0);
}

} // namespace
} // namespace seawall::test
