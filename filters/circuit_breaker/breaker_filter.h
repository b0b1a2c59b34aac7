// The circuit_breaker filter: admits or rejects each attempt with the breaker of the attempt's
// cluster (info().cluster_runtime, which a cluster fallback may change between attempts) and
// feeds the attempt's outcome back to the breaker that admitted it.
//
// - onAttemptStart: Rejected -> local reply 503 `breaker-open` and StopIteration (the attempt is
//   not sent and not retried). AllowedButWouldReject (metrics_only) -> counted on the cluster
//   runtime, the attempt goes on.
// - onAttemptDone: Cancelled, Overflow and NoEndpoint give the admission back (onCancelled: the
//   upstream was not asked); any other outcome is recorded (failure per `failure_on`, latency for
//   the slow-call rate). With `open_on_retry_after`, a 429 or 503 carrying a valid Retry-After
//   then opens the breaker for that long.
// - An admitted attempt that never gets onAttemptDone (stream destroyed, or a new attempt started
//   first) is cancelled, so a half-open probe slot always comes back.
// No-op for clusters without a breaker.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string_view>

#include "filters/circuit_breaker/circuit_breaker.h"
#include "proxy/http_filter.h"

namespace seawall::filters::circuit_breaker {

// The wall clock Retry-After dates are read against (injectable for tests).
using WallClock = std::function<std::chrono::system_clock::time_point()>;

class BreakerFilter final : public proxy::HttpFilter {
public:
  BreakerFilter(proxy::StreamControl& control, WallClock wall_clock);
  BreakerFilter(const BreakerFilter&) = delete;
  BreakerFilter& operator=(const BreakerFilter&) = delete;
  BreakerFilter(BreakerFilter&&) = delete;
  BreakerFilter& operator=(BreakerFilter&&) = delete;
  ~BreakerFilter() override;

  proxy::FilterStatus onAttemptStart(proxy::RequestHead& attempt_request) override;
  void onAttemptDone(const proxy::AttemptResult& result) override;

private:
  void cancelAdmitted();
  void openOnRetryAfter(CircuitBreaker& breaker, const proxy::AttemptResult& result);

  proxy::StreamControl& control_;
  const WallClock wall_clock_;
  // The cluster whose breaker admitted the attempt in flight, or null.
  proxy::ClusterRuntime* admitted_ = nullptr;
};

class BreakerFilterFactory final : public proxy::FilterFactory {
public:
  // An empty `wall_clock` reads std::chrono::system_clock.
  explicit BreakerFilterFactory(WallClock wall_clock = {});
  std::unique_ptr<proxy::HttpFilter> create(proxy::StreamControl& control) const override;
  std::string_view name() const override { return "circuit_breaker"; }

private:
  const WallClock wall_clock_;
};

} // namespace seawall::filters::circuit_breaker
