#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "filters/circuit_breaker/breaker_filter.h"
#include "proxy/upstream/cluster_runtime.h"
#include "tests/unit/proxy/fake_stream_control.h"

namespace seawall::filters::circuit_breaker {
namespace {

using proxy::AttemptFailure;
using proxy::AttemptResult;
using proxy::FilterStatus;
using std::chrono::milliseconds;
using std::chrono::seconds;

// A count window of 4 calls, tripping at a 50% failure rate once 4 calls are in, open for 5s,
// one half-open probe.
config::Cluster clusterConfig(std::vector<std::string> failure_on = {"5xx", "reset", "timeout",
                                                                     "connect-failure"}) {
  config::Cluster c;
  c.name = "inventory";
  config::BreakerConfig b;
  b.window_calls = 4;
  b.minimum_calls = 4;
  b.failure_rate = 0.5;
  b.slow_call_duration = milliseconds(1000);
  b.slow_call_rate = 1.0;
  b.open_for = milliseconds(5000);
  b.half_open_calls = 1;
  b.failure_on = std::move(failure_on);
  c.breaker = b;
  return c;
}

AttemptResult response(int status, std::string retry_after = "") {
  AttemptResult r;
  r.attempt = 1;
  r.status = status;
  r.retry_after = std::move(retry_after);
  r.latency = milliseconds(10);
  return r;
}

AttemptResult failure(AttemptFailure f) {
  AttemptResult r;
  r.attempt = 1;
  r.failure = f;
  r.latency = milliseconds(10);
  return r;
}

class BreakerFilterTest : public ::testing::Test {
protected:
  void build(const config::Cluster& config) {
    runtime_ = std::make_unique<proxy::ClusterRuntime>(config);
    control_.info().cluster_runtime = runtime_.get();
  }

  // One whole attempt through a fresh filter; returns what onAttemptStart answered.
  FilterStatus attempt(const AttemptResult& result) {
    auto filter = factory_->create(control_);
    const FilterStatus status = filter->onAttemptStart(control_.attempt_request);
    if (status == FilterStatus::Continue) {
      filter->onAttemptDone(result);
    }
    return status;
  }

  State state() { return runtime_->breaker()->state(control_.now()); }
  uint64_t windowCalls() const { return runtime_->breaker()->rates(control_.now()).calls; }

  proxy::testing::FakeStreamControl control_;
  std::unique_ptr<proxy::ClusterRuntime> runtime_;
  std::unique_ptr<BreakerFilterFactory> factory_ = std::make_unique<BreakerFilterFactory>();
};

TEST_F(BreakerFilterTest, NameIsCircuitBreaker) { EXPECT_EQ("circuit_breaker", factory_->name()); }

TEST_F(BreakerFilterTest, NoRuntimeOrNoBreakerIsANoOp) {
  EXPECT_EQ(FilterStatus::Continue, attempt(response(500))); // no cluster_runtime at all
  config::Cluster plain;
  plain.name = "plain";
  build(plain);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(FilterStatus::Continue, attempt(response(500)));
  }
  EXPECT_TRUE(control_.replies.empty());
  EXPECT_EQ(State::Disabled, runtime_->breakerState());
}

TEST_F(BreakerFilterTest, TripsAfterFailuresThenRejectsWithBreakerOpen) {
  build(clusterConfig());
  EXPECT_EQ(FilterStatus::Continue, attempt(response(200)));
  EXPECT_EQ(FilterStatus::Continue, attempt(response(200)));
  EXPECT_EQ(FilterStatus::Continue, attempt(response(500)));
  EXPECT_EQ(State::Closed, state()); // 3 calls: under minimum_calls
  EXPECT_EQ(FilterStatus::Continue, attempt(failure(AttemptFailure::Reset)));
  EXPECT_EQ(State::Open, state()); // 2 of 4 failed: 50%
  EXPECT_EQ(1U, runtime_->transitions(State::Closed, State::Open));
  EXPECT_TRUE(control_.replies.empty());

  EXPECT_EQ(FilterStatus::StopIteration, attempt(response(200)));
  ASSERT_EQ(1U, control_.replies.size());
  EXPECT_EQ(503, control_.replies[0].reply.status);
  EXPECT_EQ("breaker-open", control_.replies[0].reply.reason);
  EXPECT_EQ("circuit breaker of cluster 'inventory' is open", control_.replies[0].reply.body);
}

TEST_F(BreakerFilterTest, RejectedAttemptRecordsNothingWhenItsDoneArrives) {
  build(clusterConfig());
  for (int i = 0; i < 4; ++i) {
    attempt(response(500));
  }
  ASSERT_EQ(State::Open, state());
  auto filter = factory_->create(control_);
  EXPECT_EQ(FilterStatus::StopIteration, filter->onAttemptStart(control_.attempt_request));
  filter->onAttemptDone(failure(AttemptFailure::Cancelled)); // the chain may still report it
  control_.advance(seconds(5));
  EXPECT_EQ(State::HalfOpen, state());
  EXPECT_EQ(FilterStatus::Continue, attempt(response(200))); // the probe slot is free
  EXPECT_EQ(State::Closed, state());
}

struct ClassificationCase {
  const char* name;
  std::vector<std::string> failure_on;
  AttemptResult result;
  bool failed;
};

AttemptResult grpcResponse(int grpc_status) {
  AttemptResult r = response(200);
  r.grpc_status = grpc_status;
  return r;
}

TEST_F(BreakerFilterTest, FailuresVersusSuccessesPerFailureOn) {
  const std::vector<ClassificationCase> cases = {
      {"5xx counts 500", {"5xx"}, response(500), true},
      {"5xx ignores 404", {"5xx"}, response(404), false},
      {"5xx counts a reset", {"5xx"}, failure(AttemptFailure::Reset), true},
      {"gateway-error ignores 500", {"gateway-error"}, response(500), false},
      {"gateway-error counts 503", {"gateway-error"}, response(503), true},
      {"timeout counts a timeout", {"timeout"}, failure(AttemptFailure::Timeout), true},
      {"timeout ignores a reset", {"timeout"}, failure(AttemptFailure::Reset), false},
      {"connect-failure", {"connect-failure"}, failure(AttemptFailure::ConnectFailure), true},
      {"grpc-unavailable counts 14", {"grpc-unavailable"}, grpcResponse(14), true},
      {"grpc-unavailable ignores 0", {"grpc-unavailable"}, grpcResponse(0), false},
  };
  for (const ClassificationCase& c : cases) {
    SCOPED_TRACE(c.name);
    build(clusterConfig(c.failure_on));
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(FilterStatus::Continue, attempt(c.result));
    }
    EXPECT_EQ(4U, windowCalls());
    EXPECT_EQ(c.failed ? State::Open : State::Closed, state());
  }
}

