#include "filters/circuit_breaker/breaker_filter.h"

#include <string>
#include <utility>

#include "filters/retry/backoff.h"
#include "proxy/upstream/cluster_runtime.h"

namespace seawall::filters::circuit_breaker {
namespace {

bool noOutcome(proxy::AttemptFailure failure) {
  return failure == proxy::AttemptFailure::Cancelled ||
         failure == proxy::AttemptFailure::Overflow || failure == proxy::AttemptFailure::NoEndpoint;
}

} // namespace

BreakerFilter::BreakerFilter(proxy::StreamControl& control, WallClock wall_clock)
    : control_(control), wall_clock_(std::move(wall_clock)) {}

BreakerFilter::~BreakerFilter() { cancelAdmitted(); }

proxy::FilterStatus BreakerFilter::onAttemptStart(proxy::RequestHead& /*attempt_request*/) {
  cancelAdmitted(); // an earlier attempt that never reported: give its admission back
  proxy::ClusterRuntime* runtime = control_.info().cluster_runtime;
  if (runtime == nullptr || runtime->breaker() == nullptr) {
    return Continue;
  }
  switch (runtime->breaker()->tryAcquire(control_.now())) {
  case Admission::Rejected:
    control_.reply({503, "breaker-open",
                    "circuit breaker of cluster '" + runtime->name() + "' is open", std::nullopt});
    return StopIteration;
  case Admission::AllowedButWouldReject:
    runtime->countWouldReject();
    break;
  case Admission::Allowed:
    break;
  }
  admitted_ = runtime;
  return Continue;
}

void BreakerFilter::onAttemptDone(const proxy::AttemptResult& result) {
  proxy::ClusterRuntime* runtime = std::exchange(admitted_, nullptr);
  if (runtime == nullptr) {
    return; // not admitted by a breaker (no breaker, or rejected)
  }
  CircuitBreaker& breaker = *runtime->breaker();
  const TimePoint now = control_.now();
  if (noOutcome(result.failure)) {
    breaker.onCancelled(now);
    return;
  }
  breaker.onResult(now, runtime->failurePolicy().isFailure(result), result.latency);
  if (runtime->openOnRetryAfter()) {
    openOnRetryAfter(breaker, result);
  }
}

void BreakerFilter::openOnRetryAfter(CircuitBreaker& breaker, const proxy::AttemptResult& result) {
  if (result.failure != proxy::AttemptFailure::None ||
      (result.status != 429 && result.status != 503) || result.retry_after.empty()) {
    return;
  }
  const auto wall_now = wall_clock_ ? wall_clock_() : std::chrono::system_clock::now();
  const auto delay = retry::parseRetryAfter(result.retry_after, wall_now);
  if (delay) {
    breaker.openFor(control_.now(), *delay);
  }
}

void BreakerFilter::cancelAdmitted() {
  proxy::ClusterRuntime* runtime = std::exchange(admitted_, nullptr);
  if (runtime != nullptr) {
    runtime->breaker()->onCancelled(control_.now());
  }
}

BreakerFilterFactory::BreakerFilterFactory(WallClock wall_clock)
    : wall_clock_(std::move(wall_clock)) {}

std::unique_ptr<proxy::HttpFilter>
BreakerFilterFactory::create(proxy::StreamControl& control) const {
  return std::make_unique<BreakerFilter>(control, wall_clock_);
}

} // namespace seawall::filters::circuit_breaker
