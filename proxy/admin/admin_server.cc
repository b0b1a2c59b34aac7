#include "proxy/admin/admin_server.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "proxy/admin/admin_common.h"
#include "proxy/codec/http1_server_codec.h"

namespace seawall::proxy::admin {

// One admin request: answered when the request has fully arrived. GET /breakers/stream stays
// open afterwards as one of the breaker hub's event sinks until the client goes or the hub ends it.
class AdminStream : public ServerStreamCallbacks, public EventSink {
public:
  AdminStream(AdminServer& server, ServerStream& stream) : server_(server), stream_(&stream) {}
  AdminStream(const AdminStream&) = delete;
  AdminStream& operator=(const AdminStream&) = delete;
  AdminStream(AdminStream&&) = delete;
  AdminStream& operator=(AdminStream&&) = delete;
  ~AdminStream() override { stopStreaming(); }

  void onRequestHeaders(RequestHead&& head, bool end_stream) override {
    head_ = std::move(head);
    if (end_stream) {
      respond();
    }
  }
  void onRequestData(evbuffer* data, bool end_stream) override {
    evbuffer_drain(data, evbuffer_get_length(data));
    if (end_stream) {
      respond();
    }
  }
  void onRequestTrailers(HeaderMap&& /*trailers*/) override { respond(); }
  void onDownstreamReset() override {
    stream_ = nullptr;
    stopStreaming();
  }
  void onDownstreamWritable() override {}
  bool done() const { return stream_ == nullptr; }

  // EventSink
  void write(std::string_view bytes) override {
    if (stream_ != nullptr) {
      EvBufferPtr buf = makeEvBuffer();
      evbuffer_add(buf.get(), bytes.data(), bytes.size());
      stream_->sendData(buf.get(), false);
    }
  }
  bool blocked() const override { return stream_ == nullptr || stream_->writeBlocked(); }
  void end() override {
    streaming_ = false;
    if (stream_ != nullptr) {
      ServerStream* s = stream_;
      stream_ = nullptr;
      EvBufferPtr empty = makeEvBuffer();
      s->sendData(empty.get(), true);
    }
  }

private:
  void respond() {
    if (stream_ == nullptr || streaming_) {
      return;
    }
    const bool head_only = head_.method == "HEAD";
    if (pathOf(head_.path) == kBreakerStreamPath && (head_.method == "GET" || head_only)) {
      startStream(head_only);
      return;
    }
    reply(server_.handler().handle(head_.method, head_.path));
  }

  void reply(AdminResponse r) {
    ResponseHead head;
    head.status = r.status;
    head.headers.add("content-type", r.content_type);
    for (auto& [name, value] : r.headers) {
      head.headers.add(name, value);
    }
    head.headers.add("cache-control", "no-store");
    bool head_only = head_.method == "HEAD" || r.body.empty();
    if (head_.method != "HEAD") {
      head.headers.add("content-length", std::to_string(r.body.size()));
    }
    ServerStream* s = stream_;
    stream_ = nullptr;
    s->sendHeaders(std::move(head), head_only);
    if (!head_only) {
      EvBufferPtr buf = makeEvBuffer();
      evbuffer_add(buf.get(), r.body.data(), r.body.size());
      s->sendData(buf.get(), true);
    }
  }

  // 200 text/event-stream without content-length (chunked), then the hub's events.
  void startStream(bool head_only) {
    BreakerStreamHub& hub = server_.streams();
    const BreakerStreamHub::Admission admission = hub.admit();
    if (admission != BreakerStreamHub::Admission::Admitted) {
      reply(refusal(admission));
      return;
    }
    ResponseHead head;
    head.status = 200;
    head.headers.add("content-type", std::string(BreakerStreamHub::kContentType));
    head.headers.add("cache-control", "no-store");
    if (head_only) {
      ServerStream* s = stream_;
      stream_ = nullptr;
      s->sendHeaders(std::move(head), true);
      return;
    }
    stream_->sendHeaders(std::move(head), false);
    streaming_ = true;
    hub.attach(*this, BreakerStreamHub::interval(queryOf(head_.path)));
  }

  static AdminResponse refusal(BreakerStreamHub::Admission admission) {
    AdminResponse r;
    r.status = 503;
    if (admission == BreakerStreamHub::Admission::TooMany) {
      r.body = "too many breaker streams (at most " +
               std::to_string(BreakerStreamHub::kMaxClients) + ")\n";
      r.headers.emplace_back("retry-after", "5");
    } else if (admission == BreakerStreamHub::Admission::Draining) {
      r.body = "draining\n";
    } else {
      r.body = "breaker stream not available\n";
    }
    return r;
  }

  void stopStreaming() {
    if (streaming_) {
      streaming_ = false;
      server_.streams().detach(*this);
    }
  }

