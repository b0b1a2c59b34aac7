#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "filters/retry/retry_decision.h"

namespace seawall::filters::retry {
namespace {

using F = FailureKind;
using R = RetryOn;

RetryPolicy policyOn(RetryOnSet on, std::vector<int> retriable_status = {}) {
  RetryPolicy p;
  p.max_retries = 3;
  p.on = on;
  p.retriable_status = std::move(retriable_status);
  return p;
}

RetryRequest get() { return RetryRequest{"GET", false, false, false}; }
RetryRequest post() { return RetryRequest{"POST", false, false, false}; }

struct Case {
  const char* name;
  RetryPolicy policy;
  RetryRequest request;
  AttemptOutcome outcome;
  uint32_t attempts;
  bool retry;
  std::string_view reason;
};

void runCases(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const RetryDecision d = decideRetry(c.policy, c.request, c.outcome, c.attempts);
    EXPECT_EQ(c.retry, d.retry);
    EXPECT_EQ(c.reason, d.reason);
  }
}

TEST(RetryDecisionTest, StatusConditions) {
  const std::vector<Case> cases = {
      {"500 on 5xx", policyOn({R::Http5xx}), get(), AttemptOutcome::response(500), 1, true, "5xx"},
      {"599 on 5xx", policyOn({R::Http5xx}), get(), AttemptOutcome::response(599), 1, true, "5xx"},
      {"600 not 5xx", policyOn({R::Http5xx}), get(), AttemptOutcome::response(600), 1, false,
       "not-retriable"},
      {"499 not 5xx", policyOn({R::Http5xx}), get(), AttemptOutcome::response(499), 1, false,
       "not-retriable"},
      {"200 never", policyOn({R::Http5xx, R::GatewayError}), get(), AttemptOutcome::response(200),
       1, false, "not-retriable"},
      {"502 on gateway-error", policyOn({R::GatewayError}), get(), AttemptOutcome::response(502), 1,
       true, "gateway-error"},
      {"503 on gateway-error", policyOn({R::GatewayError}), get(), AttemptOutcome::response(503), 1,
       true, "gateway-error"},
      {"504 on gateway-error", policyOn({R::GatewayError}), get(), AttemptOutcome::response(504), 1,
       true, "gateway-error"},
      {"500 not a gateway error", policyOn({R::GatewayError}), get(), AttemptOutcome::response(500),
       1, false, "not-retriable"},
      {"503 prefers gateway-error over 5xx", policyOn({R::Http5xx, R::GatewayError}), get(),
       AttemptOutcome::response(503), 1, true, "gateway-error"},
      {"listed 503", policyOn({R::RetriableStatus}, {503}), get(), AttemptOutcome::response(503), 1,
       true, "retriable-status"},
      {"listed 409", policyOn({R::RetriableStatus}, {409, 503}), get(),
       AttemptOutcome::response(409), 1, true, "retriable-status"},
      {"unlisted 500", policyOn({R::RetriableStatus}, {503}), get(), AttemptOutcome::response(500),
       1, false, "not-retriable"},
      {"list without the condition", policyOn({R::GatewayError}, {409}), get(),
       AttemptOutcome::response(409), 1, false, "not-retriable"},
      {"retriable-status before gateway-error",
       policyOn({R::GatewayError, R::RetriableStatus}, {503}), get(), AttemptOutcome::response(503),
       1, true, "retriable-status"},
      {"empty on", policyOn({}), get(), AttemptOutcome::response(503), 1, false, "not-retriable"},
  };
  runCases(cases);
}

TEST(RetryDecisionTest, FailureConditions) {
  const std::vector<Case> cases = {
      {"reset on reset", policyOn({R::Reset}), get(), AttemptOutcome::failed(F::Reset), 1, true,
       "reset"},
      {"reset on 5xx", policyOn({R::Http5xx}), get(), AttemptOutcome::failed(F::Reset), 1, true,
       "5xx"},
      {"reset on gateway-error", policyOn({R::GatewayError}), get(),
       AttemptOutcome::failed(F::Reset), 1, true, "gateway-error"},
      {"reset prefers reset", policyOn({R::Http5xx, R::Reset}), get(),
       AttemptOutcome::failed(F::Reset), 1, true, "reset"},
      {"reset not on connect-failure", policyOn({R::ConnectFailure, R::RefusedStream}), get(),
       AttemptOutcome::failed(F::Reset), 1, false, "not-retriable"},
      {"connect on connect-failure", policyOn({R::ConnectFailure}), get(),
       AttemptOutcome::failed(F::ConnectFailure), 1, true, "connect-failure"},
      {"connect on 5xx", policyOn({R::Http5xx}), get(), AttemptOutcome::failed(F::ConnectFailure),
       1, true, "5xx"},
      {"connect not on reset", policyOn({R::Reset}), get(),
       AttemptOutcome::failed(F::ConnectFailure), 1, false, "not-retriable"},
      {"refused on refused-stream", policyOn({R::RefusedStream}), get(),
       AttemptOutcome::failed(F::RefusedStream), 1, true, "refused-stream"},
      {"refused on gateway-error", policyOn({R::GatewayError}), get(),
       AttemptOutcome::failed(F::RefusedStream), 1, true, "gateway-error"},
      {"refused not on reset", policyOn({R::Reset}), get(),
       AttemptOutcome::failed(F::RefusedStream), 1, false, "not-retriable"},
      {"timeout on 5xx", policyOn({R::Http5xx}), get(), AttemptOutcome::failed(F::Timeout), 1, true,
       "5xx"},
      {"timeout on gateway-error", policyOn({R::GatewayError}), get(),
       AttemptOutcome::failed(F::Timeout), 1, true, "gateway-error"},
      {"timeout not on reset or connect-failure",
       policyOn({R::Reset, R::ConnectFailure, R::RefusedStream, R::RetriableStatus}, {504}), get(),
       AttemptOutcome::failed(F::Timeout), 1, false, "not-retriable"},
  };
  runCases(cases);
}

TEST(RetryDecisionTest, GrpcConditions) {
  const RetryOnSet all_grpc = {R::GrpcCancelled, R::GrpcDeadlineExceeded, R::GrpcResourceExhausted,
                               R::GrpcInternal, R::GrpcUnavailable};
  const std::vector<Case> cases = {
      {"unavailable", policyOn({R::GrpcUnavailable}), post(), AttemptOutcome::response(200, 14), 1,
       false, "non-idempotent"}, // gRPC calls are POSTs: the route must allow them
      {"unavailable GET", policyOn({R::GrpcUnavailable}), get(), AttemptOutcome::response(200, 14),
       1, true, "grpc-unavailable"},
      {"resource-exhausted", policyOn(all_grpc), get(), AttemptOutcome::response(200, 8), 1, true,
       "grpc-resource-exhausted"},
      {"cancelled", policyOn(all_grpc), get(), AttemptOutcome::response(200, 1), 1, true,
       "grpc-cancelled"},
      {"deadline-exceeded", policyOn(all_grpc), get(), AttemptOutcome::response(200, 4), 1, true,
       "grpc-deadline-exceeded"},
      {"internal", policyOn(all_grpc), get(), AttemptOutcome::response(200, 13), 1, true,
       "grpc-internal"},
      {"ok", policyOn(all_grpc), get(), AttemptOutcome::response(200, 0), 1, false,
       "not-retriable"},
      {"not-found", policyOn(all_grpc), get(), AttemptOutcome::response(200, 5), 1, false,
       "not-retriable"},
      {"code not configured", policyOn({R::GrpcResourceExhausted}), get(),
       AttemptOutcome::response(200, 14), 1, false, "not-retriable"},
      {"grpc before 5xx", policyOn({R::Http5xx, R::GrpcUnavailable}), get(),
       AttemptOutcome::response(503, 14), 1, true, "grpc-unavailable"},
      {"5xx when grpc code not configured", policyOn({R::Http5xx}), get(),
       AttemptOutcome::response(503, 14), 1, true, "5xx"},
  };
  runCases(cases);
}

TEST(RetryDecisionTest, IdempotencyRules) {
  RetryPolicy allow_all = policyOn({R::Http5xx});
  allow_all.retry_non_idempotent = true;
  RetryPolicy allow_key = policyOn({R::Http5xx});
  allow_key.allow_idempotency_key = true;
  const RetryRequest post_with_key{"POST", true, false, false};
  const AttemptOutcome e503 = AttemptOutcome::response(503);
  const std::vector<Case> cases = {
      {"POST 503", policyOn({R::Http5xx}), post(), e503, 1, false, "non-idempotent"},
      {"PATCH 503", policyOn({R::Http5xx}), RetryRequest{"PATCH"}, e503, 1, false,
       "non-idempotent"},
      {"lowercase get is not GET", policyOn({R::Http5xx}), RetryRequest{"get"}, e503, 1, false,
       "non-idempotent"},
      {"POST, retry_non_idempotent", allow_all, post(), e503, 1, true, "5xx"},
      {"POST with key, route disallows", policyOn({R::Http5xx}), post_with_key, e503, 1, false,
       "non-idempotent"},
      {"POST with key, route allows", allow_key, post_with_key, e503, 1, true, "5xx"},
      {"POST without key, route allows keys", allow_key, post(), e503, 1, false, "non-idempotent"},
      {"POST reset", policyOn({R::Reset}), post(), AttemptOutcome::failed(F::Reset), 1, false,
       "non-idempotent"},
      {"POST timeout", policyOn({R::Http5xx}), post(), AttemptOutcome::failed(F::Timeout), 1, false,
       "non-idempotent"},
      {"POST connect failure: never processed", policyOn({R::ConnectFailure}), post(),
       AttemptOutcome::failed(F::ConnectFailure), 1, true, "connect-failure"},
      {"POST connect failure via 5xx", policyOn({R::Http5xx}), post(),
       AttemptOutcome::failed(F::ConnectFailure), 1, true, "5xx"},
      {"POST refused stream: never processed", policyOn({R::RefusedStream}), post(),
       AttemptOutcome::failed(F::RefusedStream), 1, true, "refused-stream"},
  };
  runCases(cases);
}

TEST(RetryDecisionTest, IdempotentMethods) {
  struct MethodCase {
    std::string_view method;
    bool idempotent;
  };
  const std::vector<MethodCase> cases = {
      {"GET", true},      {"HEAD", true},   {"OPTIONS", true}, {"TRACE", true},
      {"PUT", true},      {"DELETE", true}, {"POST", false},   {"PATCH", false},
      {"CONNECT", false}, {"get", false},   {"", false},       {"GETX", false},
  };
  for (const MethodCase& c : cases) {
    SCOPED_TRACE(std::string(c.method));
    EXPECT_EQ(c.idempotent, isIdempotentMethod(c.method));
    const RetryDecision d = decideRetry(policyOn({R::Http5xx}), RetryRequest{c.method},
                                        AttemptOutcome::response(500), 1);
    EXPECT_EQ(c.idempotent, d.retry);
  }
}

TEST(RetryDecisionTest, BodyAndResponseState) {
  const RetryRequest too_large{"GET", false, true, false};
  const RetryRequest started{"GET", false, false, true};
  const std::vector<Case> cases = {
      {"body too large", policyOn({R::Http5xx}), too_large, AttemptOutcome::response(503), 1, false,
       "body-too-large"},
      {"body too large, connect failure", policyOn({R::ConnectFailure}), too_large,
       AttemptOutcome::failed(F::ConnectFailure), 1, false, "body-too-large"},
      {"response started", policyOn({R::Http5xx}), started, AttemptOutcome::failed(F::Reset), 1,
       false, "response-started"},
      {"response started beats everything", policyOn({}), RetryRequest{"POST", false, true, true},
       AttemptOutcome::response(200), 9, false, "response-started"},
      {"not-retriable before body", policyOn({R::Http5xx}), too_large,
       AttemptOutcome::response(200), 1, false, "not-retriable"},
      {"body before idempotency", policyOn({R::Http5xx}), RetryRequest{"POST", false, true, false},
       AttemptOutcome::response(503), 1, false, "body-too-large"},
  };
  runCases(cases);
}

TEST(RetryDecisionTest, MaxRetries) {
  RetryPolicy none = policyOn({R::Http5xx});
  none.max_retries = 0;
  const AttemptOutcome e500 = AttemptOutcome::response(500);
  const std::vector<Case> cases = {
      {"attempt 0 counts as 1", policyOn({R::Http5xx}), get(), e500, 0, true, "5xx"},
      {"after try 1", policyOn({R::Http5xx}), get(), e500, 1, true, "5xx"},
      {"after try 3", policyOn({R::Http5xx}), get(), e500, 3, true, "5xx"},
      {"after try 4: 3 retries done", policyOn({R::Http5xx}), get(), e500, 4, false, "max-retries"},
      {"far past", policyOn({R::Http5xx}), get(), e500, 1000, false, "max-retries"},
      {"max_retries 0", none, get(), e500, 1, false, "max-retries"},
      {"non-idempotent before max-retries", policyOn({R::Http5xx}), post(), e500, 4, false,
       "non-idempotent"},
      {"not-retriable before max-retries", policyOn({R::Http5xx}), get(),
       AttemptOutcome::response(200), 4, false, "not-retriable"},
  };
  runCases(cases);
}

TEST(RetryDecisionTest, ConditionNamesRoundTrip) {
  const std::vector<std::string_view> names = {"5xx",
                                               "gateway-error",
                                               "reset",
                                               "connect-failure",
                                               "refused-stream",
                                               "retriable-status",
                                               "grpc-cancelled",
                                               "grpc-deadline-exceeded",
                                               "grpc-resource-exhausted",
                                               "grpc-internal",
                                               "grpc-unavailable"};
  ASSERT_EQ(kRetryOnCount, names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    SCOPED_TRACE(std::string(names[i]));
    const auto parsed = parseRetryOn(names[i]);
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(static_cast<RetryOn>(i), *parsed);
    EXPECT_EQ(names[i], retryOnName(*parsed));
  }
  for (const std::string_view bad : {"5XX", "unavailable", "", "timeout", "gateway_error"}) {
    SCOPED_TRACE(std::string(bad));
    EXPECT_FALSE(parseRetryOn(bad).has_value());
  }
}

TEST(RetryDecisionTest, RetryOnSetHoldsWhatWasAdded) {
  RetryOnSet set;
  EXPECT_TRUE(set.empty());
  set.add(R::Reset);
  set.add(R::GrpcUnavailable);
  for (size_t i = 0; i < kRetryOnCount; ++i) {
    const auto c = static_cast<RetryOn>(i);
    EXPECT_EQ(c == R::Reset || c == R::GrpcUnavailable, set.has(c)) << retryOnName(c);
  }
  EXPECT_FALSE(set.empty());
}

} // namespace
} // namespace seawall::filters::retry
