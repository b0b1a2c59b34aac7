#include <chrono>
#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "config/config.h"
#include "filters/retry/retry_filter.h"
#include "proxy/upstream/cluster_runtime.h"
#include "tests/unit/proxy/fake_stream_control.h"

namespace seawall::filters::retry {
namespace {

using namespace std::chrono_literals;
using proxy::AttemptFailure;
using proxy::FilterStatus;
using proxy::ResponseSource;
using proxy::stats::OverflowLimit;
using std::chrono::milliseconds;

// 1994-11-06 08:49:37 UTC, the RFC 9110 example date.
std::chrono::system_clock::time_point wallNow() {
  return std::chrono::system_clock::from_time_t(784111777);
}

config::Cluster clusterConfig(uint32_t max_retries) {
  config::Cluster c;
  c.name = "inventory";
  c.limits.max_retries = max_retries;
  return c;
}

config::RetryConfig retryConfig() {
  config::RetryConfig c;
  c.max_retries = 3;
  c.on = {"5xx", "gateway-error", "reset", "connect-failure", "refused-stream"};
  c.backoff = {milliseconds(25), milliseconds(1000)};
  c.honor_retry_after = true;
  return c;
}

size_t reasonIndex(RetryOn on) { return static_cast<size_t>(on); }

class RetryFilterTest : public ::testing::Test {
protected:
  RetryFilterTest() { setUp(retryConfig(), 3, nullptr); }

  // (Re)builds the runtime, factory, stream state and filter.
  void setUp(const config::RetryConfig& config, uint32_t cluster_max_retries, RetryBudget* budget) {
    filter_.reset();
    cluster_ = clusterConfig(cluster_max_retries);
    runtime_ = std::make_unique<proxy::ClusterRuntime>(cluster_);
    factory_ = std::make_unique<RetryFilterFactory>(config, budget, &wallNow);
    control_ = std::make_unique<proxy::testing::FakeStreamControl>();
    request_ = proxy::RequestHead{};
    request_.method = "GET";
    request_.path = "/items";
    proxy::StreamInfo& info = control_->info();
    info.cluster = &cluster_;
    info.cluster_runtime = runtime_.get();
    info.request = &request_;
    info.attempts = 1;
    filter_ = factory_->create(*control_);
  }

  // The upstream answered the current attempt.
  FilterStatus upstream(int status, std::vector<proxy::Header> headers = {}) {
    control_->info().response_source = ResponseSource::Upstream;
    proxy::ResponseHead head{status, {}};
    for (auto& h : headers) {
      head.headers.add(std::move(h.name), std::move(h.value));
    }
    return filter_->onResponseHeaders(head, false);
  }
  // The attempt failed; the router's local reply passes through.
  FilterStatus failed(AttemptFailure failure, int status = 503) {
    proxy::StreamInfo& info = control_->info();
    info.response_source = ResponseSource::AttemptFailure;
    info.last_attempt = proxy::AttemptResult{};
    info.last_attempt->attempt = info.attempts;
    info.last_attempt->failure = failure;
    proxy::ResponseHead head{status, {}};
    return filter_->onResponseHeaders(head, false);
  }
  void attemptDone(uint32_t attempt) {
    proxy::AttemptResult r;
    r.attempt = attempt;
    r.status = 200;
    filter_->onAttemptDone(r);
  }
  proxy::stats::ClusterStats& stats() { return control_->cluster_stats["inventory"]; }

