// Circuit breaker record/decide: tryAcquire then onResult for one call, as every attempt does on
// a cluster with a breaker (count and time windows; single-threaded here, so an uncontended
// mutex).
#include <chrono>
#include <cstdint>

#include <benchmark/benchmark.h>

#include "filters/circuit_breaker/circuit_breaker.h"

namespace seawall::filters::circuit_breaker {
namespace {

void run(benchmark::State& state, const BreakerPolicy& policy) {
  CircuitBreaker breaker(policy);
  TimePoint now{};
  uint64_t calls = 0;
  for (auto _ : state) {
    now += std::chrono::microseconds(20);
    const Admission admission = breaker.tryAcquire(now);
    benchmark::DoNotOptimize(admission);
    // One failure in ten: the rate stays below 50%, the breaker stays closed.
    breaker.onResult(now, ++calls % 10 == 0, std::chrono::microseconds(300));
  }
  if (breaker.state(now) != State::Closed) {
    state.SkipWithError("the breaker opened");
  }
  state.SetItemsProcessed(state.iterations());
}

void bmBreakerCountWindow(benchmark::State& state) { run(state, BreakerPolicy{}); }
BENCHMARK(bmBreakerCountWindow);

void bmBreakerTimeWindow(benchmark::State& state) {
  BreakerPolicy policy;
  policy.window.type = WindowType::Time;
  policy.window.size_duration = std::chrono::seconds(10);
  run(state, policy);
}
BENCHMARK(bmBreakerTimeWindow);

} // namespace
} // namespace seawall::filters::circuit_breaker