TEST_F(BreakerFilterTest, OutcomesWithoutAnUpstreamCallAreNotRecorded) {
  for (AttemptFailure f :
       {AttemptFailure::Cancelled, AttemptFailure::Overflow, AttemptFailure::NoEndpoint}) {
    SCOPED_TRACE(proxy::toString(f));
    build(clusterConfig());
    for (int i = 0; i < 6; ++i) {
      EXPECT_EQ(FilterStatus::Continue, attempt(failure(f)));
    }
    EXPECT_EQ(0U, windowCalls());
    EXPECT_EQ(State::Closed, state());
  }
}

TEST_F(BreakerFilterTest, SlowCallsTrip) {
  config::Cluster c = clusterConfig();
  c.breaker->slow_call_rate = 0.5;
  build(c);
  AttemptResult slow = response(200);
  slow.latency = milliseconds(1000);
  attempt(response(200));
  attempt(response(200));
  attempt(slow);
  attempt(slow);
  EXPECT_EQ(State::Open, state());
}

TEST_F(BreakerFilterTest, MetricsOnlyCountsWouldRejectButContinues) {
  config::Cluster c = clusterConfig();
  c.breaker->mode = config::BreakerConfig::Mode::MetricsOnly;
  build(c);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(FilterStatus::Continue, attempt(response(500)));
  }
  EXPECT_EQ(State::Open, state());
  EXPECT_EQ(0U, runtime_->wouldRejectTotal());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(FilterStatus::Continue, attempt(response(500)));
  }
  EXPECT_EQ(3U, runtime_->wouldRejectTotal());
  EXPECT_TRUE(control_.replies.empty());
}

TEST_F(BreakerFilterTest, ForcedOpenRejectsEverything) {
  config::Cluster c = clusterConfig();
  c.breaker->mode = config::BreakerConfig::Mode::ForcedOpen;
  build(c);
  EXPECT_EQ(FilterStatus::StopIteration, attempt(response(200)));
  ASSERT_EQ(1U, control_.replies.size());
  EXPECT_EQ("breaker-open", control_.replies[0].reply.reason);
}

class HalfOpenTest : public BreakerFilterTest {
protected:
  void SetUp() override {
    build(clusterConfig());
    for (int i = 0; i < 4; ++i) {
      attempt(response(500));
    }
    control_.advance(seconds(5));
    ASSERT_EQ(State::HalfOpen, state());
  }
};

TEST_F(HalfOpenTest, ProbeSuccessCloses) {
  auto probe = factory_->create(control_);
  ASSERT_EQ(FilterStatus::Continue, probe->onAttemptStart(control_.attempt_request));
  EXPECT_EQ(FilterStatus::StopIteration, attempt(response(200))); // only one probe
  probe->onAttemptDone(response(200));
  EXPECT_EQ(State::Closed, state());
}

