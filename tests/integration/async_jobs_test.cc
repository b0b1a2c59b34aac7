// 202 conversion, the job's lifecycle: DELETE cancels and aborts the upstream call, jobs expire
// after `retention` (404), a full store refuses with 503, upstream failures and oversized results
// end the job FAILED with a reason, and the job URLs answer errors precisely. h1 and h2 clients.
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "tests/harness/process.h"
#include "tests/integration/async_test_base.h"

namespace seawall::test {
namespace {

using std::chrono::milliseconds;

constexpr const char* kUnknownId = "/.seawall/jobs/0123456789abcdef0123456789abcdef";

class AsyncJobs : public AsyncTest, public ::testing::WithParamInterface<Client> {
protected:
  // A route /j/ on the h1 cluster with `async_yaml` as its async block.
  void startRoute(const std::string& async_yaml, const std::string& extra = "",
                  const std::string& store = kDefaultStore) {
    startWith("      - match: { prefix: /j/ }\n        cluster: h1\n" + extra +
                  "        async: " + async_yaml + "\n",
              store);
  }
  // Sends `target` and expects a 202; returns the status path.
  std::string accept(const std::string& target) {
    return expectAccepted(fetch(target, GetParam()));
  }
  // The job's status once it stopped being PROCESSING, expected FAILED with `reason`.
  void expectFailed(const std::string& status_path, const std::string& reason) {
    auto r = pollUntilDone(status_path, GetParam());
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(jsonString(r.body, "state").value_or(""), "FAILED") << r.body;
    EXPECT_EQ(jsonString(r.body, "reason").value_or(""), reason) << r.body;
    auto result = fetch(status_path + "/result", GetParam());
    EXPECT_EQ(result.status, 409) << result.body;
  }
};

INSTANTIATE_TEST_SUITE_P(Clients, AsyncJobs, ::testing::Values(Client::H1, Client::H2), clientName);

TEST_P(AsyncJobs, DeleteCancelsAndAbortsTheUpstreamCall) {
  startRoute("{ after: 200ms }");
  const std::string status_path = accept("/j/x?delay=5000");
  ASSERT_FALSE(status_path.empty());
  ASSERT_TRUE(upstreamActiveBecomes(h1_, 1, milliseconds(2000)));
  auto del = fetch(status_path, GetParam(), {"-X", "DELETE"});
  EXPECT_EQ(del.status, 204) << del.body;
  // The upstream sees its connection closed (an h1 exchange can only be aborted that way),
  // long before its 5s delay is over.
  EXPECT_TRUE(upstreamActiveBecomes(h1_, 0, milliseconds(2000)));
  expectFailed(status_path, "cancelled");
  auto again = fetch(status_path, GetParam(), {"-X", "DELETE"});
  EXPECT_EQ(again.status, 409) << again.body;
  EXPECT_EQ(fetch(kUnknownId, GetParam(), {"-X", "DELETE"}).status, 404);
  EXPECT_TRUE(metricBecomes(total("failed"), 1));
  EXPECT_TRUE(metricBecomes(jobs("failed"), 1));
  EXPECT_TRUE(metricBecomes(jobs("processing"), 0));
  EXPECT_TRUE(metricBecomes(total("completed"), 0));
  EXPECT_EQ(h1_.stats()->requests_total, 1); // not retried
}

// Callbacks: the job's outcome is POSTed to the allowed callback URL; a receiver that is down at
// first gets it once it listens (retried with backoff); a URL outside callback_allow gets nothing.
TEST_P(AsyncJobs, CallbackIsDeliveredAndRetriedUntilTheReceiverListens) {
  const uint16_t receiver_port = freeTcpPort();
  startRoute("{ after: 100ms, retention: 60s, callback_header: callback-url, "
             "callback_allow: [127.0.0.1] }");
  const std::string hook =
      "http://127.0.0.1:" + std::to_string(receiver_port) + "/hooks/done?from=seawall";
  auto accepted =
      fetch("/j/cb?delay=300&header=x-result:42", GetParam(), {"-H", "callback-url: " + hook});
  const std::string status_path = expectAccepted(accepted);
  ASSERT_FALSE(status_path.empty());
  const std::string id = status_path.substr(status_path.rfind('/') + 1);
  EXPECT_EQ(pollUntilDone(status_path, GetParam()).status, 303);
  // Nothing listens yet: the first attempt is refused and retried with backoff (base 1s).
  std::this_thread::sleep_for(milliseconds(300));
  TestUpstream receiver;
  ASSERT_TRUE(receiver.start({"--listen", "127.0.0.1:" + std::to_string(receiver_port)}));
  ASSERT_TRUE(receiver.waitForRequests(1, std::chrono::seconds(8)));
  const std::string log = receiver.requests();
  EXPECT_NE(log.find("\"method\":\"POST\""), std::string::npos) << log;
  EXPECT_NE(log.find("/hooks/done?from=seawall"), std::string::npos) << log;
  EXPECT_NE(log.find(id), std::string::npos) << "x-seawall-job-id: " << log;
  EXPECT_NE(log.find("COMPLETED"), std::string::npos) << log;
  EXPECT_TRUE(metricBecomes("seawall_callbacks_total{outcome=\"delivered\"}", 1));
  EXPECT_GE(metric("seawall_callbacks_total{outcome=\"retried\"}").value_or(0), 1);

  // Not in callback_allow: refused, never sent; the job itself is unaffected.
  auto other = fetch("/j/cb2?delay=300", GetParam(), {"-H", "callback-url: http://10.0.0.1:9/x"});
  const std::string other_path = expectAccepted(other);
  EXPECT_EQ(pollUntilDone(other_path, GetParam()).status, 303);
  EXPECT_TRUE(metricBecomes("seawall_callbacks_total{outcome=\"refused\"}", 1));
}

// Hold while down: the cluster refuses connections, so the request is accepted as a job at once
// and sent again with backoff; once an upstream listens, the job completes with its answer. A
// POST without Idempotency-Key is not held: it fails as usual.
TEST_P(AsyncJobs, HeldWhileDownThenDeliveredWhenTheClusterAnswers) {
  ASSERT_TRUE(h1_.start({"--name", "up-h1"}));
  ASSERT_TRUE(h2_.start({"--name", "up-h2"}));
  admin_port_ = freeTcpPort();
  port_ = freeTcpPort();
  const uint16_t later_port = freeTcpPort();
  ProxyOptions o;
  o.top_extra = kDefaultStore;
  o.clusters_extra = "  - name: later\n    endpoints: [127.0.0.1:" + std::to_string(later_port) +
                     "]\n    connect_timeout: 200ms\n";
  std::string yaml = proxyConfig(admin_port_, port_, h1_.port(), h2_.port(), o);
  yaml.replace(yaml.find("    routes:\n") + 12, 0,
               "      - match: { prefix: /held/ }\n        cluster: later\n"
               "        async: { after: 5s, retention: 30s, queue_while_down: true }\n");
  ASSERT_TRUE(proxy_.start(yaml, admin_port_)) << proxy_.output() << "\n" << yaml;

  const auto t0 = std::chrono::steady_clock::now();
  auto accepted = fetch("/held/order?sku=7", GetParam());
  const std::string status_path = expectAccepted(accepted);
  ASSERT_FALSE(status_path.empty());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3))
      << "held at once, not after `after` (5s)";
  auto pending = fetch(status_path, GetParam());
  EXPECT_EQ(jsonString(pending.body, "state").value_or(""), "PROCESSING") << pending.body;