  AdminServer& server_;
  ServerStream* stream_;
  RequestHead head_;
  bool streaming_ = false;
};

class AdminConnection : public Deletable, public CodecConnection, public ServerCodecCallbacks {
public:
  AdminConnection(AdminServer& server, evutil_socket_t fd, uint64_t id)
      : server_(server), id_(id),
        bev_(bufferevent_socket_new(server.dispatcher().base(), fd, BEV_OPT_CLOSE_ON_FREE)) {
    codec_ = std::make_unique<Http1ServerCodec>(*this, *this, ServerCodecLimits{}, "admin");
    bufferevent_setcb(bev_.get(), &AdminConnection::readCb, &AdminConnection::writeCb,
                      &AdminConnection::eventCb, this);
    bufferevent_enable(bev_.get(), EV_READ | EV_WRITE);
  }

  evbuffer* output() override { return bufferevent_get_output(bev_.get()); }
  void closeAfterFlush() override {
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
  void closeNow() override {
    if (closed_) {
      return;
    }
    closed_ = true;
    bev_.reset();
    codec_->onConnectionClose();
    server_.connectionClosed(*this);
  }
  // Best effort, without blocking: sends what the socket takes of the pending output now (at
  // shutdown, so that ended streams reach their clients whole). The bufferevent's output cannot be
  // drained from outside libevent; the connection closes right after anyway.
  void flushNow() {
    const size_t n = closed_ ? 0 : evbuffer_get_length(output());
    if (n > 0) {
      const unsigned char* data = evbuffer_pullup(output(), static_cast<ev_ssize_t>(n));
      if (data != nullptr) {
        (void)::send(bufferevent_getfd(bev_.get()), data, n, MSG_NOSIGNAL | MSG_DONTWAIT);
      }
    }
  }
  void readDisable(bool disable) override {
    if (!closed_) {
      disable ? bufferevent_disable(bev_.get(), EV_READ) : bufferevent_enable(bev_.get(), EV_READ);
    }
  }
  Dispatcher& dispatcher() override { return server_.dispatcher(); }
  uint64_t id() const override { return id_; }

  ServerStreamCallbacks& newStream(ServerStream& stream) override {
    std::erase_if(streams_, [](const auto& s) { return s->done(); });
    streams_.push_back(std::make_unique<AdminStream>(server_, stream));
    return *streams_.back();
  }
  void onCodecError(int /*status*/, std::string_view /*reason*/) override {}

private:
  static void readCb(bufferevent* bev, void* arg) noexcept {
    auto* self = static_cast<AdminConnection*>(arg);
    self->codec_->onRead(bufferevent_get_input(bev));
  }
  static void writeCb(bufferevent* /*bev*/, void* arg) noexcept {
    auto* self = static_cast<AdminConnection*>(arg);
    if (self->close_after_flush_ && evbuffer_get_length(self->output()) == 0) {
      self->closeNow();
      return;
    }
    self->codec_->onWritable();
  }
  static void eventCb(bufferevent* /*bev*/, short what, void* arg) noexcept {
    if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) != 0) {
      static_cast<AdminConnection*>(arg)->closeNow();
    }
  }

  AdminServer& server_;
  uint64_t id_;
  BufferEventPtr bev_;
  std::unique_ptr<ServerCodec> codec_;
  std::vector<std::unique_ptr<AdminStream>> streams_;
  bool closed_ = false;
  bool close_after_flush_ = false;
};

AdminServer::AdminServer(Dispatcher& dispatcher, AdminHandler& handler)
    : dispatcher_(dispatcher), handler_(handler),
      streams_(std::make_unique<BreakerStreamHub>(dispatcher, handler.sources())) {}

AdminServer::~AdminServer() {
  listener_.reset();
  streams_->endAll(); // each stream's last chunk is queued
  std::vector<AdminConnection*> conns;
  for (auto& [raw, c] : connections_) {
    conns.push_back(raw);
  }
  for (auto* c : conns) {
    c->flushNow();
    c->closeNow();
  }
  streams_.reset();
  dispatcher_.flush();
}

bool AdminServer::listen(const config::HostPort& address, std::string& error) {
  std::string text = address.toString();
  sockaddr_storage ss{};
  int len = sizeof(ss);
  if (evutil_parse_sockaddr_port(text.c_str(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    error = "admin address " + text + " is not an IP address and port";
    return false;
  }
  listener_.reset(
      evconnlistener_new_bind(dispatcher_.base(), &AdminServer::onAccept, this,
                              LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                              128, reinterpret_cast<sockaddr*>(&ss), len));
  if (!listener_) {
    error = "cannot listen on admin address " + text + ": " +
            std::error_code(errno, std::generic_category()).message();
    return false;
  }
  return true;
}

void AdminServer::onAccept(evconnlistener* /*listener*/, evutil_socket_t fd, sockaddr* /*addr*/,
                           int /*len*/, void* arg) noexcept {
  auto* self = static_cast<AdminServer*>(arg);
  evutil_make_socket_nonblocking(fd);
  static uint64_t next_id = 1;
  auto conn = std::make_unique<AdminConnection>(*self, fd, next_id++);
  AdminConnection* raw = conn.get();
  self->connections_.emplace(raw, std::move(conn));
}

void AdminServer::connectionClosed(AdminConnection& connection) {
  auto it = connections_.find(&connection);
  if (it != connections_.end()) {
    dispatcher_.deferredDelete(std::move(it->second));
    connections_.erase(it);
  }
}

} // namespace seawall::proxy::admin
