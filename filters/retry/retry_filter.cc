#include "filters/retry/retry_filter.h"

#include <algorithm>
#include <charconv>
#include <string>
#include <utility>

#include "proxy/stats/worker_stats.h"

namespace seawall::filters::retry {
namespace {

using proxy::AttemptFailure;
using proxy::FilterStatus;
using proxy::ResponseSource;

constexpr int kTooManyRequests = 429;
constexpr int kServiceUnavailable = 503;

std::optional<FailureKind> failureKindOf(AttemptFailure f) {
  switch (f) {
  case AttemptFailure::ConnectFailure:
    return FailureKind::ConnectFailure;
  case AttemptFailure::Reset:
  case AttemptFailure::ProtocolError:
    return FailureKind::Reset;
  case AttemptFailure::RefusedStream:
    return FailureKind::RefusedStream;
  case AttemptFailure::Timeout:
    return FailureKind::Timeout;
  case AttemptFailure::None:
  case AttemptFailure::Overflow:
  case AttemptFailure::NoEndpoint:
  case AttemptFailure::Cancelled:
    return std::nullopt;
  }
  return std::nullopt;
}

// A whole decimal header value, else nullopt.
std::optional<int> parseInt(const std::string* value) {
  if (value == nullptr || value->empty()) {
    return std::nullopt;
  }
  int n = 0;
  const char* end = value->data() + value->size();
  const auto [ptr, ec] = std::from_chars(value->data(), end, n);
  if (ec != std::errc() || ptr != end) {
    return std::nullopt;
  }
  return n;
}

} // namespace

RetryPolicy toRetryPolicy(const config::RetryConfig& config) {
  RetryPolicy p;
  p.max_retries = config.max_retries;
  for (const std::string& token : config.on) {
    if (const std::optional<RetryOn> on = parseRetryOn(token); on) {
      p.on.add(*on);
    }
  }
  p.retriable_status = config.retriable_status;
  p.retry_non_idempotent = config.retry_non_idempotent;
  p.allow_idempotency_key = config.retry_idempotency_key;
  return p;
}

BackoffPolicy toBackoffPolicy(const config::BackoffConfig& config) {
  return BackoffPolicy{config.base, config.max};
}

RetryFilterFactory::RetryFilterFactory(const config::RetryConfig& config, RetryBudget* budget,
                                       SystemClockFn system_clock)
    : policy_(toRetryPolicy(config)), backoff_(toBackoffPolicy(config.backoff)),
      honor_retry_after_(config.honor_retry_after), budget_(budget),
      system_clock_(std::move(system_clock)) {}

std::unique_ptr<proxy::HttpFilter> RetryFilterFactory::create(proxy::StreamControl& control) const {
  return std::make_unique<RetryFilter>(control, *this);
}

std::chrono::system_clock::time_point RetryFilterFactory::systemNow() const {
  return system_clock_ ? system_clock_() : std::chrono::system_clock::now();
}

void RetryFilter::onAttemptDone(const proxy::AttemptResult& result) {
  if (retry_attempt_ != 0 && result.attempt >= retry_attempt_) {
    releaseSlots();
  }
}

FilterStatus RetryFilter::onResponseHeaders(proxy::ResponseHead& head, bool /*end_stream*/) {
  const proxy::StreamInfo& info = control_.info();
  // The retry in flight, if any, is the attempt that produced this response: it has ended.
  if (retry_attempt_ != 0 && info.attempts >= retry_attempt_) {
    releaseSlots();
  }
  const std::optional<AttemptOutcome> outcome = outcomeOf(head);
  if (!outcome || info.request == nullptr) {
    return FilterStatus::Continue;
  }
  const RetryRequest request{info.request->method, info.request->headers.has("idempotency-key"),
                             !info.body_kept, info.response_started};
  const RetryDecision decision = decideRetry(factory_.policy(), request, *outcome, info.attempts);
  if (!decision.retry) {
    return FilterStatus::Continue;
  }
  const std::chrono::milliseconds delay = delayFor(head);
  if (info.deadline && control_.now() + delay >= *info.deadline) {
    return FilterStatus::Continue;
  }
  proxy::stats::ClusterStats* stats =
      info.cluster != nullptr ? control_.clusterStats(info.cluster->name) : nullptr;
  if (!admit(stats)) {
    return FilterStatus::Continue;
  }
  if (stats != nullptr) {
    if (const std::optional<RetryOn> matched = parseRetryOn(decision.reason); matched) {
      stats->retry(static_cast<size_t>(*matched));
    }
  }
  retry_attempt_ = info.attempts + 1;
  control_.retryAttempt(delay);
  return FilterStatus::StopIteration;
}

std::optional<AttemptOutcome> RetryFilter::outcomeOf(const proxy::ResponseHead& head) const {
  const proxy::StreamInfo& info = control_.info();
  switch (info.response_source) {
  case ResponseSource::Upstream:
    return AttemptOutcome::response(head.status, parseInt(head.headers.get("grpc-status")));
  case ResponseSource::AttemptFailure: {
    if (!info.last_attempt) {
      return std::nullopt;
    }
    const std::optional<FailureKind> kind = failureKindOf(info.last_attempt->failure);
    if (!kind) {
      return std::nullopt;
    }
    return AttemptOutcome::failed(*kind);
  }
  case ResponseSource::Filter:
  case ResponseSource::Fallback:
    return std::nullopt;
  }
  return std::nullopt;
}

std::chrono::milliseconds RetryFilter::delayFor(const proxy::ResponseHead& head) const {
  const proxy::StreamInfo& info = control_.info();
  if (factory_.honorRetryAfter() && info.response_source == ResponseSource::Upstream &&
      (head.status == kTooManyRequests || head.status == kServiceUnavailable)) {
    if (const std::string* value = head.headers.get("retry-after"); value != nullptr) {
      if (const auto honoured =
              honouredRetryAfter(*value, factory_.systemNow(), factory_.backoff());
          honoured) {
        return *honoured;
      }
    }
  }
  return backoffDelay(factory_.backoff(), std::max<uint32_t>(info.attempts, 1), control_.random());
}

bool RetryFilter::admit(proxy::stats::ClusterStats* stats) {
  proxy::ClusterRuntime* runtime = control_.info().cluster_runtime;
  proxy::ResourceSlot retries_slot;
  if (runtime != nullptr) {
    retries_slot = proxy::ResourceSlot::tryAcquire(runtime->retries());
    if (!retries_slot) {
      if (stats != nullptr) {
        stats->overflow(proxy::stats::OverflowLimit::MaxRetries);
      }
      return false;
    }
  }
  RetryBudget::Slot budget_slot;
  if (RetryBudget* budget = factory_.budget(); budget != nullptr) {
    const uint64_t active = runtime != nullptr ? runtime->requests().count() : 0;
    budget_slot = budget->tryStartRetry(control_.now(), active);
    if (!budget_slot) {
      if (stats != nullptr) {
        stats->overflow(proxy::stats::OverflowLimit::RetryBudget);
      }
      return false;
    }
  }
  retries_slot_ = std::move(retries_slot);
  budget_slot_ = std::move(budget_slot);
  return true;
}

void RetryFilter::releaseSlots() {
  retries_slot_.release();
  budget_slot_.release();
  retry_attempt_ = 0;
}

} // namespace seawall::filters::retry
