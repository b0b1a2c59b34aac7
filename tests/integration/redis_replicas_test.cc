// 202 conversion with `async_store: { backend: redis }`: two Seawall processes (two replicas of a
// service's sidecar) share one real redis-server. A job accepted by one is polled, fetched and
// cancelled through the other; a cancel on one aborts the upstream call on the replica that runs
// it; with Redis gone, nothing is accepted that could be lost, and polls say so (503).
#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "tests/harness/curl.h"
#include "tests/harness/json_lite.h"
#include "tests/harness/ports.h"
#include "tests/harness/redis_server.h"
#include "tests/harness/seawall_process.h"
#include "tests/harness/test_upstream.h"

namespace seawall::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

struct Replica {
  SeawallProcess process;
  uint16_t admin = 0;
  uint16_t port = 0;
  std::string url(const std::string& target) const {
    return "http://127.0.0.1:" + std::to_string(port) + target;
  }
};

class RedisReplicasTest : public ::testing::Test {
protected:
  void SetUp() override {
    if (!RedisServer::available()) {
      GTEST_SKIP() << RedisServer::kMissing;
    }
    ASSERT_TRUE(redis_.start());
    ASSERT_TRUE(upstream_.start({"--name", "stock"}));
    for (Replica* r : {&a_, &b_}) {
      r->admin = freeTcpPort();
      r->port = freeTcpPort();
      ASSERT_TRUE(r->process.start(config(*r), r->admin)) << r->process.output();
    }
  }

  std::string config(const Replica& r) const {
    return "admin: { address: 127.0.0.1:" + std::to_string(r.admin) +
           " }\n"
           "workers: 2\n"
           "async_store:\n"
           "  backend: redis\n"
           "  max_jobs: 100\n"
           "  max_bytes: 64MiB\n"
           "  redis: { address: 127.0.0.1:" +
           std::to_string(redis_.port()) +
           ", key_prefix: \"replicas:\" }\n"
           "listeners:\n"
           "  - name: main\n"
           "    address: 127.0.0.1:" +
           std::to_string(r.port) +
           "\n"
           "    routes:\n"
           "      - match: { prefix: /stock/ }\n"
           "        cluster: stock\n"
           "        async: { after: 200ms, retry_after: 1s, retention: 30s }\n"
           "clusters:\n"
           "  - { name: stock, endpoints: [" +
           upstream_.address() + "] }\n";
  }

  static std::string locationOf(const CurlResult& r) {
    EXPECT_EQ(r.status, 202) << r.body << r.err;
    return r.header("location").value_or("");
  }

