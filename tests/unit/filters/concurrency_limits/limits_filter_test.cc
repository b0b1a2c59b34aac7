#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "filters/concurrency_limits/limits_filter.h"
#include "proxy/stats/worker_stats.h"
#include "proxy/upstream/cluster_runtime.h"
#include "tests/unit/proxy/fake_stream_control.h"

namespace seawall::filters::concurrency_limits {
namespace {

using proxy::AttemptResult;
using proxy::FilterStatus;
using proxy::stats::OverflowLimit;

config::Cluster clusterConfig(uint32_t max_requests, const char* name = "inventory") {
  config::Cluster c;
  c.name = name;
  c.limits.max_requests = max_requests;
  return c;
}

class LimitsFilterTest : public ::testing::Test {
protected:
  explicit LimitsFilterTest() : runtime_(clusterConfig(2)) {
    control_.info().cluster_runtime = &runtime_;
  }

  std::unique_ptr<proxy::HttpFilter> start(FilterStatus expected) {
    auto filter = factory_.create(control_);
    EXPECT_EQ(expected, filter->onAttemptStart(control_.attempt_request));
    return filter;
  }
  uint64_t inFlight() { return runtime_.requests().count(); }
  uint64_t overflows() {
    return control_.cluster_stats["inventory"].overflowCount(OverflowLimit::MaxRequests);
  }

  proxy::testing::FakeStreamControl control_;
  proxy::ClusterRuntime runtime_;
  LimitsFilterFactory factory_;
};

TEST_F(LimitsFilterTest, NameIsConcurrencyLimits) {
  EXPECT_EQ("concurrency_limits", factory_.name());
}

TEST_F(LimitsFilterTest, OverflowRepliesAndCounts) {
  auto a = start(FilterStatus::Continue);
  auto b = start(FilterStatus::Continue);
  EXPECT_EQ(2U, inFlight());
  EXPECT_TRUE(control_.replies.empty());

  auto c = start(FilterStatus::StopIteration);
  EXPECT_EQ(2U, inFlight());
  ASSERT_EQ(1U, control_.replies.size());
  EXPECT_EQ(503, control_.replies[0].reply.status);
  EXPECT_EQ("overflow-max_requests", control_.replies[0].reply.reason);
  EXPECT_FALSE(control_.replies[0].reply.body.empty());
  EXPECT_EQ(1U, overflows());
  for (OverflowLimit other : {OverflowLimit::MaxConnections, OverflowLimit::MaxPending,
                              OverflowLimit::MaxRetries, OverflowLimit::RetryBudget}) {
    EXPECT_EQ(0U, control_.cluster_stats["inventory"].overflowCount(other));
  }
  c->onAttemptDone(AttemptResult{}); // a vetoed attempt reporting must not release others' slots
  EXPECT_EQ(2U, inFlight());
}

TEST_F(LimitsFilterTest, AttemptDoneReleasesTheSlot) {
  auto a = start(FilterStatus::Continue);
  auto b = start(FilterStatus::Continue);
  a->onAttemptDone(AttemptResult{});
  EXPECT_EQ(1U, inFlight());
  auto c = start(FilterStatus::Continue);
  EXPECT_EQ(2U, inFlight());
  EXPECT_EQ(0U, overflows());
}

TEST_F(LimitsFilterTest, DestructionReleasesTheSlot) {
  auto a = start(FilterStatus::Continue);
  EXPECT_EQ(1U, inFlight());
  a.reset();
  EXPECT_EQ(0U, inFlight());
}

TEST_F(LimitsFilterTest, EachAttemptHoldsOneSlot) {
  auto a = start(FilterStatus::Continue);
  for (int i = 0; i < 5; ++i) { // retries: done, then start again
    a->onAttemptDone(AttemptResult{});
    EXPECT_EQ(0U, inFlight());
    EXPECT_EQ(FilterStatus::Continue, a->onAttemptStart(control_.attempt_request));
    EXPECT_EQ(1U, inFlight());
  }
  // A new attempt without a done for the previous one does not leak a slot.
  EXPECT_EQ(FilterStatus::Continue, a->onAttemptStart(control_.attempt_request));
  EXPECT_EQ(1U, inFlight());
}

TEST_F(LimitsFilterTest, SlotBelongsToTheAttemptsCluster) {
  proxy::ClusterRuntime backup(clusterConfig(1, "backup"));
  auto a = start(FilterStatus::Continue);
  control_.info().cluster_runtime = &backup; // fallback to another cluster
  a->onAttemptDone(AttemptResult{});
  EXPECT_EQ(0U, inFlight());
  EXPECT_EQ(FilterStatus::Continue, a->onAttemptStart(control_.attempt_request));
  EXPECT_EQ(1U, backup.requests().count());
  EXPECT_EQ(0U, inFlight());
  auto b = start(FilterStatus::StopIteration);
  EXPECT_EQ(1U, control_.cluster_stats["backup"].overflowCount(OverflowLimit::MaxRequests));
}

TEST(LimitsFilterNoRuntimeTest, WithoutClusterRuntimeItContinues) {
  proxy::testing::FakeStreamControl control;
  LimitsFilterFactory factory;
  auto filter = factory.create(control);
  EXPECT_EQ(FilterStatus::Continue, filter->onAttemptStart(control.attempt_request));
  filter->onAttemptDone(AttemptResult{});
  EXPECT_TRUE(control.replies.empty());
}

} // namespace
} // namespace seawall::filters::concurrency_limits