  // (No body: over h2 a reply before the body was read ends with RST_STREAM(NO_ERROR), which curl
  // 7.88 reports as an error.)
  auto post = fetch("/held/order", GetParam(), {"-X", "POST"});
  EXPECT_EQ(post.status, 503) << "a POST without Idempotency-Key is never held";

  TestUpstream later;
  ASSERT_TRUE(later.start({"--listen", "127.0.0.1:" + std::to_string(later_port)}));
  auto done = pollUntilDone(status_path, GetParam(), std::chrono::seconds(10));
  EXPECT_EQ(done.status, 303) << done.body;
  auto result = fetch(status_path + "/result", GetParam());
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(later.stats()->requests_total, 1) << "delivered once";
  EXPECT_TRUE(metricBecomes(total("completed"), 1));
}

TEST_P(AsyncJobs, ExpiredJobsAnswer404) {
  startRoute("{ after: 100ms, retry_after: 1s, retention: 1s }");
  const auto t0 = std::chrono::steady_clock::now();
  // One job that completes within its retention, one still running when it expires.
  const std::string finished = accept("/j/x?delay=300");
  const std::string running = accept("/j/x?delay=2500");
  ASSERT_FALSE(finished.empty());
  ASSERT_FALSE(running.empty());
  EXPECT_EQ(pollUntilDone(finished, GetParam()).status, 303);
  std::this_thread::sleep_until(t0 + milliseconds(1500));
  EXPECT_EQ(fetch(finished, GetParam()).status, 404);
  EXPECT_EQ(fetch(finished + "/result", GetParam()).status, 404);
  EXPECT_EQ(fetch(running, GetParam()).status, 404);
  EXPECT_TRUE(metricBecomes(total("expired"), 2));
  EXPECT_TRUE(metricBecomes(jobs("processing"), 0));
  EXPECT_TRUE(metricBecomes(jobs("completed"), 0));
  EXPECT_TRUE(metricBecomes("seawall_async_store_bytes", 0));
  // The expired job's upstream call ends later: it does not bring the job back.
  ASSERT_TRUE(h1_.waitForRequests(2));
  std::this_thread::sleep_until(t0 + milliseconds(2800));
  EXPECT_EQ(fetch(running, GetParam()).status, 404);
  EXPECT_TRUE(metricBecomes(total("completed"), 1));
  EXPECT_TRUE(metricBecomes(jobs("completed"), 0));
}

