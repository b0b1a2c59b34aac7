#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "filters/circuit_breaker/outcome_window.h"

namespace seawall::filters::circuit_breaker {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A base far from the clock's epoch, on a whole second, so 1s buckets start on whole seconds.
constexpr TimePoint kT0{seconds(1000)};

TimePoint at(int64_t ms) { return kT0 + milliseconds(ms); }

// '.' ok, 'F' failed, 'S' slow, 'B' both.
Outcome outcomeOf(char c) { return Outcome{c == 'F' || c == 'B', c == 'S' || c == 'B'}; }

WindowPolicy countWindow(uint64_t calls) {
  return WindowPolicy{WindowType::Count, calls, seconds(10)};
}

WindowPolicy timeWindow(Duration size) { return WindowPolicy{WindowType::Time, 100, size}; }

struct CountCase {
  std::string name;
  uint64_t size;
  std::string calls; // oldest first
  uint64_t want_calls;
  double want_failure_rate;
  double want_slow_rate;
};

TEST(OutcomeWindowTest, CountWindowArithmeticAndEviction) {
  const std::vector<CountCase> cases = {
      {"empty", 4, "", 0, 0.0, 0.0},
      {"one ok", 4, ".", 1, 0.0, 0.0},
      {"one failed", 4, "F", 1, 1.0, 0.0},
      {"half failed", 4, "FF..", 4, 0.5, 0.0},
      {"partly filled", 4, "F..", 3, 1.0 / 3.0, 0.0},
      {"slow and failed apart", 4, "FS..", 4, 0.25, 0.25},
      {"both on one call", 4, "B...", 4, 0.25, 0.25},
      {"oldest evicted", 4, "FF....", 4, 0.0, 0.0},
      {"eviction keeps newest", 4, "..FFF", 4, 0.75, 0.0},
      {"one evicted of two", 4, "F...F", 4, 0.25, 0.0},
      {"slow evicted", 4, "SS..S", 4, 0.0, 0.5},
      {"wrapped twice", 3, "FFFFFF...F", 3, 1.0 / 3.0, 0.0},
      {"size one keeps last", 1, "F.F.", 1, 0.0, 0.0},
      {"size one last failed", 1, "...B", 1, 1.0, 1.0},
      {"size zero acts as one", 0, "F.F", 1, 1.0, 0.0},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    OutcomeWindow window(countWindow(c.size));
    int64_t ms = 0;
    for (const char call : c.calls) {
      window.record(at(ms), outcomeOf(call));
      ms += 10;
    }
    const Rates rates = window.rates(at(ms));
    EXPECT_EQ(rates.calls, c.want_calls);
    EXPECT_DOUBLE_EQ(rates.failure_rate, c.want_failure_rate);
    EXPECT_DOUBLE_EQ(rates.slow_rate, c.want_slow_rate);
  }
}

TEST(OutcomeWindowTest, CountWindowIgnoresTime) {
  OutcomeWindow window(countWindow(3));
  window.record(at(0), outcomeOf('F'));
  window.record(at(1), outcomeOf('.'));
  for (const int64_t later_ms : {0, 1000, 3600000}) {
    const Rates rates = window.rates(at(later_ms));
    EXPECT_EQ(rates.calls, 2U) << later_ms;
    EXPECT_DOUBLE_EQ(rates.failure_rate, 0.5) << later_ms;
  }
}

TEST(OutcomeWindowTest, BucketWidthIsATenthOfTheWindow) {
  const std::vector<std::pair<Duration, Duration>> cases = {
      {seconds(10), seconds(1)},  {milliseconds(250), milliseconds(25)},
      {seconds(60), seconds(6)},  {Duration(15), Duration(2)}, // rounded up
      {Duration(0), Duration(1)},                              // degenerate: one tick
  };
  for (const auto& [size, want] : cases) {
    EXPECT_EQ(OutcomeWindow(timeWindow(size)).bucketWidth(), want) << size.count();
  }
}

struct TimedCall {
  int64_t at_ms;
  char outcome;
};

struct TimeCase {
  std::string name;
  std::vector<TimedCall> calls; // recorded in this order
  int64_t query_ms;
  uint64_t want_calls;
  double want_failure_rate;
  double want_slow_rate;
};

TEST(OutcomeWindowTest, TimeWindowExpiresAcrossBuckets) {
  // 10s window, 1s buckets: a call stays for more than 9s and at most 10s.
  const std::vector<TimedCall> three = {{500, 'F'}, {3200, '.'}, {9900, 'S'}};
  const std::vector<TimeCase> cases = {
      {"empty", {}, 0, 0, 0.0, 0.0},
      {"all in window", three, 9900, 3, 1.0 / 3, 1.0 / 3},
      {"first bucket still in at 9.999s", three, 9999, 3, 1.0 / 3, 1.0 / 3},
      {"first bucket out at 10s", three, 10000, 2, 0.0, 0.5},
      {"bucket 3 in at 12.999s", three, 12999, 2, 0.0, 0.5},
      {"bucket 3 out at 13s", three, 13000, 1, 0.0, 1.0},
      {"bucket 9 in at 18.999s", three, 18999, 1, 0.0, 1.0},
      {"all out at 19s", three, 19000, 0, 0.0, 0.0},
      {"long gap", three, 3600000, 0, 0.0, 0.0},
      {"same bucket sums", {{0, 'F'}, {999, '.'}, {999, 'B'}}, 999, 3, 2.0 / 3, 1.0 / 3},
      {"slot reused after a lap", {{500, 'F'}, {10500, '.'}}, 10500, 1, 0.0, 0.0},
      {"slot reused after many laps", {{500, 'F'}, {100500, '.'}}, 100500, 1, 0.0, 0.0},
      {"old bucket dropped, new kept", {{500, 'F'}, {5000, '.'}, {12000, 'F'}}, 12000, 2, 0.5, 0.0},
      // A late caller's time is clamped into the newest bucket (5s), so both leave together.
      {"late call clamped, in", {{5000, '.'}, {4000, 'F'}}, 14999, 2, 0.5, 0.0},
      {"late call clamped, out", {{5000, '.'}, {4000, 'F'}}, 15000, 0, 0.0, 0.0},
      {"query before newest uses newest", {{5000, 'F'}}, 0, 1, 1.0, 0.0},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    OutcomeWindow window(timeWindow(seconds(10)));
    for (const auto& call : c.calls) {
      window.record(at(call.at_ms), outcomeOf(call.outcome));
    }
    const Rates rates = window.rates(at(c.query_ms));
    EXPECT_EQ(rates.calls, c.want_calls);
    EXPECT_DOUBLE_EQ(rates.failure_rate, c.want_failure_rate);
    EXPECT_DOUBLE_EQ(rates.slow_rate, c.want_slow_rate);
  }
}

TEST(OutcomeWindowTest, TimeWindowBeforeClockEpochUsesFloorBuckets) {
  // steady_clock's epoch is unspecified; times on either side of it must bucket the same way.
  OutcomeWindow window(timeWindow(seconds(10)));
  const TimePoint base = TimePoint{} - milliseconds(500); // bucket -1, not bucket 0
  window.record(base, outcomeOf('F'));
  EXPECT_EQ(window.rates(base + milliseconds(9499)).calls, 1U); // bucket 8: -1 still in
  EXPECT_EQ(window.rates(base + milliseconds(9500)).calls, 0U); // bucket 9: -1 out
}

TEST(OutcomeWindowTest, ResetForgetsEverything) {
  for (const WindowPolicy& policy : {countWindow(4), timeWindow(seconds(10))}) {
    SCOPED_TRACE(policy.type == WindowType::Count ? "count" : "time");
    OutcomeWindow window(policy);
    window.record(at(5000), outcomeOf('B'));
    window.record(at(5000), outcomeOf('F'));
    window.reset();
    EXPECT_EQ(window.rates(at(5000)).calls, 0U);
    // After a reset an earlier time is not clamped to the forgotten newest bucket.
    window.record(at(1000), outcomeOf('.'));
    const Rates rates = window.rates(at(1000));
    EXPECT_EQ(rates.calls, 1U);
    EXPECT_DOUBLE_EQ(rates.failure_rate, 0.0);
    EXPECT_DOUBLE_EQ(rates.slow_rate, 0.0);
    EXPECT_EQ(window.rates(at(10999)).calls, 1U);
    EXPECT_EQ(window.rates(at(11000)).calls, policy.type == WindowType::Count ? 1U : 0U);
  }
}

} // namespace
} // namespace seawall::filters::circuit_breaker
