#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "config/config.h"
#include "filters/timeout/timeout_filter.h"
#include "tests/unit/proxy/fake_stream_control.h"

namespace seawall::filters::timeout {
namespace {

using namespace std::chrono_literals;
using proxy::FilterStatus;
using proxy::stats::TimeoutKind;
using std::chrono::microseconds;
using std::chrono::milliseconds;

class TimeoutFilterTest : public ::testing::Test {
protected:
  TimeoutFilterTest() {
    cluster_.name = "inventory";
    request_.method = "GET";
    request_.path = "/items";
    control_.info().cluster = &cluster_;
    control_.info().request = &request_;
  }

  void makeFilter(milliseconds request_timeout, milliseconds idle_timeout) {
    const TimeoutFilterFactory factory(request_timeout, idle_timeout);
    filter_ = factory.create(control_);
  }
  void makeGrpc(const char* grpc_timeout) {
    control_.info().grpc = true;
    request_.headers.set("content-type", "application/grpc");
    if (grpc_timeout != nullptr) {
      request_.headers.set("grpc-timeout", grpc_timeout);
    }
  }
  FilterStatus requestHeaders() { return filter_->onRequestHeaders(request_, false); }
  uint64_t timeouts(TimeoutKind kind) {
    return control_.cluster_stats["inventory"].timeoutCount(kind);
  }
  proxy::testing::FakeStreamControl::FakeTimer& timer(size_t i) { return *control_.timers.at(i); }

