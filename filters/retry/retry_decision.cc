#include "filters/retry/retry_decision.h"

#include <algorithm>
#include <array>

namespace seawall::filters::retry {
namespace {

constexpr std::array<std::string_view, kRetryOnCount> kRetryOnNames = {
    "5xx",
    "gateway-error",
    "reset",
    "connect-failure",
    "refused-stream",
    "retriable-status",
    "grpc-cancelled",
    "grpc-deadline-exceeded",
    "grpc-resource-exhausted",
    "grpc-internal",
    "grpc-unavailable",
};

// gRPC status codes (grpc/doc/statuscodes.md) and the condition that retries them.
struct GrpcCondition {
  int code;
  RetryOn condition;
};
constexpr std::array<GrpcCondition, 5> kGrpcConditions = {{
    {1, RetryOn::GrpcCancelled},
    {4, RetryOn::GrpcDeadlineExceeded},
    {8, RetryOn::GrpcResourceExhausted},
    {13, RetryOn::GrpcInternal},
    {14, RetryOn::GrpcUnavailable},
}};

// The first of `candidates` the policy retries on.
std::optional<RetryOn> firstOf(const RetryOnSet& on, std::initializer_list<RetryOn> candidates) {
  for (const RetryOn c : candidates) {
    if (on.has(c)) {
      return c;
    }
  }
  return std::nullopt;
}

// No response at all: the specific condition first, then the generic 5xx / gateway-error, which
// both cover every failure (a proxy would answer it with 502, 503 or 504).
std::optional<RetryOn> matchFailure(const RetryOnSet& on, FailureKind failure) {
  switch (failure) {
  case FailureKind::ConnectFailure:
    return firstOf(on, {RetryOn::ConnectFailure, RetryOn::Http5xx, RetryOn::GatewayError});
  case FailureKind::Reset:
    return firstOf(on, {RetryOn::Reset, RetryOn::Http5xx, RetryOn::GatewayError});
  case FailureKind::RefusedStream:
    return firstOf(on, {RetryOn::RefusedStream, RetryOn::Http5xx, RetryOn::GatewayError});
  case FailureKind::Timeout:
    return firstOf(on, {RetryOn::Http5xx, RetryOn::GatewayError});
  case FailureKind::None:
    break;
  }
  return std::nullopt;
}

// A response: grpc-status first, then retriable-status, gateway-error, 5xx.
std::optional<RetryOn> matchResponse(const RetryPolicy& policy, const AttemptOutcome& outcome) {
  if (outcome.grpc_status) {
    for (const GrpcCondition& g : kGrpcConditions) {
      if (g.code == *outcome.grpc_status && policy.on.has(g.condition)) {
        return g.condition;
      }
    }
  }
  const int status = outcome.http_status;
  if (policy.on.has(RetryOn::RetriableStatus) &&
      std::find(policy.retriable_status.begin(), policy.retriable_status.end(), status) !=
          policy.retriable_status.end()) {
    return RetryOn::RetriableStatus;
  }
  if (policy.on.has(RetryOn::GatewayError) && (status == 502 || status == 503 || status == 504)) {
    return RetryOn::GatewayError;
  }
  if (policy.on.has(RetryOn::Http5xx) && status >= 500 && status <= 599) {
    return RetryOn::Http5xx;
  }
  return std::nullopt;
}

// The upstream never processed the request, so replaying it is safe whatever the method.
bool nothingProcessed(FailureKind failure) {
  return failure == FailureKind::ConnectFailure || failure == FailureKind::RefusedStream;
}

bool mayReplay(const RetryPolicy& policy, const RetryRequest& request, FailureKind failure) {
  return nothingProcessed(failure) || isIdempotentMethod(request.method) ||
         policy.retry_non_idempotent ||
         (policy.allow_idempotency_key && request.has_idempotency_key);
}

} // namespace

std::string_view retryOnName(RetryOn condition) {
  const auto i = static_cast<size_t>(condition);
  return i < kRetryOnNames.size() ? kRetryOnNames[i] : std::string_view{};
}

std::optional<RetryOn> parseRetryOn(std::string_view token) {
  for (size_t i = 0; i < kRetryOnNames.size(); ++i) {
    if (kRetryOnNames[i] == token) {
      return static_cast<RetryOn>(i);
    }
  }
  return std::nullopt;
}

RetryOnSet::RetryOnSet(std::initializer_list<RetryOn> conditions) {
  for (const RetryOn c : conditions) {
    add(c);
  }
}

bool isIdempotentMethod(std::string_view method) {
  constexpr std::array<std::string_view, 6> kIdempotent = {"GET",   "HEAD", "OPTIONS",
                                                           "TRACE", "PUT",  "DELETE"};
  return std::find(kIdempotent.begin(), kIdempotent.end(), method) != kIdempotent.end();
}

RetryDecision decideRetry(const RetryPolicy& policy, const RetryRequest& request,
                          const AttemptOutcome& outcome, uint32_t attempts_so_far) {
  if (request.response_started) {
    return {false, kNoResponseStarted};
  }
  const std::optional<RetryOn> matched = outcome.failure == FailureKind::None
                                             ? matchResponse(policy, outcome)
                                             : matchFailure(policy.on, outcome.failure);
  if (!matched) {
    return {false, kNoNotRetriable};
  }
  if (request.body_too_large) {
    return {false, kNoBodyTooLarge};
  }
  if (!mayReplay(policy, request, outcome.failure)) {
    return {false, kNoNonIdempotent};
  }
  const uint32_t retries_done = attempts_so_far == 0 ? 0 : attempts_so_far - 1;
  if (retries_done >= policy.max_retries) {
    return {false, kNoMaxRetries};
  }
  return {true, retryOnName(*matched)};
}

} // namespace seawall::filters::retry