  // Polls `replica` until the job stops being PROCESSING.
  static CurlResult pollUntilDone(const Replica& replica, const std::string& path) {
    const auto deadline = std::chrono::steady_clock::now() + seconds(8);
    CurlResult r;
    for (int i = 0; i < 200; ++i) {
      r = curl({}, replica.url(path));
      if (r.status != 200 || jsonString(r.body, "state").value_or("") != "PROCESSING" ||
          std::chrono::steady_clock::now() >= deadline) {
        break;
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
    return r;
  }

  RedisServer redis_;
  TestUpstream upstream_;
  Replica a_;
  Replica b_;
};

TEST_F(RedisReplicasTest, AcceptedOnOneReplicaPolledAndFetchedOnTheOther) {
  const std::string target = "/stock/lookup?delay=700ms&body_size=300000&header=x-sku:42";
  auto direct = curl({}, "http://" + upstream_.address() + target);
  ASSERT_EQ(direct.status, 200);

  auto accepted = curl({}, a_.url(target));
  const std::string location = locationOf(accepted);
  ASSERT_FALSE(location.empty());

  // The other replica knows the job at once (h2 client there, to mix both).
  CurlOptions h2;
  h2.http2_prior_knowledge = true;
  auto early = curl({}, b_.url(location), h2);
  EXPECT_EQ(early.status, 200) << early.body;
  EXPECT_EQ(jsonString(early.body, "state").value_or(""), "PROCESSING") << early.body;

  auto done = pollUntilDone(b_, location);
  ASSERT_EQ(done.status, 303) << done.body;
  EXPECT_EQ(done.header("location").value_or(""), location + "/result");

  auto result = curl({}, b_.url(location + "/result"), h2);
  ASSERT_EQ(result.status, 200);
  EXPECT_EQ(result.body.size(), 300000U);
  EXPECT_TRUE(result.body == direct.body)
      << "the result must be the upstream's body, byte for byte";
  EXPECT_EQ(result.header("x-sku").value_or(""), "42");
  EXPECT_EQ(result.header("x-upstream-name").value_or(""), "stock");
  // And on the replica that accepted it too.
  EXPECT_EQ(curl({}, a_.url(location + "/result")).body.size(), 300000U);
  EXPECT_EQ(upstream_.stats()->requests_total, 2) << "one direct call, one through Seawall";
}

TEST_F(RedisReplicasTest, CancelOnTheOtherReplicaAbortsTheUpstreamCall) {
  auto accepted = curl({}, a_.url("/stock/slow?delay=20s"));
  const std::string location = locationOf(accepted);
  ASSERT_FALSE(location.empty());
  ASSERT_EQ(upstream_.stats()->connections_active, 1);

  auto cancelled = curl({"-X", "DELETE"}, b_.url(location));
  EXPECT_EQ(cancelled.status, 204) << cancelled.body;
  auto status = curl({}, a_.url(location));
  EXPECT_EQ(jsonString(status.body, "state").value_or(""), "FAILED") << status.body;
  EXPECT_EQ(jsonString(status.body, "reason").value_or(""), "cancelled") << status.body;
  // Replica A heard the cancel (Redis pub/sub) and aborted its upstream call.
  const auto deadline = std::chrono::steady_clock::now() + seconds(3);
  int64_t active = -1;
  for (int i = 0; i < 300 && std::chrono::steady_clock::now() < deadline; ++i) {
    active = upstream_.stats()->connections_active;
    if (active == 0) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(active, 0) << "the upstream call of a cancelled job must be aborted";
  EXPECT_EQ(curl({"-X", "DELETE"}, b_.url(location)).status, 409);
}

TEST_F(RedisReplicasTest, WithRedisGoneNothingIsAcceptedAndPollsAnswer503) {
  auto accepted = curl({}, a_.url("/stock/x?delay=300ms"));
  const std::string location = locationOf(accepted);
  ASSERT_FALSE(location.empty());
  redis_.kill();

  auto refused = curl({}, a_.url("/stock/y?delay=1s"));
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_EQ(refused.header("x-seawall-reason").value_or(""), "async-store-unavailable");
  EXPECT_FALSE(refused.header("retry-after").value_or("").empty());

  auto poll = curl({}, b_.url(location));
  EXPECT_EQ(poll.status, 503) << poll.body;
  EXPECT_EQ(poll.header("x-seawall-reason").value_or(""), "async-store-unavailable");

  // Redis back on the same port (empty: this test server keeps nothing on disk, so the job died
  // with it and polls say 404, not a stale PROCESSING). Both replicas reconnect by themselves
  // and accept again.
  ASSERT_TRUE(redis_.start());
  CurlResult again;
  const auto deadline = std::chrono::steady_clock::now() + seconds(10);
  for (int i = 0; i < 100 && std::chrono::steady_clock::now() < deadline; ++i) {
    again = curl({}, a_.url("/stock/z?delay=400ms"));
    if (again.status == 202) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(200));
  }
  const std::string next = locationOf(again);
  ASSERT_FALSE(next.empty());
  EXPECT_EQ(curl({}, b_.url(location)).status, 404);
  EXPECT_EQ(pollUntilDone(b_, next).status, 303);
}

} // namespace
} // namespace seawall::test
