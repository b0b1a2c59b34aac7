#include "proxy/upstream/upstream_connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include "proxy/codec/http1_client_codec.h"
#include "proxy/codec/http2_client_codec.h"
#include "proxy/upstream/connection_pool.h"

namespace seawall::proxy {
namespace {
constexpr size_t kWriteLowWatermark = size_t{64} * 1024;
}

UpstreamConnection::UpstreamConnection(ConnectionPool& pool, Dispatcher& dispatcher,
                                       const sockaddr_storage& address, socklen_t address_len,
                                       config::ClusterProtocol protocol, uint64_t id)
    : pool_(pool), dispatcher_(dispatcher), address_(address), address_len_(address_len), id_(id),
      bev_(bufferevent_socket_new(dispatcher.base(), -1, BEV_OPT_CLOSE_ON_FREE)),
      idle_since_(std::chrono::steady_clock::now()) {
  if (protocol == config::ClusterProtocol::H2) {
    codec_ = std::make_unique<Http2ClientCodec>(*this, *this);
  } else {
    codec_ = std::make_unique<Http1ClientCodec>(*this, *this);
  }
  bufferevent_setcb(bev_.get(), &UpstreamConnection::readCb, &UpstreamConnection::writeCb,
                    &UpstreamConnection::eventCb, this);
  bufferevent_setwatermark(bev_.get(), EV_WRITE, kWriteLowWatermark, 0);
}

void UpstreamConnection::connect(std::chrono::milliseconds timeout) {
  connect_timer_ = dispatcher_.createTimer([this] {
    if (!connect_failed_now_) {
      pool_.onConnectTimeout();
    }
    close(UpstreamFailure::ConnectFailure);
  });
  connect_timer_->enable(timeout);
  if (bufferevent_socket_connect(bev_.get(), reinterpret_cast<sockaddr*>(&address_),
                                 static_cast<int>(address_len_)) != 0) {
    // Immediate failure (e.g. no route): report on the next loop iteration, never re-entrantly.
    connect_failed_now_ = true;
    connect_timer_->enable(std::chrono::milliseconds(0));
  }
}

evbuffer* UpstreamConnection::output() { return bufferevent_get_output(bev_.get()); }

void UpstreamConnection::closeAfterFlush() {
  if (state_ == State::Closed) {
    return;
  }
  if (evbuffer_get_length(output()) == 0) {
    closeNow();
    return;
  }
  close_after_flush_ = true;
  bufferevent_disable(bev_.get(), EV_READ);
}

void UpstreamConnection::closeNow() { close(UpstreamFailure::Reset); }

void UpstreamConnection::close(UpstreamFailure why) {
  if (state_ == State::Closed) {
    return;
  }
  bool was_connected = state_ == State::Connected;
  state_ = State::Closed;
  connect_timer_.reset();
  bufferevent_disable(bev_.get(), EV_READ | EV_WRITE);
  bev_.reset(); // closes the socket
  codec_->onConnectionClose(was_connected ? UpstreamFailure::Reset : why);
  pool_.onConnectionClosed(*this, why, was_connected); // may delete us (deferred)
}

void UpstreamConnection::readDisable(bool disable) {
  if (state_ == State::Closed) {
    return;
  }
  if (disable) {
    if (read_disabled_++ == 0) {
      bufferevent_disable(bev_.get(), EV_READ);
    }
  } else if (read_disabled_ > 0 && --read_disabled_ == 0 && !close_after_flush_) {
    bufferevent_enable(bev_.get(), EV_READ);
    // Bytes read before the pause must not wait for the next readiness event.
    if (evbuffer_get_length(bufferevent_get_input(bev_.get())) > 0) {
      codec_->onRead(bufferevent_get_input(bev_.get()));
    }
  }
}

void UpstreamConnection::onCapacityChanged() {
  if (codec_->activeStreams() == 0) {
    idle_since_ = std::chrono::steady_clock::now();
  }
  pool_.onCapacityChanged(*this);
}

void UpstreamConnection::readCb(bufferevent* bev, void* arg) noexcept {
  auto* self = static_cast<UpstreamConnection*>(arg);
  self->codec_->onRead(bufferevent_get_input(bev));
}

void UpstreamConnection::writeCb(bufferevent* /*bev*/, void* arg) noexcept {
  auto* self = static_cast<UpstreamConnection*>(arg);
  if (self->close_after_flush_ && evbuffer_get_length(self->output()) == 0) {
    self->closeNow();
    return;
  }
  self->codec_->onWritable();
}

void UpstreamConnection::eventCb(bufferevent* bev, short what, void* arg) noexcept {
  auto* self = static_cast<UpstreamConnection*>(arg);
  if ((what & BEV_EVENT_CONNECTED) != 0) {
    self->connect_timer_.reset();
    self->state_ = State::Connected;
    int one = 1;
    setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    self->codec_->onConnected();
    self->pool_.onConnected(*self);
    return;
  }
  if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) != 0) {
    self->close(self->state_ == State::Connecting ? UpstreamFailure::ConnectFailure
                                                  : UpstreamFailure::Reset);
  }
}

} // namespace seawall::proxy