  config::Cluster cluster_;
  std::unique_ptr<proxy::ClusterRuntime> runtime_;
  std::unique_ptr<RetryFilterFactory> factory_;
  std::unique_ptr<proxy::testing::FakeStreamControl> control_;
  proxy::RequestHead request_;
  std::unique_ptr<proxy::HttpFilter> filter_;
};

TEST_F(RetryFilterTest, Retries503FromUpstream) {
  EXPECT_EQ(FilterStatus::StopIteration, upstream(503));
  ASSERT_EQ(1U, control_->retries.size());
  EXPECT_LE(control_->retries[0], 25ms); // first retry: full jitter in [0, base]
  EXPECT_EQ(1U, stats().retryCount(reasonIndex(RetryOn::GatewayError)));
  EXPECT_EQ(1U, runtime_->retries().count());
}

TEST_F(RetryFilterTest, SuccessAndClientErrorsPassOn) {
  for (const int status : {200, 204, 404, 429}) {
    SCOPED_TRACE(status);
    EXPECT_EQ(FilterStatus::Continue, upstream(status));
  }
  EXPECT_TRUE(control_->retries.empty());
  EXPECT_EQ(0U, runtime_->retries().count());
}

TEST_F(RetryFilterTest, LocalRepliesOfFiltersAndFallbacksAreNeverRetried) {
  for (const ResponseSource source : {ResponseSource::Filter, ResponseSource::Fallback}) {
    control_->info().response_source = source;
    control_->info().local_reason = "breaker-open";
    proxy::ResponseHead head{503, {}};
    head.headers.add("x-seawall-reason", "breaker-open");
    EXPECT_EQ(FilterStatus::Continue, filter_->onResponseHeaders(head, false));
  }
  EXPECT_TRUE(control_->retries.empty());
}

TEST_F(RetryFilterTest, AttemptFailuresByMethod) {
  struct Case {
    AttemptFailure failure;
    const char* method;
    bool retry;
    std::optional<RetryOn> reason;
  };
  const std::vector<Case> cases = {
      {AttemptFailure::ConnectFailure, "POST", true, RetryOn::ConnectFailure},
      {AttemptFailure::ConnectFailure, "GET", true, RetryOn::ConnectFailure},
      {AttemptFailure::RefusedStream, "POST", true, RetryOn::RefusedStream},
      {AttemptFailure::Reset, "POST", false, std::nullopt},
      {AttemptFailure::Reset, "GET", true, RetryOn::Reset},
      {AttemptFailure::ProtocolError, "GET", true, RetryOn::Reset},
      {AttemptFailure::ProtocolError, "PATCH", false, std::nullopt},
      {AttemptFailure::Timeout, "GET", true, RetryOn::Http5xx},
      {AttemptFailure::Timeout, "POST", false, std::nullopt},
      {AttemptFailure::Overflow, "GET", false, std::nullopt},
      {AttemptFailure::NoEndpoint, "GET", false, std::nullopt},
      {AttemptFailure::Cancelled, "GET", false, std::nullopt},
      {AttemptFailure::None, "GET", false, std::nullopt},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(proxy::toString(c.failure)) + " " + c.method);
    setUp(retryConfig(), 3, nullptr);
    request_.method = c.method;
    EXPECT_EQ(c.retry ? FilterStatus::StopIteration : FilterStatus::Continue, failed(c.failure));
    EXPECT_EQ(c.retry ? 1U : 0U, control_->retries.size());
    if (c.reason) {
      EXPECT_EQ(1U, stats().retryCount(reasonIndex(*c.reason)));
    }
  }
}

TEST_F(RetryFilterTest, AttemptFailureWithoutLastAttemptIsNotRetried) {
  control_->info().response_source = ResponseSource::AttemptFailure;
  proxy::ResponseHead head{503, {}};
  EXPECT_EQ(FilterStatus::Continue, filter_->onResponseHeaders(head, false));
}

TEST_F(RetryFilterTest, IdempotencyKey) {
  struct Case {
    const char* name;
    bool route_allows;
    bool has_key;
    bool retry_non_idempotent;
    bool retry;
  };
  const std::vector<Case> cases = {
      {"key, allowed", true, true, false, true},
      {"key, not allowed", false, true, false, false},
      {"no key, allowed", true, false, false, false},
      {"retry_non_idempotent", false, false, true, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    config::RetryConfig config = retryConfig();
    config.retry_idempotency_key = c.route_allows;
    config.retry_non_idempotent = c.retry_non_idempotent;
    setUp(config, 3, nullptr);
    request_.method = "POST";
    if (c.has_key) {
      request_.headers.add("idempotency-key", "8e03978e-40d5");
    }
    EXPECT_EQ(c.retry ? FilterStatus::StopIteration : FilterStatus::Continue, upstream(503));
  }
}

TEST_F(RetryFilterTest, StopsAtMaxRetries) {
  // max_retries 3: attempts 1..3 ended may retry; after the 4th (3 retries made) no more.
  for (uint32_t attempt = 1; attempt <= 4; ++attempt) {
    SCOPED_TRACE(attempt);
    control_->info().attempts = attempt;
    EXPECT_EQ(attempt <= 3 ? FilterStatus::StopIteration : FilterStatus::Continue, upstream(502));
    attemptDone(attempt + 1);
  }
  EXPECT_EQ(3U, control_->retries.size());
  EXPECT_EQ(3U, stats().retryCount(reasonIndex(RetryOn::GatewayError)));
}

TEST_F(RetryFilterTest, BodyNotKeptOrResponseStartedIsNotRetried) {
  control_->info().body_kept = false;
  EXPECT_EQ(FilterStatus::Continue, upstream(503));
  control_->info().body_kept = true;
  control_->info().response_started = true;
  EXPECT_EQ(FilterStatus::Continue, upstream(503));
  EXPECT_TRUE(control_->retries.empty());
  EXPECT_EQ(0U, runtime_->retries().count());
}

TEST_F(RetryFilterTest, GrpcStatusFromHeaders) {
  config::RetryConfig config = retryConfig();
  config.on = {"grpc-unavailable"};
  setUp(config, 3, nullptr);
  EXPECT_EQ(FilterStatus::Continue, upstream(200, {{"grpc-status", "0"}}));
  EXPECT_EQ(FilterStatus::Continue, upstream(200, {{"grpc-status", "14x"}}));
  EXPECT_EQ(FilterStatus::Continue, upstream(200, {{"grpc-status", ""}}));
  EXPECT_EQ(FilterStatus::StopIteration, upstream(200, {{"grpc-status", "14"}}));
  EXPECT_EQ(1U, stats().retryCount(reasonIndex(RetryOn::GrpcUnavailable)));
}

TEST_F(RetryFilterTest, ClusterRetryLimitOverflowIsCounted) {
  setUp(retryConfig(), 1, nullptr);
  proxy::ResourceSlot other_stream = proxy::ResourceSlot::tryAcquire(runtime_->retries());
  ASSERT_TRUE(other_stream);
  EXPECT_EQ(FilterStatus::Continue, upstream(503));
  EXPECT_TRUE(control_->retries.empty());
  EXPECT_EQ(1U, stats().overflowCount(OverflowLimit::MaxRetries));
  EXPECT_EQ(0U, stats().retryCount(reasonIndex(RetryOn::GatewayError)));
  other_stream.release();
  EXPECT_EQ(FilterStatus::StopIteration, upstream(503));
}

TEST_F(RetryFilterTest, BudgetRefusalIsCountedAndReleasesTheLimitSlot) {
  RetryBudget budget({0.0, 0}, control_->now()); // no ratio, no floor: never admits
  setUp(retryConfig(), 3, &budget);
  EXPECT_EQ(FilterStatus::Continue, upstream(503));
  EXPECT_TRUE(control_->retries.empty());
  EXPECT_EQ(1U, stats().overflowCount(OverflowLimit::RetryBudget));
  EXPECT_EQ(0U, stats().overflowCount(OverflowLimit::MaxRetries));
  EXPECT_EQ(0U, runtime_->retries().count());
  EXPECT_EQ(0U, budget.activeRetries());
}

TEST_F(RetryFilterTest, BudgetRatioUsesTheClusterRequestsInFlight) {
  RetryBudget budget({0.5, 0}, control_->now()); // retries <= 50% of requests, no floor
  setUp(retryConfig(), 3, &budget);
  EXPECT_EQ(FilterStatus::Continue, upstream(503)); // 0 requests in flight: 1 > 0
  const proxy::ResourceSlot in_flight_1 = proxy::ResourceSlot::tryAcquire(runtime_->requests());
  const proxy::ResourceSlot in_flight_2 = proxy::ResourceSlot::tryAcquire(runtime_->requests());
  EXPECT_EQ(FilterStatus::StopIteration, upstream(503)); // 1 <= 0.5 * 2
  EXPECT_EQ(1U, budget.activeRetries());
  EXPECT_EQ(1U, stats().overflowCount(OverflowLimit::RetryBudget));
}

TEST_F(RetryFilterTest, RetryAfterHonouredAndCapped) {
  struct Case {
    const char* name;
    int status;
    const char* retry_after; // nullptr: none
    bool honor;
    std::optional<milliseconds> delay; // nullopt: backoff (<= 25ms)
  };
  const std::vector<Case> cases = {
      {"503 seconds", 503, "1", true, 1000ms},
      {"429 seconds", 429, "0", true, 0ms},
      {"capped at backoff.max", 503, "120", true, 2000ms},
      {"HTTP-date", 503, "Sun, 06 Nov 1994 08:49:38 GMT", true, 1000ms},
      {"date in the past", 503, "Sun, 06 Nov 1994 08:00:00 GMT", true, 0ms},
      {"invalid: backoff", 503, "soon", true, std::nullopt},
      {"not honoured", 503, "1", false, std::nullopt},
      {"502 ignores it", 502, "1", true, std::nullopt},
      {"none", 503, nullptr, true, std::nullopt},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    config::RetryConfig config = retryConfig();
    config.on.emplace_back("retriable-status");
    config.retriable_status = {429};
    config.backoff.max = 2000ms;
    config.honor_retry_after = c.honor;
    setUp(config, 3, nullptr);
    std::vector<proxy::Header> headers;
    if (c.retry_after != nullptr) {
      headers.push_back({"retry-after", c.retry_after});
    }
    ASSERT_EQ(FilterStatus::StopIteration, upstream(c.status, headers));
    ASSERT_EQ(1U, control_->retries.size());
    if (c.delay) {
      EXPECT_EQ(*c.delay, control_->retries[0]);
    } else {
      EXPECT_LE(control_->retries[0], 25ms);
    }
  }
}

TEST_F(RetryFilterTest, BackoffStaysInRangeAndSpreadsOverSeededDraws) {
  config::RetryConfig config = retryConfig();
  config.max_retries = 10;
  config.backoff = {milliseconds(10), milliseconds(100)};
  setUp(config, 3, nullptr);
  struct Case {
    uint32_t attempts; // attempts made so far: the retry is number `attempts`
    milliseconds ceiling;
  };
  const std::vector<Case> cases = {{1, 10ms}, {2, 20ms},  {3, 40ms},
                                   {4, 80ms}, {5, 100ms}, {9, 100ms}};
  constexpr int kDraws = 400;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.attempts);
    control_->retries.clear();
    for (int i = 0; i < kDraws; ++i) {
      control_->info().attempts = c.attempts;
      ASSERT_EQ(FilterStatus::StopIteration, upstream(503));
      attemptDone(c.attempts + 1);
    }
    ASSERT_EQ(static_cast<size_t>(kDraws), control_->retries.size());
    milliseconds low = c.ceiling;
    milliseconds high{0};
    int below_half = 0;
    for (const milliseconds d : control_->retries) {
      EXPECT_GE(d, 0ms);
      EXPECT_LE(d, c.ceiling);
      low = std::min(low, d);
      high = std::max(high, d);
      below_half += d * 2 < c.ceiling ? 1 : 0;
    }
    // Full jitter: both ends reached and about half below the middle.
    EXPECT_LE(low, c.ceiling / 10);
    EXPECT_GE(high, c.ceiling * 9 / 10);
    EXPECT_GT(below_half, kDraws * 35 / 100);
    EXPECT_LT(below_half, kDraws * 65 / 100);
  }
  EXPECT_EQ(0U, runtime_->retries().count());
}

