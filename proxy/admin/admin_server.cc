#include "proxy/admin/admin_server.h"

#include <cerrno>
#include <cstring>
#include <system_error>

#include "proxy/codec/http1_server_codec.h"

namespace seawall::proxy::admin {

// One admin request: answered when the request has fully arrived.
class AdminStream : public ServerStreamCallbacks {
public:
  AdminStream(AdminHandler& handler, ServerStream& stream) : handler_(handler), stream_(&stream) {}

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
  void onDownstreamReset() override { stream_ = nullptr; }
  void onDownstreamWritable() override {}
  bool done() const { return stream_ == nullptr; }

private:
  void respond() {
    if (stream_ == nullptr) {
      return;
    }
    AdminResponse r = handler_.handle(head_.method, head_.path);
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

  AdminHandler& handler_;
  ServerStream* stream_;
  RequestHead head_;
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
  void readDisable(bool disable) override {
    if (!closed_) {
      disable ? bufferevent_disable(bev_.get(), EV_READ) : bufferevent_enable(bev_.get(), EV_READ);
    }
  }
  Dispatcher& dispatcher() override { return server_.dispatcher(); }
  uint64_t id() const override { return id_; }

  ServerStreamCallbacks& newStream(ServerStream& stream) override {
    std::erase_if(streams_, [](const auto& s) { return s->done(); });
    streams_.push_back(std::make_unique<AdminStream>(server_.handler(), stream));
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
    : dispatcher_(dispatcher), handler_(handler) {}

AdminServer::~AdminServer() {
  listener_.reset();
  std::vector<AdminConnection*> conns;
  for (auto& [raw, c] : connections_) {
    conns.push_back(raw);
  }
  for (auto* c : conns) {
    c->closeNow();
  }
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