TEST_P(AsyncJobs, FullStoreRejectsWith503) {
  startRoute("{ after: 200ms, retry_after: 3s, max_result_bytes: 512KiB }", "",
             "async_store: { backend: memory, max_jobs: 1, max_bytes: 1MiB }\n");
  auto first = fetch("/j/x?delay=3000", GetParam());
  ASSERT_EQ(first.status, 202);
  auto second = fetch("/j/y?delay=3000", GetParam());
  EXPECT_EQ(second.status, 503) << second.body;
  EXPECT_EQ(second.header("x-seawall-reason").value_or(""), "async-store-full");
  EXPECT_EQ(second.header("retry-after").value_or(""), "3");
  EXPECT_FALSE(second.header("location"));
  EXPECT_LT(second.elapsed, milliseconds(1500)); // at `after`, not at the upstream's answer
  // Nothing was accepted for it: its upstream call is aborted, the first job's goes on.
  EXPECT_TRUE(upstreamActiveBecomes(h1_, 1, milliseconds(2000)));
  // A fast response is not affected by a full store.
  EXPECT_EQ(fetch("/j/z?delay=10", GetParam()).status, 200);
  EXPECT_TRUE(metricBecomes(total("rejected"), 1));
  EXPECT_TRUE(metricBecomes(total("accepted"), 1));
  EXPECT_TRUE(metricBecomes(jobs("processing"), 1));
}

TEST_P(AsyncJobs, RequestTimeoutAfterConversionFailsTheJob) {
  startRoute("{ after: 200ms }", "        timeout: 700ms\n");
  const std::string status_path = accept("/j/x?delay=3000");
  ASSERT_FALSE(status_path.empty());
  expectFailed(status_path, "timeout-request");
  EXPECT_TRUE(metricBecomes(total("failed"), 1));
  EXPECT_TRUE(metricBecomes(R"(seawall_timeouts_total{cluster="h1",kind="request"})", 1));
}

