// One cluster's circuit breaker: the closed / open / half-open state machine over an
// OutcomeWindow, plus the operator modes (forced_open, disabled, metrics_only). Time is passed in
// by the caller (never read here), so every transition is a pure function of the calls made.
//
// Shared by all workers: every public method takes one std::mutex for a few dozen instructions
// (no allocation, no I/O, a time-window rates() sums 10 buckets). Uncontended that is a pair of
// atomic operations per call; under contention workers serialise on it for a few hundred
// nanoseconds per attempt, twice per attempt (tryAcquire, then onResult). Simple and correct first;
// per-worker windows merged lazily would be the next step if profiles ever show this lock.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string_view>

#include "filters/circuit_breaker/outcome_window.h"

namespace seawall::filters::circuit_breaker {

// Reported state. ForcedOpen and Disabled are reported while the mode says so; metrics_only
// reports the state machine's state (Closed, Open or HalfOpen).
enum class State { Closed, Open, HalfOpen, ForcedOpen, Disabled };

enum class Mode {
  Normal,
  ForcedOpen,  // reject everything; outcomes are ignored
  Disabled,    // admit everything; outcomes are ignored
  MetricsOnly, // run the state machine as Normal, but admit everything (AllowedButWouldReject)
};

// Names used by metrics labels and the admin API: "closed", "open", "half_open", "forced_open",
// "disabled"; and "normal", "forced_open", "disabled", "metrics_only".
std::string_view toString(State s);
std::string_view toString(Mode m);
inline constexpr size_t kModeCount = 4;

enum class Admission {
  Allowed,
  Rejected,
  AllowedButWouldReject, // metrics_only: Normal would have rejected this call
};

// `breaker.slow_call`: a call is slow when its latency >= duration.
struct SlowCallPolicy {
  Duration duration = std::chrono::seconds(1);
  double rate = 1.0; // trip when the slow-call rate >= rate
};

// `breaker:` of a cluster. Rates are in [0, 1]; a rate above 1 never trips.
struct BreakerPolicy {
  WindowPolicy window;
  uint64_t minimum_calls = 20; // calls in the window before a rate may trip the breaker
  double failure_rate = 0.5;   // trip when the failure rate >= failure_rate
  SlowCallPolicy slow_call;
  Duration open_for = std::chrono::seconds(5);
  uint32_t half_open_calls = 5; // probes admitted in half-open, all must succeed (0 acts as 1)
  Mode mode = Mode::Normal;
};

// Called on every change of the reported state, with the breaker's lock held, in the order the
// transitions happen (so a counter or a one-hot gauge updated here is exact). It must be quick
// and must not call back into the same breaker (that would deadlock).
using TransitionCallback = std::function<void(State from, State to)>;

// Semantics (Normal and MetricsOnly modes):
// - Closed: every call is admitted; onResult() records the outcome (slow = latency >=
//   slow_call.duration), then trips to Open when the window holds >= minimum_calls calls and the
//   failure rate >= failure_rate or the slow-call rate >= slow_call.rate.
// - Open: every call is rejected until open_for has passed since it opened (or the openFor()
//   duration); then the next tryAcquire() or state() moves it to HalfOpen. Outcomes are ignored.
// - HalfOpen: the first half_open_calls tryAcquire() are admitted (probes), later ones rejected.
//   A result that is failed or slow reopens it (for open_for); half_open_calls good results close
//   it with an empty window. The breaker does not tag calls: any result arriving in HalfOpen
//   counts as a probe's, including a straggler admitted while Closed.
// - A probe that ends without an outcome (downstream gone) must give its slot back with
//   onCancelled(), or half-open would wait for it forever.
// Leaving ForcedOpen or Disabled for Normal or MetricsOnly starts Closed with an empty window.
class CircuitBreaker {
public:
  explicit CircuitBreaker(const BreakerPolicy& policy, TransitionCallback on_transition = {});
  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;
  CircuitBreaker(CircuitBreaker&&) = delete;
  CircuitBreaker& operator=(CircuitBreaker&&) = delete;
  ~CircuitBreaker() = default;

  // Admit or reject one call (one attempt) at `now`.
  Admission tryAcquire(TimePoint now);
  // The outcome of an admitted call.
  void onResult(TimePoint now, bool failed, Duration latency);
  // An admitted call that ended with no outcome: frees its half-open probe slot, records nothing.
  void onCancelled(TimePoint now);
  // Open now for `duration` (an upstream's Retry-After). From Closed or HalfOpen it opens; while
  // Open it only ever extends the open period, never shortens it. No effect when duration <= 0
  // or in the ForcedOpen and Disabled modes.
  void openFor(TimePoint now, Duration duration);

  void setMode(Mode mode);
  Mode mode() const;
  // The reported state at `now` (may move Open to HalfOpen, firing the callback).
  State state(TimePoint now);
  // The window's rates at `now` (for the admin endpoint).
  Rates rates(TimePoint now) const;

private:
  // state_ is the machine's own state (Closed, Open, HalfOpen); reportedLocked() layers the
  // ForcedOpen and Disabled modes on top. Only the machine's transitions reach moveLocked().
  void settleLocked(TimePoint now);
  State reportedLocked() const;
  void moveLocked(State to);
  void tripIfNeededLocked(TimePoint now);
  void probeResultLocked(TimePoint now, bool good);

  const BreakerPolicy policy_;
  const TransitionCallback on_transition_;

  mutable std::mutex mutex_; // guards everything below
  Mode mode_;
  State state_ = State::Closed; // Closed, Open or HalfOpen
  OutcomeWindow window_;
  TimePoint open_until_{};       // Open: when it may move to HalfOpen
  uint32_t probes_admitted_ = 0; // HalfOpen: probe slots taken
  uint32_t probes_good_ = 0;     // HalfOpen: good probe results
};

} // namespace seawall::filters::circuit_breaker
