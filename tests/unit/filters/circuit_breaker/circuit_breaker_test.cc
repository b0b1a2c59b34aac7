#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "filters/circuit_breaker/circuit_breaker.h"

namespace seawall::filters::circuit_breaker {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Transition = std::pair<State, State>;

constexpr TimePoint kT0{seconds(1000)};

constexpr auto kAllowed = Admission::Allowed;
constexpr auto kRejected = Admission::Rejected;
constexpr auto kWouldReject = Admission::AllowedButWouldReject;
constexpr auto kClosed = State::Closed;
constexpr auto kOpen = State::Open;
constexpr auto kHalfOpen = State::HalfOpen;
constexpr auto kForcedOpen = State::ForcedOpen;
constexpr auto kDisabled = State::Disabled;

// Count window of 4, trips at >= 4 calls with >= 50% failed or >= 75% slow (latency >= 1s),
// open for 5s, 2 half-open probes.
BreakerPolicy basePolicy() {
  BreakerPolicy policy;
  policy.window = WindowPolicy{WindowType::Count, 4, seconds(10)};
  policy.minimum_calls = 4;
  policy.failure_rate = 0.5;
  policy.slow_call = SlowCallPolicy{seconds(1), 0.75};
  policy.open_for = seconds(5);
  policy.half_open_calls = 2;
  return policy;
}

enum class Op { Acquire, Result, Cancel, OpenFor, SetMode, ExpectState };

struct Step {
  Op op = Op::ExpectState;
  int64_t at_ms = 0;
  Admission admission = kAllowed; // Acquire: expected admission
  bool failed = false;            // Result
  int64_t ms = 0;                 // Result: latency; OpenFor: duration
  Mode mode = Mode::Normal;       // SetMode
  State state = kClosed;          // ExpectState: expected state
};

Step acquire(int64_t at_ms, Admission want) {
  return {.op = Op::Acquire, .at_ms = at_ms, .admission = want};
}
Step result(int64_t at_ms, bool failed, int64_t latency_ms) {
  return {.op = Op::Result, .at_ms = at_ms, .failed = failed, .ms = latency_ms};
}
Step ok(int64_t at_ms) { return result(at_ms, false, 10); }
Step fail(int64_t at_ms) { return result(at_ms, true, 10); }
Step slow(int64_t at_ms) { return result(at_ms, false, 1000); } // exactly slow_call.duration
Step cancel(int64_t at_ms) { return {.op = Op::Cancel, .at_ms = at_ms}; }
Step openFor(int64_t at_ms, int64_t duration_ms) {
  return {.op = Op::OpenFor, .at_ms = at_ms, .ms = duration_ms};
}
Step setMode(int64_t at_ms, Mode mode) { return {.op = Op::SetMode, .at_ms = at_ms, .mode = mode}; }
Step expect(int64_t at_ms, State state) {
  return {.op = Op::ExpectState, .at_ms = at_ms, .state = state};
}

// Four failures at t=0: trips the base policy, open until t=5000.
std::vector<Step> tripAtZero() { return {fail(0), fail(0), fail(0), fail(0), expect(0, kOpen)}; }

std::vector<Step> concat(std::vector<Step> head, const std::vector<Step>& tail) {
  head.insert(head.end(), tail.begin(), tail.end());
  return head;
}

struct Case {
  std::string name;
  BreakerPolicy policy;
  std::vector<Step> steps;
  std::vector<Transition> transitions;
};

// Runs the steps in order; returns the transitions the callback saw.
std::vector<Transition> run(const Case& c) {
  std::vector<Transition> seen;
  CircuitBreaker breaker(c.policy, [&seen](State from, State to) { seen.emplace_back(from, to); });
  for (size_t i = 0; i < c.steps.size(); ++i) {
    const Step& step = c.steps[i];
    SCOPED_TRACE("step " + std::to_string(i) + " at " + std::to_string(step.at_ms) + "ms");
    const TimePoint now = kT0 + milliseconds(step.at_ms);
    switch (step.op) {
    case Op::Acquire:
      EXPECT_EQ(breaker.tryAcquire(now), step.admission);
      break;
    case Op::Result:
      breaker.onResult(now, step.failed, milliseconds(step.ms));
      break;
    case Op::Cancel:
      breaker.onCancelled(now);
      break;
    case Op::OpenFor:
      breaker.openFor(now, milliseconds(step.ms));
      break;
    case Op::SetMode:
      breaker.setMode(step.mode);
      break;
    case Op::ExpectState:
      EXPECT_EQ(breaker.state(now), step.state);
      break;
    }
  }
  return seen;
}

void runAll(const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(run(c), c.transitions);
  }
}

