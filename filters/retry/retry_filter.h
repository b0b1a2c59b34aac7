// Retries: on the response of an attempt (from the upstream, or the router's reply for a failed
// attempt) decide with decideRetry(), admit with the cluster's max_retries and the retry budget,
// wait the backoff (or the upstream's Retry-After) and ask the stream for another attempt.
//
// Per response (onResponseHeaders):
//   1. Only responses of attempts are candidates (ResponseSource Upstream or AttemptFailure);
//      local replies of filters (breaker-open, overflow-*, timeout-*) and fallbacks never are.
//      AttemptFailure outcomes Overflow, NoEndpoint and Cancelled are not retried.
//   2. decideRetry(policy, request, outcome, info().attempts).
//   3. Delay: honor_retry_after and an upstream 429/503 with a valid Retry-After -> that delay,
//      capped at backoff.max; otherwise full-jitter backoff for retry number info().attempts.
//   4. A retry that would start at or after info().deadline is not made.
//   5. Admission: a slot of the cluster's `retries` resource (else overflow{limit=max_retries}),
//      then the retry budget when there is one (else overflow{limit=retry_budget}). Refused:
//      the response passes on (Continue). Steps 3-4 come before admission so that a retry the
//      deadline forbids spends no budget token.
//   6. seawall_retries_total{reason=<matched condition>} is counted, both slots are kept until
//      the retry's own attempt ends (its onAttemptDone, or this filter's destruction), and
//      retryAttempt(delay) drops the response (StopIteration).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include "config/config.h"
#include "filters/retry/backoff.h"
#include "filters/retry/retry_budget.h"
#include "filters/retry/retry_decision.h"
#include "proxy/http_filter.h"
#include "proxy/upstream/cluster_runtime.h"

namespace seawall::filters::retry {

// Wall clock for Retry-After dates; a seam for tests.
using SystemClockFn = std::function<std::chrono::system_clock::time_point()>;

// The route's retry policy, converted once. Unknown `on` tokens (the loader rejects them) are
// ignored.
RetryPolicy toRetryPolicy(const config::RetryConfig& config);
BackoffPolicy toBackoffPolicy(const config::BackoffConfig& config);

class RetryFilterFactory final : public proxy::FilterFactory {
public:
  // `budget`: the cluster's retry budget, shared by workers and outliving every stream; null for
  // none. `system_clock`: empty for std::chrono::system_clock::now.
  RetryFilterFactory(const config::RetryConfig& config, RetryBudget* budget,
                     SystemClockFn system_clock = {});

  std::unique_ptr<proxy::HttpFilter> create(proxy::StreamControl& control) const override;
  std::string_view name() const override { return "retry"; }

  const RetryPolicy& policy() const { return policy_; }
  const BackoffPolicy& backoff() const { return backoff_; }
  bool honorRetryAfter() const { return honor_retry_after_; }
  RetryBudget* budget() const { return budget_; }
  std::chrono::system_clock::time_point systemNow() const;

private:
  const RetryPolicy policy_;
  const BackoffPolicy backoff_;
  const bool honor_retry_after_;
  RetryBudget* const budget_;
  const SystemClockFn system_clock_;
};

class RetryFilter final : public proxy::HttpFilter {
public:
  RetryFilter(proxy::StreamControl& control, const RetryFilterFactory& factory)
      : control_(control), factory_(factory) {}

  void onAttemptDone(const proxy::AttemptResult& result) override;
  proxy::FilterStatus onResponseHeaders(proxy::ResponseHead& head, bool end_stream) override;

private:
  // The outcome to decide on; nullopt when this response is not an attempt's or not retriable.
  std::optional<AttemptOutcome> outcomeOf(const proxy::ResponseHead& head) const;
  std::chrono::milliseconds delayFor(const proxy::ResponseHead& head) const;
  // Takes the cluster's retries slot and a budget slot into the members; false (counted) when
  // either is refused.
  bool admit(proxy::stats::ClusterStats* stats);
  void releaseSlots();

  proxy::StreamControl& control_;
  const RetryFilterFactory& factory_;
  // Held while a retry is in flight: from retryAttempt() until attempt `retry_attempt_` ends.
  proxy::ResourceSlot retries_slot_;
  RetryBudget::Slot budget_slot_;
  uint32_t retry_attempt_ = 0;
};

} // namespace seawall::filters::retry