TEST_F(HalfOpenTest, ProbeFailureReopens) {
  EXPECT_EQ(FilterStatus::Continue, attempt(response(502)));
  EXPECT_EQ(State::Open, state());
}

TEST_F(HalfOpenTest, ProbeDestroyedWithoutOutcomeFreesTheSlot) {
  auto probe = factory_->create(control_);
  ASSERT_EQ(FilterStatus::Continue, probe->onAttemptStart(control_.attempt_request));
  EXPECT_EQ(FilterStatus::StopIteration, attempt(response(200)));
  probe.reset(); // stream gone, no onAttemptDone
  EXPECT_EQ(State::HalfOpen, state());
  EXPECT_EQ(FilterStatus::Continue, attempt(response(200)));
  EXPECT_EQ(State::Closed, state());
}

TEST_F(HalfOpenTest, ProbeCancelledByItsOutcomeFreesTheSlot) {
  EXPECT_EQ(FilterStatus::Continue, attempt(failure(AttemptFailure::Cancelled)));
  EXPECT_EQ(State::HalfOpen, state());
  EXPECT_EQ(FilterStatus::Continue, attempt(response(200)));
  EXPECT_EQ(State::Closed, state());
}

TEST_F(HalfOpenTest, NewAttemptWithoutDoneGivesTheEarlierAdmissionBack) {
  auto filter = factory_->create(control_);
  ASSERT_EQ(FilterStatus::Continue, filter->onAttemptStart(control_.attempt_request));
  EXPECT_EQ(FilterStatus::Continue, filter->onAttemptStart(control_.attempt_request));
  filter->onAttemptDone(response(200));
  EXPECT_EQ(State::Closed, state());
}

TEST_F(BreakerFilterTest, OutcomeGoesToTheBreakerThatAdmittedTheAttempt) {
  build(clusterConfig());
  config::Cluster other_config = clusterConfig();
  other_config.name = "backup";
  proxy::ClusterRuntime other(other_config);

  auto filter = factory_->create(control_);
  ASSERT_EQ(FilterStatus::Continue, filter->onAttemptStart(control_.attempt_request));
  control_.info().cluster_runtime = &other; // a cluster fallback switched clusters
  filter->onAttemptDone(response(500));
  EXPECT_EQ(1U, windowCalls());
  EXPECT_EQ(0U, other.breaker()->rates(control_.now()).calls);

  ASSERT_EQ(FilterStatus::Continue, filter->onAttemptStart(control_.attempt_request));
  filter->onAttemptDone(response(500));
  EXPECT_EQ(1U, windowCalls());
  EXPECT_EQ(1U, other.breaker()->rates(control_.now()).calls);
}

struct RetryAfterCase {
  const char* name;
  bool open_on_retry_after;
  AttemptResult result;
  std::optional<milliseconds> open_for; // nullopt: stays closed
};

TEST_F(BreakerFilterTest, OpenOnRetryAfter) {
  const auto wall_now =
      std::chrono::sys_days{std::chrono::year{2024} / 3 / 1} + std::chrono::hours(12);
  factory_ = std::make_unique<BreakerFilterFactory>([wall_now] { return wall_now; });
  const std::vector<RetryAfterCase> cases = {
      {"503 seconds", true, response(503, "7"), milliseconds(7000)},
      {"429 seconds", true, response(429, "3"), milliseconds(3000)},
      {"503 http-date", true, response(503, "Fri, 01 Mar 2024 12:00:20 GMT"), milliseconds(20000)},
      {"disabled", false, response(503, "7"), std::nullopt},
      {"500 is not a throttle", true, response(500, "7"), std::nullopt},
      {"no retry-after", true, response(503), std::nullopt},
      {"invalid retry-after", true, response(503, "soon"), std::nullopt},
      {"zero seconds", true, response(503, "0"), std::nullopt},
  };
  for (const RetryAfterCase& c : cases) {
    SCOPED_TRACE(c.name);
    config::Cluster config = clusterConfig();
    config.breaker->open_on_retry_after = c.open_on_retry_after;
    build(config);
    const auto start = control_.now();
    EXPECT_EQ(FilterStatus::Continue, attempt(c.result));
    if (!c.open_for) {
      EXPECT_EQ(State::Closed, state());
      continue;
    }
    EXPECT_EQ(State::Open, state());
    control_.advance(*c.open_for - milliseconds(1));
    EXPECT_EQ(State::Open, state());
    control_.advance(milliseconds(1));
    EXPECT_EQ(State::HalfOpen, state());
    EXPECT_EQ(*c.open_for, std::chrono::duration_cast<milliseconds>(control_.now() - start));
  }
}

} // namespace
} // namespace seawall::filters::circuit_breaker