TEST_F(RetryFilterTest, DeadlineStopsRetry) {
  struct Case {
    const char* name;
    milliseconds deadline_in;
    bool retry;
  };
  const std::vector<Case> cases = {
      {"before the delay", 999ms, false},
      {"exactly at the delay", 1000ms, false},
      {"after the delay", 1001ms, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    setUp(retryConfig(), 3, nullptr);
    control_->info().deadline = control_->now() + c.deadline_in;
    EXPECT_EQ(c.retry ? FilterStatus::StopIteration : FilterStatus::Continue,
              upstream(503, {{"retry-after", "1"}}));
    EXPECT_EQ(c.retry ? 1U : 0U, runtime_->retries().count());
    EXPECT_EQ(c.retry ? 1U : 0U, stats().retryCount(reasonIndex(RetryOn::GatewayError)));
  }
}

TEST_F(RetryFilterTest, SlotsHeldUntilTheRetryAttemptEnds) {
  RetryBudget budget({0.0, 10}, control_->now()); // the floor admits
  setUp(retryConfig(), 3, &budget);
  ASSERT_EQ(FilterStatus::StopIteration, upstream(503));
  EXPECT_EQ(1U, runtime_->retries().count());
  EXPECT_EQ(1U, budget.activeRetries());
  attemptDone(1); // the dropped attempt's end: the retry is still ahead
  EXPECT_EQ(1U, runtime_->retries().count());
  control_->info().attempts = 2;
  attemptDone(2); // the retry's own attempt ended
  EXPECT_EQ(0U, runtime_->retries().count());
  EXPECT_EQ(0U, budget.activeRetries());
}

TEST_F(RetryFilterTest, SlotsReleasedOnDestruction) {
  RetryBudget budget({0.0, 10}, control_->now());
  setUp(retryConfig(), 3, &budget);
  ASSERT_EQ(FilterStatus::StopIteration, upstream(503));
  EXPECT_EQ(1U, runtime_->retries().count());
  filter_.reset();
  EXPECT_EQ(0U, runtime_->retries().count());
  EXPECT_EQ(0U, budget.activeRetries());
}

// The retry's response may come before its onAttemptDone: its slot is free for the next retry.
TEST_F(RetryFilterTest, NextRetryReusesTheSlotOfTheRetryThatEnded) {
  setUp(retryConfig(), 1, nullptr);
  ASSERT_EQ(FilterStatus::StopIteration, upstream(503));
  control_->info().attempts = 2;
  EXPECT_EQ(FilterStatus::StopIteration, upstream(503));
  EXPECT_EQ(1U, runtime_->retries().count());
  EXPECT_EQ(0U, stats().overflowCount(OverflowLimit::MaxRetries));
  EXPECT_EQ(2U, control_->retries.size());
}

TEST_F(RetryFilterTest, NoClusterRuntimeRetriesWithoutLimits) {
  control_->info().cluster_runtime = nullptr;
  control_->info().cluster = nullptr;
  EXPECT_EQ(FilterStatus::StopIteration, upstream(503));
  EXPECT_TRUE(control_->cluster_stats.empty());
}

TEST(RetryPolicyTest, ConvertsConfig) {
  config::RetryConfig c;
  c.max_retries = 5;
  c.on = {"reset", "grpc-unavailable", "bogus"};
  c.retriable_status = {409};
  c.retry_non_idempotent = true;
  c.retry_idempotency_key = true;
  c.backoff = {milliseconds(7), milliseconds(70)};
  const RetryPolicy p = toRetryPolicy(c);
  EXPECT_EQ(5U, p.max_retries);
  EXPECT_TRUE(p.on.has(RetryOn::Reset));
  EXPECT_TRUE(p.on.has(RetryOn::GrpcUnavailable));
  EXPECT_FALSE(p.on.has(RetryOn::Http5xx));
  EXPECT_EQ(std::vector<int>{409}, p.retriable_status);
  EXPECT_TRUE(p.retry_non_idempotent);
  EXPECT_TRUE(p.allow_idempotency_key);
  const BackoffPolicy b = toBackoffPolicy(c.backoff);
  EXPECT_EQ(7ms, b.base);
  EXPECT_EQ(70ms, b.max);
}

} // namespace
} // namespace seawall::filters::retry
