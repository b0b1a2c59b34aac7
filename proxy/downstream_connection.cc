#include "proxy/downstream_connection.h"

#include <algorithm>
#include <cstring>

#include "proxy/codec/http1_server_codec.h"
#include "proxy/codec/http2_server_codec.h"
#include "proxy/stats/worker_stats.h"
#include "proxy/worker.h"

namespace seawall::proxy {
namespace {
constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr size_t kWriteLowWatermark = size_t{64} * 1024;
constexpr int kSoOriginalDst = 80; // SO_ORIGINAL_DST (IPv4) and IP6T_SO_ORIGINAL_DST (IPv6)

// Where an iptables REDIRECT (nat table) sent from: the connection's destination before the
// rewrite. Null when it cannot be read or is the socket's own address (not redirected).
std::unique_ptr<ResolvedEndpoint> originalDestinationOf(evutil_socket_t fd) {
  sockaddr_storage local{};
  socklen_t local_len = sizeof(local);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) {
    return nullptr;
  }
  auto out = std::make_unique<ResolvedEndpoint>();
  out->address_len = sizeof(out->address);
  const int level = local.ss_family == AF_INET6 ? SOL_IPV6 : SOL_IP;
  if (getsockopt(fd, level, kSoOriginalDst, &out->address, &out->address_len) != 0 ||
      (out->address_len == local_len && std::memcmp(&out->address, &local, local_len) == 0)) {
    return nullptr;
  }
  out->name = formatSockaddr(reinterpret_cast<const sockaddr*>(&out->address));
  return out;
}
} // namespace

DownstreamConnection::DownstreamConnection(Worker& worker, ListenerContext& listener,
                                           evutil_socket_t fd, std::string peer_address,
                                           uint64_t id)
    : worker_(worker), listener_(listener), peer_address_(std::move(peer_address)), id_(id),
      bev_(bufferevent_socket_new(worker.dispatcher().base(), fd, BEV_OPT_CLOSE_ON_FREE)),
      last_activity_(std::chrono::steady_clock::now()) {
  bufferevent_setcb(bev_.get(), &DownstreamConnection::readCb, &DownstreamConnection::writeCb,
                    &DownstreamConnection::eventCb, this);
  bufferevent_setwatermark(bev_.get(), EV_WRITE, kWriteLowWatermark, 0);
  bufferevent_enable(bev_.get(), EV_READ | EV_WRITE);
  idle_timer_ = worker.dispatcher().createTimer([this] { onIdleTimer(); });
  idle_timer_->enable(listener_.config->limits.idle_timeout);
  listener_.stats.connectionOpened();
  if (listener_.config->transparent) {
    original_dst_ = originalDestinationOf(fd);
  }
}

evbuffer* DownstreamConnection::output() { return bufferevent_get_output(bev_.get()); }

Dispatcher& DownstreamConnection::dispatcher() { return worker_.dispatcher(); }

void DownstreamConnection::readCb(bufferevent* /*bev*/, void* arg) noexcept {
  static_cast<DownstreamConnection*>(arg)->onRead();
}

void DownstreamConnection::writeCb(bufferevent* /*bev*/, void* arg) noexcept {
  auto* self = static_cast<DownstreamConnection*>(arg);
  self->last_activity_ = std::chrono::steady_clock::now();
  if (self->close_after_flush_ && evbuffer_get_length(self->output()) == 0) {
    self->closeNow();
    return;
  }
  if (self->codec_) {
    self->codec_->onWritable();
  }
}

void DownstreamConnection::eventCb(bufferevent* /*bev*/, short what, void* arg) noexcept {
  auto* self = static_cast<DownstreamConnection*>(arg);
  if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) != 0) {
    self->closeNow();
  }
}

void DownstreamConnection::onRead() {
  if (closed_) {
    return;
  }
  last_activity_ = std::chrono::steady_clock::now();
  evbuffer* input = bufferevent_get_input(bev_.get());
  if (!codec_ && !sniff(input)) {
    return;
  }
  codec_->onRead(input);
}

