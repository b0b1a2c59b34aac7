// One per thread that runs an event loop: the event_base, a deferred-delete list emptied once per
// loop iteration, and timer creation. Objects that may be deep in their own callbacks are handed
// to deferredDelete() instead of being destroyed on the spot.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "proxy/common/event_ptr.h"
#include "proxy/common/timer.h"

namespace seawall::proxy {

class Deletable {
public:
  Deletable() = default;
  Deletable(const Deletable&) = delete;
  Deletable& operator=(const Deletable&) = delete;
  Deletable(Deletable&&) = delete;
  Deletable& operator=(Deletable&&) = delete;
  virtual ~Deletable() = default;
};

class Dispatcher {
public:
  // Takes an existing base (not owned) so that tests and the main thread can share one.
  explicit Dispatcher(event_base* base);
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;
  Dispatcher(Dispatcher&&) = delete;
  Dispatcher& operator=(Dispatcher&&) = delete;
  ~Dispatcher();

  event_base* base() const { return base_; }
  std::unique_ptr<Timer> createTimer(std::function<void()> on_fire) {
    return std::make_unique<Timer>(base_, std::move(on_fire));
  }
  // Destroys `object` after the current callback returns (at the next loop iteration).
  void deferredDelete(std::unique_ptr<Deletable> object);
  // Runs `fn` on this loop soon (after the current callback). Same thread only.
  void post(std::function<void()> fn);
  // Monotonic now.
  std::chrono::steady_clock::time_point now() const;
  // Drains the deferred-delete list and posted functions now (tests, shutdown).
  void flush();

private:
  static void onFlush(evutil_socket_t fd, short what, void* arg) noexcept;
  void schedule();

  event_base* base_;
  EventPtr flush_event_;
  std::vector<std::unique_ptr<Deletable>> to_delete_;
  std::vector<std::function<void()>> posted_;
  bool scheduled_ = false;
};

} // namespace seawall::proxy
