#include "tests/upstream/connection.h"

#include <sys/socket.h>

#include <cstring>
#include <string_view>

#include <event2/buffer.h>

#include "tests/upstream/http1_handler.h"
#include "tests/upstream/http2_handler.h"
#include "tests/upstream/server.h"

namespace seawall::test_upstream {
namespace {

constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr size_t kInputHighWater = size_t{1024} * 1024;
constexpr size_t kOutputLowWater = size_t{64} * 1024;

} // namespace

Connection::Connection(UpstreamServer& server, uint64_t id, bufferevent* bev)
    : server_(server), id_(id), bev_(bev) {
  bufferevent_setcb(bev, &Connection::readCb, &Connection::writeCb, &Connection::eventCb, this);
  bufferevent_setwatermark(bev, EV_READ, 0, kInputHighWater);
  bufferevent_setwatermark(bev, EV_WRITE, kOutputLowWater, 0);
  bufferevent_enable(bev, EV_READ | EV_WRITE);
}

Connection::~Connection() = default;

void Connection::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  bufferevent_disable(bev_.get(), EV_READ | EV_WRITE);
  if (linger_timer_) {
    linger_timer_->cancel();
  }
  server_.connectionClosed(*this);
}

void Connection::finish() {
  if (finishing_ || closed_) {
    return;
  }
  finishing_ = true;
  bufferevent_setwatermark(bev_.get(), EV_WRITE, 0, 0);
  bufferevent_enable(bev_.get(), EV_READ | EV_WRITE);
  linger_timer_ = std::make_unique<Timer>(server_.base(), [this] { close(); });
  linger_timer_->arm(std::chrono::seconds(2));
  if (evbuffer_get_length(output()) == 0) {
    shutdownWrite();
  }
}

void Connection::shutdownWrite() {
  if (write_shut_) {
    return;
  }
  write_shut_ = true;
  ::shutdown(bufferevent_getfd(bev_.get()), SHUT_WR);
}

void Connection::readCb(bufferevent* /*bev*/, void* arg) noexcept {
  static_cast<Connection*>(arg)->onRead();
}

void Connection::writeCb(bufferevent* /*bev*/, void* arg) noexcept {
  static_cast<Connection*>(arg)->onWrite();
}

void Connection::eventCb(bufferevent* /*bev*/, short what, void* arg) noexcept {
  auto* self = static_cast<Connection*>(arg);
  if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) != 0) {
    self->close();
  }
}

void Connection::onRead() {
  if (closed_) {
    return;
  }
  if (finishing_) {
    evbuffer_drain(input(), evbuffer_get_length(input()));
    return;
  }
  if (!handler_) {
    const size_t len = evbuffer_get_length(input());
    const size_t n = std::min(len, kH2Preface.size());
    const auto* head =
        reinterpret_cast<const char*>(evbuffer_pullup(input(), static_cast<ssize_t>(n)));
    if (std::string_view(head, n) != kH2Preface.substr(0, n)) {
      handler_ = std::make_unique<Http1Handler>(*this);
    } else if (n == kH2Preface.size()) {
      handler_ = std::make_unique<Http2Handler>(*this);
    } else {
      return; // a prefix of the preface: wait for more bytes
    }
  }
  handler_->onRead();
}

void Connection::onWrite() {
  if (closed_) {
    return;
  }
  if (finishing_) {
    if (evbuffer_get_length(output()) == 0) {
      shutdownWrite();
    }
    return;
  }
  if (handler_) {
    handler_->onWrite();
  }
}

} // namespace seawall::test_upstream