  config::Cluster cluster_;
  proxy::RequestHead request_;
  proxy::testing::FakeStreamControl control_;
  std::unique_ptr<proxy::HttpFilter> filter_;
};

TEST_F(TimeoutFilterTest, NoTimeoutsNoFilterForPlainRequests) {
  makeFilter(0ms, 0ms);
  EXPECT_EQ(nullptr, filter_); // nothing to enforce: the chain runs without it
  EXPECT_TRUE(control_.timers.empty());
}

TEST_F(TimeoutFilterTest, NoTimeoutsNoTimersNoDeadlineForGrpcWithoutGrpcTimeout) {
  control_.info().grpc = true;
  makeFilter(0ms, 0ms);
  ASSERT_NE(nullptr, filter_);
  EXPECT_EQ(FilterStatus::Continue, requestHeaders());
  filter_->onRequestData(nullptr, true);
  proxy::ResponseHead response{200, {}};
  filter_->onResponseHeaders(response, false);
  EXPECT_TRUE(control_.timers.empty());
  EXPECT_FALSE(control_.info().deadline.has_value());
}

TEST_F(TimeoutFilterTest, RequestDeadlineCountsFromStreamStart) {
  makeFilter(3000ms, 0ms);
  control_.advance(1s); // headers seen 1s after the stream started
  requestHeaders();
  ASSERT_EQ(1U, control_.timers.size());
  EXPECT_TRUE(timer(0).armed);
  EXPECT_EQ(microseconds(2s), timer(0).after);
  EXPECT_EQ(control_.info().start + 3s, control_.info().deadline);
}

TEST_F(TimeoutFilterTest, DeadlineBeforeResponseAnswers504) {
  makeFilter(3000ms, 10000ms);
  requestHeaders();
  ASSERT_EQ(2U, control_.timers.size()); // deadline, idle
  control_.advance(3s);
  control_.fireTimer(0);
  ASSERT_EQ(1U, control_.replies.size());
  const proxy::LocalReply& r = control_.replies[0].reply;
  EXPECT_EQ(504, r.status);
  EXPECT_EQ("timeout-request", r.reason);
  EXPECT_EQ("request timeout (3000ms) exceeded", r.body);
  EXPECT_FALSE(r.grpc_status.has_value());
  EXPECT_EQ(1U, timeouts(TimeoutKind::Request));
  EXPECT_EQ(0U, timeouts(TimeoutKind::Idle));
  EXPECT_FALSE(timer(1).armed); // the idle timer is off too
  EXPECT_TRUE(control_.resets.empty());
}

TEST_F(TimeoutFilterTest, DeadlineAfterResponseStartedResets) {
  makeFilter(3000ms, 0ms);
  requestHeaders();
  proxy::ResponseHead response{200, {}};
  filter_->onResponseHeaders(response, false);
  control_.info().response_started = true;
  control_.fireTimer(0);
  EXPECT_TRUE(control_.replies.empty());
  EXPECT_EQ(std::vector<std::string>{"timeout-request"}, control_.resets);
  EXPECT_EQ(1U, timeouts(TimeoutKind::Request));
}

// A cluster fallback that takes the 504 over gets one more period, never an unbounded call.
TEST_F(TimeoutFilterTest, ClusterFallbackAfterTheDeadlineGetsOneMorePeriod) {
  makeFilter(300ms, 0ms);
  requestHeaders();
  control_.advance(300ms);
  control_.info().fallback = "cluster"; // what the fallback filter sets when it switches
  control_.fireTimer(0);
  ASSERT_EQ(1U, control_.replies.size());
  ASSERT_TRUE(timer(0).armed) << "the fallback call is bounded too";
  EXPECT_EQ(microseconds(300ms), timer(0).after);
  EXPECT_EQ(control_.now() + 300ms, control_.info().deadline);
  control_.advance(300ms);
  control_.fireTimer(0);
  EXPECT_EQ(2U, control_.replies.size());
  EXPECT_FALSE(timer(0).armed) << "only one extra period";
  EXPECT_EQ(2U, timeouts(TimeoutKind::Request));
}

TEST_F(TimeoutFilterTest, NoExtraPeriodWithoutAClusterFallback) {
  makeFilter(300ms, 0ms);
  requestHeaders();
  control_.advance(300ms);
  control_.fireTimer(0);
  EXPECT_FALSE(timer(0).armed);
}

TEST_F(TimeoutFilterTest, GrpcTimeoutCapsTheDeadline) {
  struct Case {
    const char* name;
    milliseconds route_timeout;
    bool grpc;
    const char* grpc_timeout; // nullptr: no header
    std::optional<milliseconds> deadline_from_now;
  };
  const std::vector<Case> cases = {
      {"header shorter than route", 3000ms, true, "500m", 500ms},
      {"route shorter than header", 3000ms, true, "10S", 3000ms},
      {"header only", 0ms, true, "2S", 2000ms},
      {"zero header: already due", 3000ms, true, "0m", 0ms},
      {"invalid header ignored", 3000ms, true, "500ms", 3000ms},
      {"invalid header, no route timeout", 0ms, true, "soon", std::nullopt},
      {"no header", 3000ms, true, nullptr, 3000ms},
      {"not a gRPC request", 3000ms, false, "500m", 3000ms},
      {"not gRPC, no route timeout", 0ms, false, "500m", std::nullopt},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    proxy::testing::FakeStreamControl control;
    proxy::RequestHead request;
    request.method = "POST";
    if (c.grpc_timeout != nullptr) {
      request.headers.set("grpc-timeout", c.grpc_timeout);
    }
    control.info().grpc = c.grpc;
    control.info().request = &request;
    const TimeoutFilterFactory factory(c.route_timeout, 0ms);
    auto filter = factory.create(control);
    if (filter == nullptr) { // no timeout and not gRPC: no filter at all
      EXPECT_FALSE(c.deadline_from_now.has_value());
      continue;
    }
    filter->onRequestHeaders(request, true);
    if (!c.deadline_from_now) {
      EXPECT_FALSE(control.info().deadline.has_value());
      EXPECT_TRUE(control.timers.empty());
      continue;
    }
    EXPECT_EQ(control.now() + *c.deadline_from_now, control.info().deadline);
    ASSERT_EQ(1U, control.timers.size());
    EXPECT_TRUE(control.timers[0]->armed);
    EXPECT_EQ(microseconds(*c.deadline_from_now), control.timers[0]->after);
  }
}

TEST_F(TimeoutFilterTest, HugeGrpcTimeoutDoesNotOverflowTheClock) {
  makeGrpc("99999999H");
  makeFilter(0ms, 0ms);
  requestHeaders();
  ASSERT_TRUE(control_.info().deadline.has_value());
  EXPECT_GT(*control_.info().deadline, control_.now() + std::chrono::hours(24 * 365 * 100));
}

TEST_F(TimeoutFilterTest, GrpcDeadlineAnswersDeadlineExceeded) {
  makeGrpc("250m");
  makeFilter(3000ms, 0ms);
  requestHeaders();
  control_.advance(250ms);
  control_.fireTimer(0);
  ASSERT_EQ(1U, control_.replies.size());
  const proxy::LocalReply& r = control_.replies[0].reply;
  EXPECT_EQ(504, r.status);
  EXPECT_EQ("timeout-request", r.reason);
  EXPECT_EQ("request timeout (250ms) exceeded", r.body);
  EXPECT_EQ(std::optional<int>(4), r.grpc_status);
  EXPECT_EQ(1U, timeouts(TimeoutKind::Request));
}

TEST_F(TimeoutFilterTest, EveryEventReArmsTheIdleTimer) {
  makeFilter(0ms, 5000ms);
  requestHeaders();
  ASSERT_EQ(1U, control_.timers.size());
  EXPECT_TRUE(timer(0).armed);
  EXPECT_EQ(microseconds(5s), timer(0).after);
  proxy::ResponseHead response{200, {}};
  const proxy::HeaderMap trailers;
  struct Event {
    const char* name;
    std::function<void()> run;
  };
  const std::vector<Event> events = {
      {"request data", [&] { filter_->onRequestData(nullptr, false); }},
      {"request data end", [&] { filter_->onRequestData(nullptr, true); }},
      {"request trailers", [&] { filter_->onRequestTrailers(trailers); }},
      {"response headers", [&] { filter_->onResponseHeaders(response, false); }},
      {"response data", [&] { filter_->onResponseData(nullptr, false); }},
  };
  for (const Event& e : events) {
    SCOPED_TRACE(e.name);
    timer(0).armed = false; // as if disarmed: the event must arm it again
    e.run();
    EXPECT_TRUE(timer(0).armed);
    EXPECT_EQ(microseconds(5s), timer(0).after);
  }
  EXPECT_EQ(1U, control_.timers.size()); // re-armed, never re-created
}

TEST_F(TimeoutFilterTest, IdleTimeoutAnswers504OrResets) {
  for (const bool started : {false, true}) {
    SCOPED_TRACE(started ? "response started" : "before response");
    proxy::testing::FakeStreamControl control;
    control.info().cluster = &cluster_;
    control.info().request = &request_;
    const TimeoutFilterFactory factory(0ms, 5000ms);
    auto filter = factory.create(control);
    filter->onRequestHeaders(request_, true);
    control.info().response_started = started;
    control.fireTimer(0);
    EXPECT_EQ(1U, control.cluster_stats["inventory"].timeoutCount(TimeoutKind::Idle));
    if (started) {
      EXPECT_TRUE(control.replies.empty());
      EXPECT_EQ(std::vector<std::string>{"timeout-idle"}, control.resets);
    } else {
      ASSERT_EQ(1U, control.replies.size());
      EXPECT_EQ(504, control.replies[0].reply.status);
      EXPECT_EQ("timeout-idle", control.replies[0].reply.reason);
      EXPECT_EQ("idle timeout (5000ms) exceeded", control.replies[0].reply.body);
      EXPECT_TRUE(control.resets.empty());
    }
  }
}

TEST_F(TimeoutFilterTest, GrpcIdleTimeoutCarriesDeadlineExceeded) {
  makeGrpc(nullptr);
  makeFilter(0ms, 5000ms);
  requestHeaders();
  control_.fireTimer(0);
  ASSERT_EQ(1U, control_.replies.size());
  EXPECT_EQ(std::optional<int>(4), control_.replies[0].reply.grpc_status);
}

TEST_F(TimeoutFilterTest, CompleteResponseDisarmsBothTimers) {
  struct Case {
    const char* name;
    std::function<void(proxy::HttpFilter&)> complete;
  };
  const std::vector<Case> cases = {
      {"headers end_stream",
       [](proxy::HttpFilter& f) {
         proxy::ResponseHead h{204, {}};
         f.onResponseHeaders(h, true);
       }},
      {"data end_stream",
       [](proxy::HttpFilter& f) {
         proxy::ResponseHead h{200, {}};
         f.onResponseHeaders(h, false);
         f.onResponseData(nullptr, true);
       }},
      {"trailers",
       [](proxy::HttpFilter& f) {
         proxy::ResponseHead h{200, {}};
         f.onResponseHeaders(h, false);
         f.onResponseTrailers(proxy::HeaderMap{});
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    proxy::testing::FakeStreamControl control;
    control.info().request = &request_;
    const TimeoutFilterFactory factory(3000ms, 5000ms);
    auto filter = factory.create(control);
    filter->onRequestHeaders(request_, true);
    ASSERT_EQ(2U, control.timers.size());
    c.complete(*filter);
    EXPECT_FALSE(control.timers[0]->armed);
    EXPECT_FALSE(control.timers[1]->armed);
    filter->onRequestData(nullptr, false); // late events do not re-arm
    EXPECT_FALSE(control.timers[1]->armed);
    control.fireTimer(0);
    control.fireTimer(1);
    EXPECT_TRUE(control.replies.empty());
  }
}

TEST_F(TimeoutFilterTest, AttemptCarriesRemainingGrpcTimeout) {
  makeGrpc("2S");
  makeFilter(0ms, 0ms);
  requestHeaders();
  control_.attempt_request = request_;
  control_.advance(500ms);
  EXPECT_EQ(FilterStatus::Continue, filter_->onAttemptStart(control_.attempt_request));
  EXPECT_EQ(1U, control_.attempt_request.headers.count("grpc-timeout")); // replaced, not added
  EXPECT_EQ("1500000u", *control_.attempt_request.headers.get("grpc-timeout"));
  control_.advance(1499999us);
  EXPECT_EQ(FilterStatus::Continue, filter_->onAttemptStart(control_.attempt_request));
  EXPECT_EQ("1000n", *control_.attempt_request.headers.get("grpc-timeout"));
  EXPECT_TRUE(control_.replies.empty());
}

TEST_F(TimeoutFilterTest, NonGrpcAttemptGetsNoGrpcTimeout) {
  makeFilter(3000ms, 0ms);
  requestHeaders();
  EXPECT_EQ(FilterStatus::Continue, filter_->onAttemptStart(control_.attempt_request));
  EXPECT_FALSE(control_.attempt_request.headers.has("grpc-timeout"));
}

TEST_F(TimeoutFilterTest, AttemptAtOrAfterDeadlineIsRefused) {
  for (const bool grpc : {false, true}) {
    SCOPED_TRACE(grpc ? "gRPC" : "HTTP");
    proxy::testing::FakeStreamControl control;
    control.info().cluster = &cluster_;
    control.info().request = &request_;
    control.info().grpc = grpc;
    const TimeoutFilterFactory factory(1000ms, 0ms);
    auto filter = factory.create(control);
    filter->onRequestHeaders(request_, true);
    control.advance(1s); // exactly at the deadline; its timer has not run yet
    EXPECT_EQ(FilterStatus::StopIteration, filter->onAttemptStart(control.attempt_request));
    ASSERT_EQ(1U, control.replies.size());
    EXPECT_EQ(504, control.replies[0].reply.status);
    EXPECT_EQ("timeout-request", control.replies[0].reply.reason);
    EXPECT_EQ(grpc ? std::optional<int>(4) : std::nullopt, control.replies[0].reply.grpc_status);
    EXPECT_EQ(1U, control.cluster_stats["inventory"].timeoutCount(TimeoutKind::Request));
    EXPECT_FALSE(control.timers[0]->armed);
    EXPECT_FALSE(control.attempt_request.headers.has("grpc-timeout"));
  }
}

TEST_F(TimeoutFilterTest, NoClusterNoCountStillAnswers) {
  control_.info().cluster = nullptr;
  makeFilter(1000ms, 0ms);
  requestHeaders();
  control_.fireTimer(0);
  EXPECT_EQ(1U, control_.replies.size());
  EXPECT_TRUE(control_.cluster_stats.empty());
}

TEST_F(TimeoutFilterTest, TimersDieWithTheFilter) {
  makeFilter(1000ms, 1000ms);
  requestHeaders();
  ASSERT_EQ(2U, control_.timers.size());
  filter_.reset();
  EXPECT_FALSE(timer(0).alive);
  EXPECT_FALSE(timer(1).alive);
}

} // namespace
} // namespace seawall::filters::timeout