BreakerPolicy withMinimum(uint64_t window_calls, uint64_t minimum_calls, double failure_rate) {
  BreakerPolicy policy = basePolicy();
  policy.window.size_calls = window_calls;
  policy.minimum_calls = minimum_calls;
  policy.failure_rate = failure_rate;
  return policy;
}

BreakerPolicy withMode(Mode mode) {
  BreakerPolicy policy = basePolicy();
  policy.mode = mode;
  return policy;
}

constexpr Transition kTrip{kClosed, kOpen};
constexpr Transition kToHalfOpen{kOpen, kHalfOpen};
constexpr Transition kReopen{kHalfOpen, kOpen};
constexpr Transition kClose{kHalfOpen, kClosed};

TEST(CircuitBreakerTest, TripsOnThresholds) {
  runAll({
      {"minimum_calls gate",
       basePolicy(),
       {fail(0), fail(1), fail(2), expect(2, kClosed), acquire(2, kAllowed), fail(3),
        expect(3, kOpen)},
       {kTrip}},
      {"larger minimum_calls",
       withMinimum(10, 6, 0.5),
       {fail(0), fail(1), fail(2), fail(3), fail(4), expect(4, kClosed), fail(5), expect(5, kOpen)},
       {kTrip}},
      {"minimum above window size never trips",
       withMinimum(3, 4, 0.5),
       {fail(0), fail(1), fail(2), fail(3), fail(4), expect(4, kClosed)},
       {}},
      {"failure rate exactly 50% trips",
       basePolicy(),
       {fail(0), fail(1), ok(2), expect(2, kClosed), ok(3), expect(3, kOpen)},
       {kTrip}},
      {"failure rate 25% does not trip",
       basePolicy(),
       {fail(0), ok(1), ok(2), ok(3), ok(4), ok(5), expect(5, kClosed)},
       {}},
      {"evicted failures no longer count",
       basePolicy(),
       {fail(0), ok(1), ok(2), ok(3), fail(4), expect(4, kClosed), fail(5), expect(5, kOpen)},
       {kTrip}},
      {"failure rate exactly 30% trips",
       withMinimum(10, 10, 0.3),
       {fail(0), fail(0), fail(0), ok(0), ok(0), ok(0), ok(0), ok(0), ok(0), expect(0, kClosed),
        ok(0), expect(0, kOpen)},
       {kTrip}},
      {"failure rate 20% under 30% does not trip",
       withMinimum(10, 10, 0.3),
       {fail(0), fail(0), ok(0), ok(0), ok(0), ok(0), ok(0), ok(0), ok(0), ok(0),
        expect(0, kClosed)},
       {}},
      {"slow rate exactly 75% trips",
       basePolicy(),
       {slow(0), slow(1), slow(2), expect(2, kClosed), ok(3), expect(3, kOpen)},
       {kTrip}},
      {"slow rate 50% does not trip",
       basePolicy(),
       {slow(0), slow(1), ok(2), ok(3), expect(3, kClosed)},
       {}},
      {"latency just under slow_call.duration is not slow",
       basePolicy(),
       {result(0, false, 999), result(1, false, 999), result(2, false, 999), result(3, false, 999),
        expect(3, kClosed)},
       {}},
      {"failed and slow calls count for both rates",
       basePolicy(),
       {result(0, true, 5000), result(1, true, 5000), result(2, false, 5000), expect(2, kClosed),
        ok(3), expect(3, kOpen)},
       {kTrip}},
  });
}

TEST(CircuitBreakerTest, TimeWindowForgetsOldFailures) {
  BreakerPolicy policy = basePolicy();
  policy.window = WindowPolicy{WindowType::Time, 100, seconds(10)}; // 1s buckets
  runAll({
      {"expired failure does not count",
       policy,
       {fail(0), fail(1000), fail(2000), fail(10500), expect(10500, kClosed), fail(10600),
        expect(10600, kOpen)},
       {kTrip}},
      {"four failures within the window trip",
       policy,
       {fail(0), fail(1000), fail(2000), fail(9999), expect(9999, kOpen)},
       {kTrip}},
  });
}

