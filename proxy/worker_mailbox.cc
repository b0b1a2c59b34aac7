#include "proxy/worker_mailbox.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

namespace seawall::proxy {

WorkerMailbox::WorkerMailbox(event_base* base)
    : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      event_(event_new(base, fd_, EV_READ | EV_PERSIST, &WorkerMailbox::onWake, this)) {
  event_add(event_.get(), nullptr);
}

WorkerMailbox::~WorkerMailbox() {
  event_.reset();
  close(fd_);
}

void WorkerMailbox::send(std::function<void()> message) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(message));
  }
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(fd_, &one, sizeof(one));
}

void WorkerMailbox::onWake(evutil_socket_t fd, short /*what*/, void* arg) noexcept {
  auto* self = static_cast<WorkerMailbox*>(arg);
  uint64_t count = 0;
  [[maybe_unused]] ssize_t n = read(fd, &count, sizeof(count));
  std::deque<std::function<void()>> messages;
  {
    std::lock_guard<std::mutex> lock(self->mutex_);
    messages.swap(self->queue_);
  }
  for (auto& message : messages) {
    message();
  }
}

} // namespace seawall::proxy
