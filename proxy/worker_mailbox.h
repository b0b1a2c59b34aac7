// The only way into a worker from another thread: a mutex-guarded queue plus an eventfd that
// wakes the worker's loop (as nghttpx's Worker::send).
#pragma once

#include <deque>
#include <functional>
#include <mutex>

#include "proxy/common/event_ptr.h"

namespace seawall::proxy {

class WorkerMailbox {
public:
  explicit WorkerMailbox(event_base* base);
  WorkerMailbox(const WorkerMailbox&) = delete;
  WorkerMailbox& operator=(const WorkerMailbox&) = delete;
  WorkerMailbox(WorkerMailbox&&) = delete;
  WorkerMailbox& operator=(WorkerMailbox&&) = delete;
  ~WorkerMailbox();

  // Any thread: queue `message`; it runs on the worker's loop, in order.
  void send(std::function<void()> message);

private:
  static void onWake(evutil_socket_t fd, short what, void* arg) noexcept;

  int fd_;
  EventPtr event_;
  std::mutex mutex_;
  std::deque<std::function<void()>> queue_;
};

} // namespace seawall::proxy