TEST(CircuitBreakerTest, OpenAndHalfOpen) {
  BreakerPolicy zero_probes = basePolicy();
  zero_probes.half_open_calls = 0;
  runAll({
      {"open rejects until open_for has passed",
       basePolicy(),
       concat(tripAtZero(), {acquire(1, kRejected), acquire(4999, kRejected), expect(4999, kOpen),
                             expect(5000, kHalfOpen)}),
       {kTrip, kToHalfOpen}},
      {"acquire moves open to half-open",
       basePolicy(),
       concat(tripAtZero(), {acquire(5000, kAllowed), expect(5000, kHalfOpen)}),
       {kTrip, kToHalfOpen}},
      {"results while open are ignored",
       basePolicy(),
       concat(tripAtZero(), {ok(100), ok(200), ok(300), ok(400), expect(4999, kOpen)}),
       {kTrip}},
      {"half-open admits half_open_calls probes",
       basePolicy(),
       concat(tripAtZero(),
              {acquire(5000, kAllowed), acquire(5000, kAllowed), acquire(5000, kRejected),
               acquire(6000, kRejected), expect(6000, kHalfOpen)}),
       {kTrip, kToHalfOpen}},
      {"all probes succeed: closed with an empty window",
       basePolicy(),
       concat(tripAtZero(),
              {acquire(5000, kAllowed), acquire(5000, kAllowed), ok(5100), expect(5100, kHalfOpen),
               ok(5200), expect(5200, kClosed), acquire(5200, kAllowed), fail(5300), fail(5300),
               fail(5300), expect(5300, kClosed), fail(5300), expect(5300, kOpen)}),
       {kTrip, kToHalfOpen, kClose, kTrip}},
      {"one probe fails: open again for open_for",
       basePolicy(),
       concat(tripAtZero(), {acquire(5000, kAllowed), acquire(5000, kAllowed), ok(5050), fail(5100),
                             expect(5100, kOpen), acquire(10099, kRejected),
                             acquire(10100, kAllowed), expect(10100, kHalfOpen)}),
       {kTrip, kToHalfOpen, kReopen, kToHalfOpen}},
      {"a slow probe fails it",
       basePolicy(),
       concat(tripAtZero(), {acquire(5000, kAllowed), slow(5100), expect(5100, kOpen)}),
       {kTrip, kToHalfOpen, kReopen}},
      {"the other probe's late result is ignored once reopened",
       basePolicy(),
       concat(tripAtZero(), {acquire(5000, kAllowed), acquire(5000, kAllowed), fail(5100), ok(5200),
                             ok(5300), expect(5300, kOpen)}),
       {kTrip, kToHalfOpen, kReopen}},
      {"a cancelled probe gives its slot back",
       basePolicy(),
       concat(tripAtZero(), {acquire(5000, kAllowed), acquire(5000, kAllowed),
                             acquire(5000, kRejected), cancel(5100), acquire(5100, kAllowed),
                             acquire(5100, kRejected), ok(5200), ok(5300), expect(5300, kClosed)}),
       {kTrip, kToHalfOpen, kClose}},
      {"cancel while closed changes nothing",
       basePolicy(),
       {cancel(0), cancel(0), fail(0), fail(0), fail(0), expect(0, kClosed), fail(0),
        expect(0, kOpen)},
       {kTrip}},
      {"half_open_calls 0 acts as 1",
       zero_probes,
       concat(tripAtZero(),
              {acquire(5000, kAllowed), acquire(5000, kRejected), ok(5100), expect(5100, kClosed)}),
       {kTrip, kToHalfOpen, kClose}},
  });
}

