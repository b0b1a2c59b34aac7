// The payload of GET /breakers/stream: request counts summed from the metrics, the breaker
// fields, and the ring of transitions found by diffing the runtimes' counters.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "proxy/admin/breaker_snapshot.h"
#include "proxy/stats/metrics.h"
#include "proxy/upstream/cluster_runtime.h"

namespace seawall::proxy::admin {
namespace {

using namespace std::chrono_literals;
using filters::circuit_breaker::Mode;
using filters::circuit_breaker::State;
using TimePoint = std::chrono::steady_clock::time_point;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class BreakerSnapshotTest : public ::testing::Test {
protected:
  BreakerSnapshotTest() {
    config::Cluster inventory;
    inventory.name = "inventory";
    config::BreakerConfig b;
    b.window_calls = 10;
    b.minimum_calls = 4;
    b.failure_rate = 0.5;
    b.slow_call_duration = config::Duration(1000);
    inventory.breaker = b;
    config::Cluster plain;
    plain.name = "plain";
    runtimes_.push_back(std::make_unique<ClusterRuntime>(plain));
    runtimes_.push_back(std::make_unique<ClusterRuntime>(inventory));
  }

  ClusterRuntime& inventory() { return *runtimes_[1]; }
  std::vector<ClusterRuntime*> runtimes() {
    return {runtimes_[1].get(), runtimes_[0].get()}; // unsorted on purpose
  }
  void trip() {
    for (int i = 0; i < 4; ++i) {
      inventory().breaker()->onResult(now_, true, 1ms);
    }
    ASSERT_EQ(State::Open, inventory().breaker()->state(now_));
  }

  TimePoint now_ = TimePoint(1000s);
  std::vector<std::unique_ptr<ClusterRuntime>> runtimes_;
};

TEST(RequestCounts, SumsListenersAndCountsFiveHundredsAsErrors) {
  stats::Metrics metrics("test");
  stats::WorkerStats& w1 = metrics.addWorker();
  stats::WorkerStats& w2 = metrics.addWorker();
  w1.requests("main", "inventory").record(200, 0.01);
  w1.requests("main", "inventory").record(503, 0.01);
  w2.requests("other", "inventory").record(504, 0.01);
  w2.requests("main", "inventory").record(404, 0.01);
  w2.requests("main", "plain").record(200, 0.01);
  w2.requests("main", "plain").record(599, 0.01);
  w2.requests("main", "plain").record(600, 0.01); // "other": not a 5xx
  const RequestCountMap counts = requestCounts(metrics.Collect());
  ASSERT_EQ(counts.count("inventory"), 1U);
  EXPECT_EQ(counts.at("inventory").requests, 4U);
  EXPECT_EQ(counts.at("inventory").errors, 2U);
  ASSERT_EQ(counts.count("plain"), 1U);
  EXPECT_EQ(counts.at("plain").requests, 3U);
  EXPECT_EQ(counts.at("plain").errors, 1U);
}

TEST(RequestCounts, EmptyWithoutRequests) {
  stats::Metrics metrics("test");
  metrics.addWorker();
  EXPECT_TRUE(requestCounts(metrics.Collect()).empty());
}

TEST_F(BreakerSnapshotTest, RendersEveryClusterSortedWithCounts) {
  BreakerSnapshots snapshots;
  RequestCountMap counts;
  counts["inventory"] = RequestCounts{12, 5};
  const std::string json = snapshots.render(runtimes(), counts, now_, 1700000000123);
  EXPECT_EQ(json.rfind(R"({"at":1700000000123,"clusters":[{"name":"inventory",)", 0), 0U) << json;
  EXPECT_TRUE(contains(json, R"("breaker":true,"state":"closed","mode":"normal",)"
                             R"("window":{"calls":0,"failure_rate":0,"slow_rate":0},)"
                             R"("requests":12,"errors":5,"transitions":[]})"))
      << json;
  EXPECT_TRUE(contains(json, R"({"name":"plain","breaker":false,"state":"disabled",)"
                             R"("mode":"disabled",)"))
      << json;
  EXPECT_TRUE(contains(json, R"("requests":0,"errors":0,"transitions":[]}]})")) << json;
  EXPECT_EQ(json.find('\n'), std::string::npos) << "one SSE data line";
}

TEST_F(BreakerSnapshotTest, RecordsTransitionsWithTheTimeTheyWereSeen) {
  BreakerSnapshots snapshots;
  snapshots.observe(runtimes(), 1000);
  EXPECT_TRUE(snapshots.recent("inventory").empty());
  trip();
  snapshots.observe(runtimes(), 2000);
  snapshots.observe(runtimes(), 3000); // nothing new
  auto recent = snapshots.recent("inventory");
  ASSERT_EQ(recent.size(), 1U);
  EXPECT_EQ(recent[0].unix_ms, 2000);
  EXPECT_EQ(recent[0].from, State::Closed);
  EXPECT_EQ(recent[0].to, State::Open);
  const std::string json = snapshots.render(runtimes(), {}, now_, 4000);
  EXPECT_TRUE(contains(json, R"("state":"open")")) << json;
  EXPECT_TRUE(contains(json, R"("transitions":[{"at":2000,"from":"closed","to":"open"}])")) << json;
  EXPECT_TRUE(snapshots.recent("plain").empty());
  EXPECT_TRUE(snapshots.recent("unknown").empty());
}

TEST_F(BreakerSnapshotTest, RenderSeesTheHalfOpenMoveItCauses) {
  BreakerSnapshots snapshots;
  trip();
  snapshots.observe(runtimes(), 1000);
  // open_for (default 5s) has passed: reading the state moves it to half_open, and the same
  // snapshot lists that transition.
  const std::string json = snapshots.render(runtimes(), {}, now_ + 6s, 7000);
  EXPECT_TRUE(contains(json, R"("state":"half_open")")) << json;
  EXPECT_TRUE(contains(json, R"({"at":7000,"from":"open","to":"half_open"})")) << json;
}

TEST_F(BreakerSnapshotTest, KeepsOnlyTheLastTransitions) {
  BreakerSnapshots snapshots;
  snapshots.observe(runtimes(), 0);
  for (int64_t i = 1; i <= 6; ++i) { // 12 transitions: closed -> forced_open -> closed, ...
    inventory().breaker()->setMode(Mode::ForcedOpen);
    snapshots.observe(runtimes(), i * 100);
    inventory().breaker()->setMode(Mode::Normal);
    snapshots.observe(runtimes(), (i * 100) + 50);
  }
  auto recent = snapshots.recent("inventory");
  ASSERT_EQ(recent.size(), BreakerSnapshots::kRecentTransitions);
  EXPECT_EQ(recent.back().unix_ms, 650);
  EXPECT_EQ(recent.back().from, State::ForcedOpen);
  EXPECT_EQ(recent.back().to, State::Closed);
  EXPECT_EQ(recent.front().unix_ms, 300); // the 5th of 12: the first 4 were dropped
  EXPECT_EQ(recent.front().to, State::ForcedOpen);
}

TEST_F(BreakerSnapshotTest, SeveralTransitionsBetweenTwoObservations) {
  BreakerSnapshots snapshots;
  snapshots.observe(runtimes(), 0);
  inventory().breaker()->setMode(Mode::ForcedOpen);
  inventory().breaker()->setMode(Mode::Normal);
  snapshots.observe(runtimes(), 500);
  auto recent = snapshots.recent("inventory");
  ASSERT_EQ(recent.size(), 2U);
  EXPECT_EQ(recent[0].unix_ms, 500);
  EXPECT_EQ(recent[1].unix_ms, 500);
}

TEST_F(BreakerSnapshotTest, FirstObservationCountsFromZero) {
  trip(); // before anyone observed: runtimes are created with the server, so it counts
  BreakerSnapshots snapshots;
  snapshots.observe(runtimes(), 42);
  auto recent = snapshots.recent("inventory");
  ASSERT_EQ(recent.size(), 1U);
  EXPECT_EQ(recent[0].unix_ms, 42);
}

} // namespace
} // namespace seawall::proxy::admin
