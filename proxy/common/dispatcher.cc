#include "proxy/common/dispatcher.h"

namespace seawall::proxy {

Dispatcher::Dispatcher(event_base* base)
    : base_(base), flush_event_(event_new(base, -1, 0, &Dispatcher::onFlush, this)) {}

Dispatcher::~Dispatcher() { flush(); }

void Dispatcher::deferredDelete(std::unique_ptr<Deletable> object) {
  to_delete_.push_back(std::move(object));
  schedule();
}

void Dispatcher::post(std::function<void()> fn) {
  posted_.push_back(std::move(fn));
  schedule();
}

std::chrono::steady_clock::time_point Dispatcher::now() const {
  return std::chrono::steady_clock::now();
}

void Dispatcher::schedule() {
  if (!scheduled_) {
    scheduled_ = true;
    event_active(flush_event_.get(), EV_TIMEOUT, 0);
  }
}

void Dispatcher::flush() {
  scheduled_ = false;
  // Deleting an object may post or defer more work: loop until both lists stay empty.
  while (!to_delete_.empty() || !posted_.empty()) {
    auto posted = std::move(posted_);
    posted_.clear();
    for (auto& fn : posted) {
      fn();
    }
    auto doomed = std::move(to_delete_);
    to_delete_.clear();
    doomed.clear();
  }
}

void Dispatcher::onFlush(evutil_socket_t /*fd*/, short /*what*/, void* arg) noexcept {
  static_cast<Dispatcher*>(arg)->flush();
}

} // namespace seawall::proxy
