// 202 conversion, the client's view: fast responses pass through, slow ones become jobs that the
// client polls (PROCESSING, then 303 to the result), the result is the upstream's response as it
// was, a client can drop its connection after the 202 and resume later, Prefer (RFC 7240) selects
// and shortens conversion, and the async metrics pass promtool. h1 and h2 clients both.
#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "tests/harness/command.h"
#include "tests/integration/async_test_base.h"

namespace seawall::test {
namespace {

using std::chrono::milliseconds;

// /a/ (h1 cluster) and /a2/ (h2 cluster): always converted after 200ms; /p/ only with
// `Prefer: respond-async`; /w/ after 5s unless `Prefer: wait=N` asks for less.
constexpr const char* kRoutes = R"(      - match: { prefix: /a/ }
        cluster: h1
        async: { after: 200ms, retry_after: 2s, retention: 30s, max_result_bytes: 32MiB }
      - match: { prefix: /a2/ }
        cluster: h2
        async: { after: 200ms, retry_after: 2s, retention: 30s, max_result_bytes: 32MiB }
      - match: { prefix: /p/ }
        cluster: h1
        async: { after: 200ms, when: prefer-respond-async }
      - match: { prefix: /w/ }
        cluster: h1
        async: { after: 5s }
)";

// Headers that describe the connection or the moment, not the response, and the proxy's own `via`:
// left out of comparisons.
std::vector<std::pair<std::string, std::string>> comparableHeaders(const CurlResult& r) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, value] : r.headers) {
    if (name != "date" && name != "content-length" && name != "connection" &&
        name != "keep-alive" && name != "transfer-encoding" && name != "via") {
      out.emplace_back(name, value);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string describe(const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string s;
  for (const auto& [name, value] : headers) {
    s.append(name).append(": ").append(value).append("\n");
  }
  return s;
}

// The value of header `name` (lowercase) in a raw HTTP/1.1 head, "" if absent.
std::string rawHeader(const std::string& raw, const std::string& name) {
  std::string lower = raw;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const size_t at = lower.find("\r\n" + name + ":");
  if (at == std::string::npos) {
    return "";
  }
  const size_t start = raw.find_first_not_of(' ', at + 3 + name.size());
  const size_t end = raw.find("\r\n", start);
  return raw.substr(start, end - start);
}

class Async202 : public AsyncTest, public ::testing::WithParamInterface<Client> {
protected:
  void SetUp() override { startWith(kRoutes); }
};

INSTANTIATE_TEST_SUITE_P(Clients, Async202, ::testing::Values(Client::H1, Client::H2), clientName);

TEST_P(Async202, FastResponsePassesThroughUnchanged) {
  auto r = fetch("/a/fast?delay=50&header=x-custom:fast", GetParam());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok up-h1 /a/fast\n");
  EXPECT_EQ(r.header("x-upstream-name").value_or(""), "up-h1");
  EXPECT_EQ(r.header("x-custom").value_or(""), "fast");
  EXPECT_FALSE(r.header("location"));
  EXPECT_FALSE(r.header("x-status-url"));
  // A response whose headers came before `after` is never converted, however long its body takes.
  auto streamed = fetch("/a/s?body_size=4000&chunks=4&chunk_delay=150", GetParam());
  EXPECT_EQ(streamed.status, 200);
  EXPECT_EQ(streamed.body.size(), 4000U);
  EXPECT_GE(streamed.elapsed, milliseconds(400));
  EXPECT_FALSE(streamed.header("location"));
  EXPECT_TRUE(metricBecomes(total("accepted"), 0));
  EXPECT_TRUE(metricBecomes(jobs("processing"), 0));
  EXPECT_TRUE(metricBecomes("seawall_async_store_bytes", 0));
}

TEST_P(Async202, ClientDropsConnectionAfter202AndResumesLater) {
  const std::string target = "/a/slow?delay=1500&header=x-custom:resumed";
  std::string status_path;
  if (GetParam() == Client::H1) {
    RawConnection c;
    ASSERT_TRUE(c.connect(port_));
    ASSERT_TRUE(c.send("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    auto accepted = c.readUntil("\"}", std::chrono::seconds(3));
    ASSERT_TRUE(accepted) << c.received();
    EXPECT_EQ(accepted->rfind("HTTP/1.1 202", 0), 0U) << *accepted;
    status_path = rawHeader(*accepted, "location");
    ASSERT_TRUE(status_path.starts_with("/.seawall/jobs/")) << *accepted;
    // The connection that got the 202 is still usable: a first poll on it.
    ASSERT_TRUE(c.send("GET " + status_path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    auto polled = c.readUntil("\"method\":\"GET\"", std::chrono::seconds(3));
    ASSERT_TRUE(polled) << c.received();
    EXPECT_NE(polled->find("HTTP/1.1 200", accepted->size()), std::string::npos) << *polled;
    c.close(); // gone, with the upstream call still running
  } else {
    status_path = expectAccepted(fetch(target, Client::H2), "2");
    ASSERT_FALSE(status_path.empty());
  }
  std::this_thread::sleep_for(milliseconds(300));
  auto pending = fetch(status_path, GetParam()); // a new connection
  EXPECT_EQ(pending.status, 200) << pending.body;
  EXPECT_EQ(jsonString(pending.body, "state").value_or(""), "PROCESSING") << pending.body;
  auto done = pollUntilDone(status_path, GetParam());
  ASSERT_EQ(done.status, 303) << done.body;
  auto result = fetch(done.header("location").value_or(""), GetParam());
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body, "ok up-h1 /a/slow\n");
  EXPECT_EQ(result.header("x-custom").value_or(""), "resumed");
  EXPECT_EQ(h1_.stats()->requests_total, 1); // one upstream call, not replayed
  EXPECT_TRUE(metricBecomes(total("accepted"), 1));
  EXPECT_TRUE(metricBecomes(total("completed"), 1));
}

TEST_P(Async202, PreferRespondAsyncConvertsOnlyWhenAsked) {
  auto plain = fetch("/p/x?delay=1200", GetParam());
  EXPECT_EQ(plain.status, 200);
  EXPECT_GE(plain.elapsed, milliseconds(1100));
  EXPECT_FALSE(plain.header("location"));
  EXPECT_TRUE(metricBecomes(total("accepted"), 0));

  auto asked = fetch("/p/x?delay=1200", GetParam(), {"-H", "Prefer: respond-async"});
  EXPECT_FALSE(expectAccepted(asked).empty());
  EXPECT_LT(asked.elapsed, milliseconds(1000));
  EXPECT_TRUE(metricBecomes(total("accepted"), 1));
}

TEST_P(Async202, PreferWaitLowersAfter) {
  // `after` is 5s on /w/; `Prefer: wait=1` converts at 1s.
  auto waited = fetch("/w/x?delay=2500", GetParam(), {"-H", "Prefer: wait=1"});
  EXPECT_FALSE(expectAccepted(waited).empty());
  EXPECT_GE(waited.elapsed, milliseconds(900));
  EXPECT_LT(waited.elapsed, milliseconds(2000));
  // Faster than the wait: passes through.
  auto fast = fetch("/w/x?delay=300", GetParam(), {"-H", "Prefer: wait=1"});
  EXPECT_EQ(fast.status, 200);
  EXPECT_FALSE(fast.header("location"));
  EXPECT_TRUE(metricBecomes(total("accepted"), 1));
}

// The route's retry_after (2s) should be the Retry-After of a pending job's status too
// (docs/config.md `retry_after`: "the Retry-After of the 202 and of a pending job's status").
TEST_P(Async202, PendingStatusCarriesRouteRetryAfter) {
  auto accepted = fetch("/a/x?delay=1500", GetParam());
  const std::string status_path = expectAccepted(accepted, "2");
  ASSERT_FALSE(status_path.empty());
  auto pending = fetch(status_path, GetParam());
  ASSERT_EQ(pending.status, 200);
  EXPECT_EQ(jsonString(pending.body, "state").value_or(""), "PROCESSING");
  ASSERT_TRUE(pending.header("retry-after"));
  EXPECT_EQ(pending.header("retry-after").value_or(""), "2");
}

// ---- The result is the upstream's response as it was: h1/h2 client x h1/h2 upstream ----

class AsyncResult : public AsyncTest,
                    public ::testing::WithParamInterface<std::tuple<Client, bool>> {
protected:
  void SetUp() override { startWith(kRoutes); }
};

std::string resultName(const ::testing::TestParamInfo<std::tuple<Client, bool>>& info) {
  return std::string(std::get<0>(info.param) == Client::H1 ? "h1" : "h2") + "_client_" +
         (std::get<1>(info.param) ? "h2" : "h1") + "_upstream";
}

INSTANTIATE_TEST_SUITE_P(Protocols, AsyncResult,
                         ::testing::Combine(::testing::Values(Client::H1, Client::H2),
                                            ::testing::Bool()),
                         resultName);

TEST_P(AsyncResult, SlowResponseBecomesJobWhoseResultIsByteIdentical) {
  const auto [client, h2_upstream] = GetParam();
  const std::string prefix = h2_upstream ? "/a2/big" : "/a/big";
  const std::string knobs = "status=201&body_size=10485760&header=x-custom:abc&header=x-two:2";
  const std::string target = prefix + "?delay=1500&" + knobs;

  auto accepted = fetch(target, client);
  const std::string status_path = expectAccepted(accepted, "2");
  ASSERT_FALSE(status_path.empty()) << accepted.err;
  EXPECT_LT(accepted.elapsed, milliseconds(1200));
  EXPECT_TRUE(metricBecomes(jobs("processing"), 1));

  auto pending = fetch(status_path, client);
  EXPECT_EQ(pending.status, 200);
  EXPECT_EQ(jsonString(pending.body, "state").value_or(""), "PROCESSING") << pending.body;
  EXPECT_TRUE(pending.header("retry-after")) << describe(pending.headers);

  auto done = pollUntilDone(status_path, client);
  ASSERT_EQ(done.status, 303) << done.body;
  EXPECT_EQ(done.header("location").value_or(""), status_path + "/result");
  EXPECT_EQ(jsonString(done.body, "state").value_or(""), "COMPLETED") << done.body;
  EXPECT_EQ(jsonString(done.body, "result_url").value_or(""), status_path + "/result");

  // What the upstream sends for the same request, directly (same protocol as the cluster).
  CurlOptions direct_options;
  direct_options.http2_prior_knowledge = h2_upstream;
  const TestUpstream& up = h2_upstream ? h2_ : h1_;
  auto direct = curl({}, up.url(prefix + "?" + knobs), direct_options);
  ASSERT_EQ(direct.status, 201);
  ASSERT_EQ(direct.body.size(), 10485760U);

  // Fetched twice, once per client protocol: results are kept, not consumed.
  for (Client reader : {client, client == Client::H1 ? Client::H2 : Client::H1}) {
    auto result = fetch(status_path + "/result", reader);
    EXPECT_EQ(result.status, 201);
    EXPECT_EQ(result.body.size(), direct.body.size());
    EXPECT_TRUE(result.body == direct.body) << "the 10 MiB body differs";
    EXPECT_EQ(comparableHeaders(result), comparableHeaders(direct))
        << "result:\n"
        << describe(comparableHeaders(result)) << "direct:\n"
        << describe(comparableHeaders(direct));
    EXPECT_EQ(result.header("x-upstream-name").value_or(""), h2_upstream ? "up-h2" : "up-h1");
    // The proxy's `via`, as the original client would have got it passed through, once.
    EXPECT_EQ(result.headerCount("via"), 1U);
    EXPECT_EQ(result.header("via").value_or(""),
              client == Client::H1 ? "1.1 seawall" : "2 seawall");
    EXPECT_EQ(result.header("content-length").value_or("10485760"), "10485760");
  }
  EXPECT_TRUE(metricBecomes(total("completed"), 1));
  EXPECT_TRUE(metricBecomes(jobs("completed"), 1));
  EXPECT_TRUE(metricBecomes(jobs("processing"), 0));
  auto bytes = metric("seawall_async_store_bytes");
  ASSERT_TRUE(bytes);
  EXPECT_GE(*bytes, 10485760.0);
  EXPECT_LT(*bytes, 10485760.0 + 4096);
}

// ---- Metrics ----

class AsyncMetrics : public AsyncTest {};

TEST_F(AsyncMetrics, PassPromtool) {
  startWith(kRoutes);
  const std::string status_path = expectAccepted(fetch("/a/x?delay=400", Client::H1), "2");
  ASSERT_FALSE(status_path.empty());
  ASSERT_EQ(pollUntilDone(status_path, Client::H1).status, 303);
  auto reply = proxy_.admin("GET", "/metrics");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200);
  for (const char* family :
       {"seawall_async_jobs", "seawall_async_jobs_total", "seawall_async_store_bytes"}) {
    EXPECT_NE(reply->body.find(std::string("# TYPE ") + family + " "), std::string::npos) << family;
  }
  for (const char* state : {"processing", "completed", "failed"}) {
    EXPECT_TRUE(metric(jobs(state))) << state;
  }
  for (const char* outcome :
       {"accepted", "rejected", "completed", "failed", "result_too_large", "expired"}) {
    EXPECT_TRUE(metric(total(outcome))) << outcome;
  }
  EXPECT_EQ(metric(total("accepted")), 1);
  EXPECT_EQ(metric(total("completed")), 1);
  if (runCommand({"sh", "-c", "command -v promtool"}).exit_code != 0) {
    GTEST_SKIP() << "promtool is not installed (Debian package prometheus): NOT CHECKED";
  }
  auto check = runCommand({"promtool", "check", "metrics"}, std::chrono::seconds(20), reply->body);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

} // namespace
} // namespace seawall::test
