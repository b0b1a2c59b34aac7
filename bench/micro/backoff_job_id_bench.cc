// Retry backoff computation (full jitter, and a Retry-After value parsed) and 202 job id
// generation (from the worker's random source, and from getrandom(2)).
#include <chrono>
#include <cstdint>
#include <string>

#include <benchmark/benchmark.h>

#include "filters/async_202/job_store.h"
#include "filters/retry/backoff.h"
#include "proxy/common/random.h"

namespace seawall::filters {
namespace {

void bmBackoffDelay(benchmark::State& state) {
  const retry::BackoffPolicy policy{std::chrono::milliseconds(25), std::chrono::milliseconds(1000)};
  proxy::SeededRandom random(42);
  uint32_t attempt = 0;
  for (auto _ : state) {
    attempt = attempt % 8 + 1;
    benchmark::DoNotOptimize(retry::backoffDelay(policy, attempt, random));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bmBackoffDelay);

void bmParseRetryAfter(benchmark::State& state) {
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(784111777));
  const std::string value = state.range(0) == 0 ? "120" : "Sun, 06 Nov 1994 08:49:37 GMT";
  for (auto _ : state) {
    benchmark::DoNotOptimize(retry::parseRetryAfter(value, now));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bmParseRetryAfter)->Arg(0)->Arg(1);

void bmJobIdFromWorkerRandom(benchmark::State& state) {
  proxy::SeededRandom random(7);
  for (auto _ : state) {
    const uint64_t high = random.next();
    const uint64_t low = random.next();
    std::string id = async_202::makeJobId(high, low);
    benchmark::DoNotOptimize(id);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bmJobIdFromWorkerRandom);

void bmJobIdSecure(benchmark::State& state) {
  for (auto _ : state) {
    std::string id = async_202::makeSecureJobId();
    benchmark::DoNotOptimize(id);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bmJobIdSecure);

} // namespace
} // namespace seawall::filters