TEST(CircuitBreakerTest, OpenForRetryAfter) {
  runAll({
      {"opens from closed for that long",
       basePolicy(),
       {openFor(0, 2000), expect(0, kOpen), acquire(1999, kRejected), acquire(2000, kAllowed),
        expect(2000, kHalfOpen)},
       {kTrip, kToHalfOpen}},
      {"never shortens an open period",
       basePolicy(),
       concat(tripAtZero(), {openFor(100, 1000), acquire(1100, kRejected), acquire(4999, kRejected),
                             acquire(5000, kAllowed)}),
       {kTrip, kToHalfOpen}},
      {"extends an open period",
       basePolicy(),
       concat(tripAtZero(), {openFor(1000, 10000), acquire(5000, kRejected),
                             acquire(10999, kRejected), acquire(11000, kAllowed)}),
       {kTrip, kToHalfOpen}},
      {"reopens from half-open",
       basePolicy(),
       concat(tripAtZero(), {expect(5000, kHalfOpen), openFor(5000, 3000), acquire(7999, kRejected),
                             acquire(8000, kAllowed)}),
       {kTrip, kToHalfOpen, kReopen, kToHalfOpen}},
      {"zero or negative duration is ignored",
       basePolicy(),
       {openFor(0, 0), openFor(0, -5), expect(0, kClosed), acquire(0, kAllowed)},
       {}},
      {"a huge duration saturates instead of overflowing",
       basePolicy(),
       {openFor(0, INT64_MAX / 1000000 - 1000), acquire(3600000, kRejected),
        expect(3600000, kOpen)},
       {kTrip}},
      {"ignored while forced open or disabled",
       basePolicy(),
       {setMode(0, Mode::ForcedOpen), openFor(0, 60000), setMode(0, Mode::Disabled),
        openFor(0, 60000), setMode(0, Mode::Normal), acquire(1, kAllowed)},
       {{kClosed, kForcedOpen}, {kForcedOpen, kDisabled}, {kDisabled, kClosed}}},
  });
}

TEST(CircuitBreakerTest, Modes) {
  runAll({
      {"forced_open rejects and ignores outcomes",
       basePolicy(),
       {setMode(0, Mode::ForcedOpen), expect(0, kForcedOpen), acquire(0, kRejected),
        acquire(60000, kRejected), ok(60000), ok(60000), expect(60000, kForcedOpen),
        setMode(60000, Mode::Normal), expect(60000, kClosed), acquire(60000, kAllowed)},
       {{kClosed, kForcedOpen}, {kForcedOpen, kClosed}}},
      {"forced_open from the policy",
       withMode(Mode::ForcedOpen),
       {expect(0, kForcedOpen), acquire(0, kRejected), acquire(3600000, kRejected)},
       {}},
      {"leaving forced_open starts with an empty window",
       basePolicy(),
       {fail(0), fail(0), fail(0), setMode(0, Mode::ForcedOpen), setMode(0, Mode::Normal), fail(0),
        expect(0, kClosed), acquire(0, kAllowed)},
       {{kClosed, kForcedOpen}, {kForcedOpen, kClosed}}},
      {"disabled admits everything and ignores outcomes",
       withMode(Mode::Disabled),
       {fail(0), fail(0), fail(0), fail(0), fail(0), expect(0, kDisabled), acquire(0, kAllowed),
        setMode(0, Mode::Normal), expect(0, kClosed), fail(0), fail(0), fail(0),
        expect(0, kClosed)},
       {{kDisabled, kClosed}}},
      {"disabling an open breaker",
       basePolicy(),
       concat(tripAtZero(),
              {setMode(0, Mode::Disabled), acquire(0, kAllowed), expect(9999, kDisabled),
               setMode(9999, Mode::Normal), expect(9999, kClosed), acquire(9999, kAllowed)}),
       {kTrip, {kOpen, kDisabled}, {kDisabled, kClosed}}},
      {"metrics_only runs the machine but admits",
       withMode(Mode::MetricsOnly),
       concat(tripAtZero(),
              {acquire(0, kWouldReject), acquire(4999, kWouldReject), acquire(5000, kAllowed),
               acquire(5000, kAllowed), acquire(5000, kWouldReject), expect(5000, kHalfOpen),
               ok(5100), ok(5200), expect(5200, kClosed), acquire(5200, kAllowed)}),
       {kTrip, kToHalfOpen, kClose}},
      {"normal <-> metrics_only keeps the state",
       basePolicy(),
       concat(tripAtZero(),
              {setMode(0, Mode::MetricsOnly), expect(0, kOpen), acquire(0, kWouldReject),
               setMode(0, Mode::Normal), acquire(0, kRejected), expect(0, kOpen)}),
       {kTrip}},
      {"forced_open to disabled is reported",
       basePolicy(),
       {setMode(0, Mode::ForcedOpen), setMode(0, Mode::Disabled), acquire(0, kAllowed),
        setMode(0, Mode::Disabled), setMode(0, Mode::ForcedOpen), acquire(0, kRejected)},
       {{kClosed, kForcedOpen}, {kForcedOpen, kDisabled}, {kDisabled, kForcedOpen}}},
  });
}

