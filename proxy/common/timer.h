// RAII libevent timer: armed with enable(), cancelled by disable() or when destroyed.
#pragma once

#include <chrono>
#include <functional>

#include "proxy/common/event_ptr.h"

namespace seawall::proxy {

class Timer {
public:
  Timer() = default;
  Timer(event_base* base, std::function<void()> on_fire)
      : on_fire_(std::move(on_fire)), ev_(evtimer_new(base, &Timer::trampoline, this)) {}
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  Timer(Timer&&) = delete;
  Timer& operator=(Timer&&) = delete;
  virtual ~Timer() = default;

  // Virtual so that filter unit tests can hand out fake timers (tests/unit/proxy).
  virtual void enable(std::chrono::microseconds after) {
    timeval tv{static_cast<time_t>(after.count() / 1000000),
               static_cast<suseconds_t>(after.count() % 1000000)};
    // libevent arms timers from its cached loop time, which lags behind steady_clock by however
    // long this loop iteration has run: refresh it so a deadline computed from now() is not hit
    // early (a vDSO clock read).
    event_base_update_cache_time(event_get_base(ev_.get()));
    evtimer_add(ev_.get(), &tv);
  }
  virtual void disable() { evtimer_del(ev_.get()); }
  virtual bool enabled() const { return evtimer_pending(ev_.get(), nullptr) != 0; }

private:
  static void trampoline(evutil_socket_t /*fd*/, short /*what*/, void* arg) noexcept {
    static_cast<Timer*>(arg)->on_fire_();
  }

  std::function<void()> on_fire_;
  EventPtr ev_;
};

} // namespace seawall::proxy