// Picks the codec from the first bytes: the HTTP/2 connection preface means h2c with prior
// knowledge, anything else is HTTP/1.1. Waits while the bytes so far are a prefix of the preface.
bool DownstreamConnection::sniff(evbuffer* input) {
  size_t len = evbuffer_get_length(input);
  size_t n = std::min(len, kH2Preface.size());
  const char* data = reinterpret_cast<const char*>(evbuffer_pullup(input, static_cast<ssize_t>(n)));
  bool prefix = n == 0 || std::memcmp(data, kH2Preface.data(), n) == 0;
  if (prefix && n < kH2Preface.size()) {
    return false; // need more bytes
  }
  bool h2 = prefix;
  const auto& protocols = listener_.config->protocols;
  bool allow_h1 =
      std::find(protocols.begin(), protocols.end(), config::Protocol::Http1) != protocols.end();
  bool allow_h2 =
      std::find(protocols.begin(), protocols.end(), config::Protocol::H2c) != protocols.end();
  if (h2 && allow_h2) {
    codec_ = std::make_unique<Http2ServerCodec>(*this, *this, listener_.limits, peer_address_);
  } else if (!h2 && !allow_h1) {
    onCodecError(0, "protocol-not-enabled");
    closeNow();
    return false;
  } else {
    // HTTP/1.1, or a preface on a listener without h2c, which the HTTP/1.1 codec rejects (400).
    codec_ = std::make_unique<Http1ServerCodec>(*this, *this, listener_.limits, peer_address_);
  }
  if (draining_) {
    codec_->drain();
  }
  return true;
}

void DownstreamConnection::closeAfterFlush() {
  if (closed_) {
    return;
  }
  if (evbuffer_get_length(output()) == 0) {
    closeNow();
    return;
  }
  close_after_flush_ = true;
  bufferevent_disable(bev_.get(), EV_READ);
}

void DownstreamConnection::closeNow() {
  if (closed_) {
    return;
  }
  closed_ = true;
  idle_timer_.reset();
  bufferevent_disable(bev_.get(), EV_READ | EV_WRITE);
  bev_.reset();
  if (codec_) {
    codec_->onConnectionClose();
  }
  listener_.stats.connectionClosed();
  worker_.connectionClosed(*this); // deferred delete
}

void DownstreamConnection::readDisable(bool disable) {
  if (closed_) {
    return;
  }
  if (disable) {
    if (read_disabled_++ == 0) {
      bufferevent_disable(bev_.get(), EV_READ);
    }
    return;
  }
  if (read_disabled_ > 0 && --read_disabled_ == 0 && !close_after_flush_) {
    bufferevent_enable(bev_.get(), EV_READ);
    evbuffer* input = bufferevent_get_input(bev_.get());
    if (codec_ && evbuffer_get_length(input) > 0) {
      // Bytes already read must not wait for another readiness event; run from the loop to avoid
      // re-entering the codec from inside its own call chain.
      worker_.dispatcher().post([this, alive = id_] {
        (void)alive;
        if (!closed_ && read_disabled_ == 0) {
          onRead();
        }
      });
    }
  }
}

ServerStreamCallbacks& DownstreamConnection::newStream(ServerStream& stream) {
  return worker_.createStream(listener_, stream, original_dst_.get());
}

void DownstreamConnection::onCodecError(int /*status*/, std::string_view reason) {
  listener_.stats.rejected(reason);
}

void DownstreamConnection::onIdleTimer() {
  auto idle_for = std::chrono::steady_clock::now() - last_activity_;
  auto timeout = listener_.config->limits.idle_timeout;
  if ((!codec_ || codec_->activeStreams() == 0) && idle_for >= timeout) {
    closeNow();
    return;
  }
  auto remaining = std::chrono::duration_cast<std::chrono::microseconds>(timeout - idle_for);
  idle_timer_->enable(remaining.count() > 0 ? remaining : std::chrono::microseconds(timeout));
}

void DownstreamConnection::drain() {
  draining_ = true;
  if (codec_) {
    codec_->drain();
  } else {
    closeNow();
  }
}

} // namespace seawall::proxy