TEST_P(AsyncJobs, UpstreamResetAfterConversionFailsTheJob) {
  startRoute("{ after: 200ms }");
  const std::string before_headers = accept("/j/x?delay=600&reset=before_headers");
  const std::string mid_body = accept("/j/y?delay=600&reset=mid_body&body_size=100000");
  ASSERT_FALSE(before_headers.empty());
  ASSERT_FALSE(mid_body.empty());
  expectFailed(before_headers, "upstream-reset");
  expectFailed(mid_body, "upstream-reset");
  EXPECT_TRUE(metricBecomes(total("failed"), 2));
  EXPECT_TRUE(metricBecomes(total("completed"), 0));
}

TEST_P(AsyncJobs, ResultTooLargeFailsTheJob) {
  startRoute("{ after: 200ms, max_result_bytes: 1KiB }");
  const std::string status_path = accept("/j/x?delay=500&body_size=5000");
  ASSERT_FALSE(status_path.empty());
  expectFailed(status_path, "result-too-large");
  EXPECT_TRUE(metricBecomes(total("failed"), 1));
  EXPECT_TRUE(metricBecomes(jobs("failed"), 1));
  EXPECT_LT(metric("seawall_async_store_bytes").value_or(1e9), 2000); // the body was not kept
  // A result just under the bound is kept.
  const std::string small = accept("/j/y?delay=500&body_size=900");
  ASSERT_FALSE(small.empty());
  EXPECT_EQ(pollUntilDone(small, GetParam()).status, 303);
  // docs/config.md: result_too_large is counted too (and in failed).
  EXPECT_TRUE(metricBecomes(total("result_too_large"), 1));
}

TEST_P(AsyncJobs, JobUrlErrors) {
  startRoute("{ after: 200ms }");
  EXPECT_EQ(fetch(kUnknownId, GetParam()).status, 404);
  EXPECT_EQ(fetch(std::string(kUnknownId) + "/result", GetParam()).status, 404);
  EXPECT_EQ(fetch("/.seawall/jobs/not-an-id", GetParam()).status, 404);
  const std::string status_path = accept("/j/x?delay=1500");
  ASSERT_FALSE(status_path.empty());
  auto early = fetch(status_path + "/result", GetParam());
  EXPECT_EQ(early.status, 409) << early.body; // not completed yet
  EXPECT_EQ(jsonString(early.body, "state").value_or(""), "PROCESSING") << early.body;
  // (No request body: over h2 the early 405 is followed by RST_STREAM(NO_ERROR) for the unread
  // body, which curl 7.88 reports as exit 92.)
  auto post = fetch(status_path, GetParam(), {"-X", "POST"});
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.header("allow").value_or(""), "GET, DELETE");
  EXPECT_EQ(fetch(status_path + "/result", GetParam(), {"-X", "DELETE"}).status, 405);
  EXPECT_EQ(pollUntilDone(status_path, GetParam()).status, 303);
}

// The store's max_bytes bounds results too: of two 40 KB results with 64 KiB in all, one is kept
// and the other ends FAILED result-too-large (counted by the store).
class AsyncStore : public AsyncTest {};

TEST_F(AsyncStore, StoreBytesBoundFailsTheResultThatDoesNotFit) {
  startWith("      - match: { prefix: /j/ }\n        cluster: h1\n"
            "        async: { after: 200ms, max_result_bytes: 60KiB }\n",
            "async_store: { backend: memory, max_jobs: 10, max_bytes: 64KiB }\n");
  const std::string a = expectAccepted(fetch("/j/a?delay=500&body_size=40000", Client::H1));
  const std::string b = expectAccepted(fetch("/j/b?delay=800&body_size=40000", Client::H2));
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(b.empty());
  EXPECT_EQ(pollUntilDone(a, Client::H1).status, 303);
  auto second = pollUntilDone(b, Client::H1);
  EXPECT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(jsonString(second.body, "reason").value_or(""), "result-too-large") << second.body;
  EXPECT_TRUE(metricBecomes(total("completed"), 1));
  EXPECT_TRUE(metricBecomes(total("failed"), 1));
  EXPECT_TRUE(metricBecomes(total("result_too_large"), 1));
  EXPECT_LE(metric("seawall_async_store_bytes").value_or(1e9), 65536);
}

} // namespace
} // namespace seawall::test