TEST(CircuitBreakerTest, TransitionCallbackSequence) {
  const Case c{
      "full cycle",
      basePolicy(),
      concat(tripAtZero(),
             {acquire(5000, kAllowed), fail(5000), acquire(10000, kAllowed),
              acquire(10000, kAllowed), ok(10000), ok(10000), setMode(10000, Mode::ForcedOpen),
              setMode(10000, Mode::Disabled), setMode(10000, Mode::MetricsOnly), fail(10000),
              fail(10000), ok(10000), ok(10000)}),
      {}};
  const std::vector<Transition> want = {
      {kClosed, kOpen},         {kOpen, kHalfOpen},   {kHalfOpen, kOpen},
      {kOpen, kHalfOpen},       {kHalfOpen, kClosed}, {kClosed, kForcedOpen},
      {kForcedOpen, kDisabled}, {kDisabled, kClosed}, {kClosed, kOpen},
  };
  EXPECT_EQ(run(c), want);
}

TEST(CircuitBreakerTest, ModeAccessorAndRates) {
  CircuitBreaker breaker(withMode(Mode::MetricsOnly));
  EXPECT_EQ(breaker.mode(), Mode::MetricsOnly);
  breaker.onResult(kT0, true, milliseconds(10));
  breaker.onResult(kT0, false, seconds(2));
  const Rates rates = breaker.rates(kT0);
  EXPECT_EQ(rates.calls, 2U);
  EXPECT_DOUBLE_EQ(rates.failure_rate, 0.5);
  EXPECT_DOUBLE_EQ(rates.slow_rate, 0.5);
  breaker.setMode(Mode::Normal); // no callback set: must not be called
  EXPECT_EQ(breaker.mode(), Mode::Normal);
}

// Two threads share one breaker, each with its own simulated clock (so times reach the breaker
// out of order, as from real workers). Run under TSan as well (-DSEAWALL_SANITIZE=thread).
// Checks what holds under any interleaving: the callback saw one valid chain of states starting
// with a trip (half of all results fail, so it must trip), every call got an answer, and the
// breaker settles once open_for has passed.
TEST(CircuitBreakerTest, TwoThreadsKeepInvariants) {
  constexpr int kIterations = 20000;
  BreakerPolicy policy = basePolicy();
  policy.open_for = milliseconds(50);
  std::vector<Transition> seen; // written by the callback, under the breaker's lock
  CircuitBreaker breaker(policy, [&seen](State from, State to) { seen.emplace_back(from, to); });

  std::array<std::array<int, 3>, 2> admissions{}; // [thread][Admission], each row one writer
  auto worker = [&breaker, &admissions](size_t id) {
    int results = 0;
    for (int i = 0; i < kIterations; ++i) {
      const TimePoint now =
          kT0 + milliseconds(i) + std::chrono::microseconds(300 * static_cast<int64_t>(id));
      const Admission admission = breaker.tryAcquire(now);
      ++admissions.at(id).at(static_cast<size_t>(admission));
      if (admission != kAllowed) {
        continue;
      }
      if (i % 97 == 0) {
        breaker.onCancelled(now);
      } else {
        breaker.onResult(now, results++ % 2 == 0, milliseconds(10));
      }
    }
  };
  std::thread a(worker, 0);
  std::thread b(worker, 1);
  a.join();
  b.join();

  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front(), kTrip);
  for (size_t i = 1; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].first, seen[i - 1].second) << i;
  }
  for (const auto& [from, to] : seen) {
    const bool valid = (from == kClosed && to == kOpen) || (from == kOpen && to == kHalfOpen) ||
                       (from == kHalfOpen && to == kOpen) || (from == kHalfOpen && to == kClosed);
    EXPECT_TRUE(valid) << static_cast<int>(from) << "->" << static_cast<int>(to);
  }
  for (const auto& counts : admissions) {
    EXPECT_EQ(counts[0] + counts[1] + counts[2], kIterations);
    EXPECT_EQ(counts[2], 0); // AllowedButWouldReject only in metrics_only
  }
  const State last = seen.back().second;
  const State settled = breaker.state(kT0 + seconds(3600)); // open_for long passed
  EXPECT_EQ(settled, last == kOpen ? kHalfOpen : last);
}

} // namespace
} // namespace seawall::filters::circuit_breaker
