#include "filters/circuit_breaker/circuit_breaker.h"

#include <algorithm>
#include <array>
#include <utility>

namespace seawall::filters::circuit_breaker {

std::string_view toString(State s) {
  constexpr std::array<std::string_view, 5> kNames = {"closed", "open", "half_open", "forced_open",
                                                      "disabled"};
  return kNames[static_cast<size_t>(s)];
}

std::string_view toString(Mode m) {
  constexpr std::array<std::string_view, kModeCount> kNames = {"normal", "forced_open", "disabled",
                                                               "metrics_only"};
  return kNames[static_cast<size_t>(m)];
}

namespace {

// now + duration, saturating at the end of time instead of overflowing (a huge Retry-After).
TimePoint addSaturating(TimePoint now, Duration duration) {
  if (duration > TimePoint::max() - now) {
    return TimePoint::max();
  }
  return now + duration;
}

bool isInert(Mode mode) { return mode == Mode::ForcedOpen || mode == Mode::Disabled; }

} // namespace

CircuitBreaker::CircuitBreaker(const BreakerPolicy& policy, TransitionCallback on_transition)
    : policy_(policy), on_transition_(std::move(on_transition)), mode_(policy.mode),
      window_(policy.window) {}

Admission CircuitBreaker::tryAcquire(TimePoint now) {
  const std::lock_guard<std::mutex> lock(mutex_);
  if (mode_ == Mode::Disabled) {
    return Admission::Allowed;
  }
  if (mode_ == Mode::ForcedOpen) {
    return Admission::Rejected;
  }
  settleLocked(now);
  const Admission reject =
      mode_ == Mode::MetricsOnly ? Admission::AllowedButWouldReject : Admission::Rejected;
  switch (state_) {
  case State::Closed:
    return Admission::Allowed;
  case State::HalfOpen:
    if (probes_admitted_ < std::max<uint32_t>(policy_.half_open_calls, 1)) {
      ++probes_admitted_;
      return Admission::Allowed;
    }
    return reject;
  default: // Open
    return reject;
  }
}

void CircuitBreaker::onResult(TimePoint now, bool failed, Duration latency) {
  const std::lock_guard<std::mutex> lock(mutex_);
  if (isInert(mode_)) {
    return;
  }
  settleLocked(now);
  const bool slow = latency >= policy_.slow_call.duration;
  if (state_ == State::Closed) {
    window_.record(now, Outcome{failed, slow});
    tripIfNeededLocked(now);
  } else if (state_ == State::HalfOpen) {
    probeResultLocked(now, !failed && !slow);
  } // Open: a straggler admitted before the breaker opened; ignored.
}

void CircuitBreaker::onCancelled(TimePoint now) {
  const std::lock_guard<std::mutex> lock(mutex_);
  if (isInert(mode_)) {
    return;
  }
  settleLocked(now);
  if (state_ == State::HalfOpen && probes_admitted_ > 0) {
    --probes_admitted_;
  }
}

void CircuitBreaker::openFor(TimePoint now, Duration duration) {
  const std::lock_guard<std::mutex> lock(mutex_);
  if (isInert(mode_) || duration <= Duration::zero()) {
    return;
  }
  settleLocked(now);
  const TimePoint until = addSaturating(now, duration);
  if (state_ == State::Open) {
    open_until_ = std::max(open_until_, until);
    return;
  }
  open_until_ = until;
  moveLocked(State::Open);
}

void CircuitBreaker::setMode(Mode mode) {
  const std::lock_guard<std::mutex> lock(mutex_);
  const State from = reportedLocked();
  if (isInert(mode_) && !isInert(mode)) {
    // Back from an operator override: start afresh rather than resume a stale state.
    state_ = State::Closed;
    window_.reset();
    probes_admitted_ = 0;
    probes_good_ = 0;
  }
  mode_ = mode;
  const State to = reportedLocked();
  if (from != to && on_transition_) {
    on_transition_(from, to);
  }
}

Mode CircuitBreaker::mode() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return mode_;
}

State CircuitBreaker::state(TimePoint now) {
  const std::lock_guard<std::mutex> lock(mutex_);
  if (!isInert(mode_)) {
    settleLocked(now);
  }
  return reportedLocked();
}

Rates CircuitBreaker::rates(TimePoint now) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return window_.rates(now);
}

void CircuitBreaker::settleLocked(TimePoint now) {
  if (state_ == State::Open && now >= open_until_) {
    moveLocked(State::HalfOpen);
  }
}

State CircuitBreaker::reportedLocked() const {
  switch (mode_) {
  case Mode::ForcedOpen:
    return State::ForcedOpen;
  case Mode::Disabled:
    return State::Disabled;
  default:
    return state_;
  }
}

// Callers set open_until_ before moving to Open.
void CircuitBreaker::moveLocked(State to) {
  const State from = state_;
  state_ = to;
  if (to == State::HalfOpen) {
    probes_admitted_ = 0;
    probes_good_ = 0;
  } else if (to == State::Closed) {
    window_.reset();
  }
  if (from != to && on_transition_) {
    on_transition_(from, to);
  }
}

void CircuitBreaker::tripIfNeededLocked(TimePoint now) {
  const Rates rates = window_.rates(now);
  if (rates.calls < policy_.minimum_calls) {
    return;
  }
  if (rates.failure_rate >= policy_.failure_rate || rates.slow_rate >= policy_.slow_call.rate) {
    open_until_ = addSaturating(now, policy_.open_for);
    moveLocked(State::Open);
  }
}

void CircuitBreaker::probeResultLocked(TimePoint now, bool good) {
  if (!good) {
    open_until_ = addSaturating(now, policy_.open_for);
    moveLocked(State::Open);
    return;
  }
  ++probes_good_;
  if (probes_good_ >= std::max<uint32_t>(policy_.half_open_calls, 1)) {
    moveLocked(State::Closed);
  }
}

} // namespace seawall::filters::circuit_breaker
