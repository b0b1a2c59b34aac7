#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "proxy/stats/worker_stats.h"

namespace seawall::proxy::stats {
namespace {

TEST(WorkerStatsTest, HandlesAreStableAndShared) {
  WorkerStats w;
  RequestStats& a = w.requests("in", "inventory");
  for (int i = 0; i < 50; ++i) { // force map growth
    w.requests("in", "c" + std::to_string(i));
    w.listener("l" + std::to_string(i));
    w.cluster("c" + std::to_string(i));
  }
  EXPECT_EQ(&a, &w.requests("in", "inventory"));
  EXPECT_NE(&a, &w.requests("out", "inventory"));
  EXPECT_EQ(&w.listener("in"), &w.listener("in"));
  EXPECT_EQ(&w.cluster("inventory"), &w.cluster("inventory"));
}

TEST(WorkerStatsTest, EmptyClusterIsNone) {
  WorkerStats w;
  EXPECT_EQ(&w.requests("in", ""), &w.requests("in", kNoCluster));
  w.requests("in", "").record(404, 0.001);
  int seen = 0;
  w.forEachRequests(
      [&](const std::string& listener, const std::string& cluster, const RequestStats& s) {
        ++seen;
        EXPECT_EQ("in", listener);
        EXPECT_EQ("none", cluster);
        EXPECT_EQ(1u, s.slotCount(404 - RequestStats::kMinCode));
      });
  EXPECT_EQ(1, seen);
}

TEST(WorkerStatsTest, RecordCountsExactCodesAndOther) {
  WorkerStats w;
  RequestStats& r = w.requests("in", "a");
  r.record(100, 0);
  r.record(200, 0);
  r.record(200, 0);
  r.record(599, 0);
  r.record(600, 0);
  r.record(99, 0);
  r.record(-1, 0);
  EXPECT_EQ(1u, r.slotCount(0));
  EXPECT_EQ(2u, r.slotCount(100));
  EXPECT_EQ(0u, r.slotCount(101));
  EXPECT_EQ(1u, r.slotCount(499));
  EXPECT_EQ(3u, r.slotCount(RequestStats::kOtherSlot));
}

TEST(WorkerStatsTest, HistogramBucketsAreInclusiveUpperBounds) {
  DurationHistogram h;
  h.observe(0.0005); // exactly on the first bound: first bucket
  h.observe(0.00051);
  h.observe(60);
  h.observe(60.5); // +Inf
  h.observe(-3);   // clamped to 0
  h.observe(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(3u, h.bucket(0));
  EXPECT_EQ(1u, h.bucket(1));
  EXPECT_EQ(1u, h.bucket(kDurationBuckets.size() - 1));
  EXPECT_EQ(1u, h.bucket(kDurationBuckets.size()));
  EXPECT_DOUBLE_EQ(0.0005 + 0.00051 + 60 + 60.5, h.sum());
  EXPECT_FALSE(std::isnan(h.sum()));
}

TEST(WorkerStatsTest, RequestsOfOneClusterShareItsHistogram) {
  WorkerStats w;
  w.requests("in", "a").record(200, 0.002);
  w.requests("out", "a").record(503, 0.002);
  w.requests("in", "b").record(200, 0.002);
  int histograms = 0;
  w.forEachDuration([&](const std::string& cluster, const DurationHistogram& h) {
    ++histograms;
    EXPECT_EQ(cluster == "a" ? 2u : 1u, h.bucket(2)) << cluster; // le=0.0025
  });
  EXPECT_EQ(2, histograms);
}

TEST(WorkerStatsTest, ReasonsParseAndUnknownIsOther) {
  for (size_t i = 0; i < kRejectReasonCount; ++i) {
    auto r = static_cast<RejectReason>(i);
    EXPECT_EQ(r, parseRejectReason(toString(r)));
  }
  for (size_t i = 0; i < kFailureReasonCount; ++i) {
    auto r = static_cast<FailureReason>(i);
    EXPECT_EQ(r, parseFailureReason(toString(r)));
  }
  EXPECT_EQ("unsupported-transfer-coding", toString(RejectReason::UnsupportedTransferCoding));
  EXPECT_EQ(RejectReason::Other, parseRejectReason("nonsense"));
  EXPECT_EQ(RejectReason::Other, parseRejectReason(""));
  EXPECT_EQ(FailureReason::Other, parseFailureReason("Reset")); // case matters
  EXPECT_EQ(FailureReason::RefusedStream, parseFailureReason("refused-stream"));
}

TEST(WorkerStatsTest, ListenerCountsConnectionsAndRejections) {
  WorkerStats w;
  ListenerStats& l = w.listener("in");
  l.connectionOpened();
  l.connectionOpened();
  l.connectionOpened();
  l.connectionClosed();
  l.rejected("header-too-large");
  l.rejected("what");
  l.rejected(RejectReason::Other);
  EXPECT_EQ(3u, l.opened());
  EXPECT_EQ(2u, l.open());
  EXPECT_EQ(1u, l.rejectedCount(RejectReason::HeaderTooLarge));
  EXPECT_EQ(2u, l.rejectedCount(RejectReason::Other));
  EXPECT_EQ(0u, l.rejectedCount(RejectReason::BadRequest));
}

TEST(WorkerStatsTest, ClusterCountsConnectionsAndFailures) {
  WorkerStats w;
  ClusterStats& c = w.cluster("a");
  c.upstreamConnectionOpened();
  c.upstreamConnectionClosed();
  c.upstreamConnectionClosed(); // a bug upstream must not make the gauge wrap around
  c.upstreamFailure("timeout");
  c.upstreamFailure(FailureReason::Timeout);
  c.upstreamFailure("connect-failure");
  EXPECT_EQ(1u, c.opened());
  EXPECT_EQ(0u, c.open());
  EXPECT_EQ(2u, c.failureCount(FailureReason::Timeout));
  EXPECT_EQ(1u, c.failureCount(FailureReason::ConnectFailure));
}

} // namespace
} // namespace seawall::proxy::stats
