#include "proxy/codec/http1_client_codec.h"

#include <algorithm>
#include <string>
#include <utility>

#include "proxy/common/log.h"

namespace seawall::proxy {

using http1::BodyFraming;

// ---- The exchange in progress ------------------------------------------------------------------

class Http1ClientCodec::ActiveStream : public ClientStream, public Deletable {
public:
  ActiveStream(Http1ClientCodec& codec, ClientStreamCallbacks& callbacks)
      : codec_(codec), callbacks_(callbacks), held_(makeEvBuffer()) {}

  ClientStreamCallbacks& callbacks() const { return callbacks_; }
  bool bytesWritten() const { return headers_sent_; }
  bool headRequest() const { return head_request_; }
  bool upgradeRequest() const { return upgrade_; }
  void markDetached() { detached_ = true; }
  int readDisables() const { return read_disables_; }
  bool takeToldBlocked() { return std::exchange(told_blocked_, false); }
  // After a 101: the request bytes held back so far go out raw.
  void startTunnel();

  void sendHeaders(const RequestHead& head, bool end_stream) override;
  void sendData(evbuffer* data, bool end_stream) override;
  void sendTrailers(HeaderMap&& trailers) override;
  void reset() override;
  bool writeBlocked() const override;
  void readDisable(bool disable) override;

private:
  BodyFraming chooseFraming(const RequestHead& head, HeaderMap& headers, bool end_stream,
                            uint64_t& length) const;
  void endRequest(const HeaderMap* trailers);

  Http1ClientCodec& codec_;
  ClientStreamCallbacks& callbacks_;
  http1::BodyEncoder encoder_;
  EvBufferPtr held_; // body of an upgrade request, sent once the 101 arrived
  bool held_end_ = false;
  bool tunnel_ = false;
  bool headers_sent_ = false;
  bool request_ended_ = false;
  bool head_request_ = false;
  bool upgrade_ = false;
  bool detached_ = false;
  int read_disables_ = 0;
  mutable bool told_blocked_ = false;
};

BodyFraming Http1ClientCodec::ActiveStream::chooseFraming(const RequestHead& head,
                                                          HeaderMap& headers, bool end_stream,
                                                          uint64_t& length) const {
  if (upgrade_) {
    return BodyFraming::Tunnel; // held back until the 101
  }
  if (headers.has("content-length")) {
    if (http1::contentLength(headers, length)) {
      http1::collapseContentLength(headers, length);
      return BodyFraming::Length;
    }
    headers.remove("content-length");
  }
  if (end_stream) {
    if (head.method == "POST" || head.method == "PUT" || head.method == "PATCH") {
      headers.add("content-length", "0"); // some servers answer 411 without it
    }
    length = 0;
    return BodyFraming::Length;
  }
  headers.add("transfer-encoding", "chunked");
  return BodyFraming::Chunked;
}

void Http1ClientCodec::ActiveStream::sendHeaders(const RequestHead& head, bool end_stream) {
  if (detached_ || headers_sent_) {
    return;
  }
  HeaderMap headers = head.headers;
  uint64_t length = 0;
  upgrade_ =
      http1::isUpgradeRequest(headers) &&
      (!headers.has("content-length") || (http1::contentLength(headers, length) && length == 0));
  http1::stripHopByHop(headers, upgrade_);
  headers.remove("host");
  if (!upgrade_) {
    headers.remove("upgrade");
  }
  head_request_ = head.method == "HEAD";
  BodyFraming framing = chooseFraming(head, headers, end_stream, length);
  evbuffer* out = codec_.connection_.output();
  std::string line = head.method + " " + (head.path.empty() ? "/" : head.path) + " HTTP/1.1\r\n";
  evbuffer_add(out, line.data(), line.size());
  http1::writeHeaderLine(out, "host", head.authority);
  http1::writeHeaderLines(out, headers);
  evbuffer_add(out, "\r\n", 2);
  encoder_.start(framing, length);
  headers_sent_ = true;
  if (end_stream) {
    endRequest(nullptr);
  }
}

void Http1ClientCodec::ActiveStream::sendData(evbuffer* data, bool end_stream) {
  if (detached_ || !headers_sent_ || request_ended_) {
    evbuffer_drain(data, evbuffer_get_length(data));
    return;
  }
  if (upgrade_ && !tunnel_) {
    evbuffer_add_buffer(held_.get(), data);
    held_end_ = held_end_ || end_stream;
    return;
  }
  encoder_.write(codec_.connection_.output(), data);
  if (end_stream) {
    endRequest(nullptr);
  }
}

void Http1ClientCodec::ActiveStream::sendTrailers(HeaderMap&& trailers) {
  if (detached_ || !headers_sent_ || request_ended_) {
    return;
  }
  if (upgrade_ && !tunnel_) {
    held_end_ = true;
    return;
  }
  endRequest(&trailers);
}

void Http1ClientCodec::ActiveStream::endRequest(const HeaderMap* trailers) {
  request_ended_ = true;
  encoder_.finish(codec_.connection_.output(), trailers);
  codec_.onRequestComplete(encoder_.complete());
}

void Http1ClientCodec::ActiveStream::startTunnel() {
  tunnel_ = true;
  if (evbuffer_get_length(held_.get()) > 0 || held_end_) {
    sendData(held_.get(), held_end_);
  }
}

void Http1ClientCodec::ActiveStream::reset() {
  if (!detached_) {
    codec_.onStreamReset(*this);
  }
}

bool Http1ClientCodec::ActiveStream::writeBlocked() const {
  bool blocked = evbuffer_get_length(codec_.connection_.output()) > kHighWatermark;
  told_blocked_ = told_blocked_ || blocked;
  return blocked;
}

void Http1ClientCodec::ActiveStream::readDisable(bool disable) {
  if (detached_ || (!disable && read_disables_ == 0)) {
    return;
  }
  read_disables_ += disable ? 1 : -1;
  codec_.onStreamReadDisable(disable);
}

// ---- llhttp trampolines ------------------------------------------------------------------------

struct Http1ClientCodec::ParserAccess : http1::ParserTrampolines<Http1ClientCodec> {
  static int onLinePiece(llhttp_t* p, const char* at, size_t n) noexcept {
    Http1ClientCodec& c = self(p);
    uint64_t offset = c.cursor_.offset(at);
    if (!c.head_started_) {
      c.head_started_ = true;
      c.head_start_ = offset;
    }
    return c.overLimit(offset + n) ? -1 : 0;
  }

  static const llhttp_settings_t& settings() {
    static const llhttp_settings_t s = [] {
      llhttp_settings_t x = commonSettings();
      x.on_version = &onLinePiece;
      x.on_status = &onLinePiece;
      return x;
    }();
    return s;
  }
};

// ---- Codec -------------------------------------------------------------------------------------

Http1ClientCodec::Http1ClientCodec(CodecConnection& connection, ClientCodecCallbacks& callbacks)
    : connection_(connection), callbacks_(callbacks), pending_(makeEvBuffer()),
      body_(makeEvBuffer()), alive_(std::make_shared<char>(0)) {
  llhttp_init(&parser_, HTTP_RESPONSE, &ParserAccess::settings());
  parser_.data = this;
}

Http1ClientCodec::~Http1ClientCodec() = default;

bool Http1ClientCodec::canTakeStream() const { return !closed_ && reusable_ && !active_; }

ClientStream& Http1ClientCodec::newStream(ClientStreamCallbacks& callbacks) {
  active_ = std::make_unique<ActiveStream>(*this, callbacks);
  request_done_ = false;
  request_framed_ = true;
  return *active_;
}

void Http1ClientCodec::onRead(evbuffer* input) {
  if (closed_) {
    evbuffer_drain(input, evbuffer_get_length(input));
    return;
  }
  evbuffer_add_buffer(pending_.get(), input);
  parse();
}

void Http1ClientCodec::onWritable() {
  if (active_ && !active_->writeBlocked() && active_->takeToldBlocked()) {
    active_->callbacks().onUpstreamWritable();
  }
}

void Http1ClientCodec::onConnectionClose(UpstreamFailure why) {
  if (closed_) {
    return;
  }
  reusable_ = false;
  if (active_ && !in_parse_ && !tunnel_ && error_ == nullptr) {
    // What was read before the close still counts, and a close-delimited body ends here.
    finishing_ = true;
    parse();
    finishing_ = false;
    if (active_ && !closed_ && llhttp_message_needs_eof(&parser_) != 0) {
      llhttp_errno_t err = llhttp_finish(&parser_);
      if ((err == HPE_OK || err == HPE_PAUSED) && message_complete_) {
        deliverEvents();
      }
    }
  }
  closed_ = true;
  if (!active_) {
    return;
  }
  ClientStreamCallbacks& cb = active_->callbacks();
  bool written = active_->bytesWritten();
  detach(*active_);
  if (tunnel_) {
    EvBufferPtr data = makeEvBuffer();
    evbuffer_add_buffer(data.get(), pending_.get());
    cb.onResponseData(data.get(), true); // the end of a tunnel is the end of its connection
    return;
  }
  cb.onUpstreamReset(written ? UpstreamFailure::Reset : why);
}

void Http1ClientCodec::parse() {
  if (in_parse_) {
    return;
  }
  in_parse_ = true;
  while (parseStep()) {
  }
  in_parse_ = false;
}

bool Http1ClientCodec::parseStep() {
  if (closed_ || (app_read_disabled_ > 0 && !finishing_)) {
    return false;
  }
  if (tunnel_) {
    return deliverTunnelData();
  }
  size_t available = evbuffer_get_length(pending_.get());
  if (available == 0) {
    return false;
  }
  if (!active_ || !active_->bytesWritten()) {
    evbuffer_drain(pending_.get(), available);
    protocolError("response bytes without a request");
    return false;
  }
  evbuffer_iovec v{};
  evbuffer_peek(pending_.get(), -1, nullptr, &v, 1);
  const char* data = static_cast<const char*>(v.iov_base);
  size_t n = std::min(v.iov_len, http1::kMaxParseSlice);
  cursor_.slice = data;
  llhttp_errno_t err = llhttp_execute(&parser_, data, n);
  if (err != HPE_OK && err != HPE_PAUSED) {
    const char* reason = llhttp_get_error_reason(&parser_);
    protocolError(error_ != nullptr ? error_ : (reason != nullptr ? reason : "parse error"));
    return false;
  }
  size_t consumed =
      err == HPE_PAUSED ? static_cast<size_t>(llhttp_get_error_pos(&parser_) - data) : n;
  cursor_.base += consumed;
  evbuffer_drain(pending_.get(), consumed);
  if (err == HPE_PAUSED) {
    llhttp_resume(&parser_);
  }
  uint64_t start = in_trailers_ ? collector_.startOffset() : head_start_;
  bool in_section = in_trailers_ ? collector_.started() : (head_started_ && !head_ready_);
  if (in_section && cursor_.base - start > kMaxResponseHeadBytes) {
    protocolError("response head too large");
    return false;
  }
  deliverEvents();
  return true;
}

bool Http1ClientCodec::deliverTunnelData() {
  if (!active_ || evbuffer_get_length(pending_.get()) == 0) {
    return false;
  }
  EvBufferPtr data = makeEvBuffer();
  evbuffer_add_buffer(data.get(), pending_.get());
  active_->callbacks().onResponseData(data.get(), false);
  return true;
}

// Hands what the last llhttp_execute recorded to the stream, in order. The stream is detached
// before the call that ends the response.
void Http1ClientCodec::deliverEvents() {
  if (!active_) {
    evbuffer_drain(body_.get(), evbuffer_get_length(body_.get()));
    return;
  }
  ActiveStream& stream = *active_;
  ClientStreamCallbacks& cb = stream.callbacks();
  bool complete = std::exchange(message_complete_, false);
  if (head_ready_) {
    head_ready_ = false;
    bool tunnel = head_.status == 101;
    bool end = complete && !tunnel && evbuffer_get_length(body_.get()) == 0 && trailers_.empty();
    if (end) {
      detach(stream);
    }
    cb.onResponseHeaders(std::move(head_), end);
    head_ = ResponseHead{};
    if (end) {
      finishResponse();
      return;
    }
    if (tunnel) {
      tunnel_ = true;
      stream.startTunnel();
      return;
    }
    if (!active_) {
      return; // reset from inside the callback
    }
  }
  if (complete && trailers_.empty()) {
    detach(stream);
    cb.onResponseData(body_.get(), true);
    evbuffer_drain(body_.get(), evbuffer_get_length(body_.get()));
    finishResponse();
    return;
  }
  if (evbuffer_get_length(body_.get()) > 0) {
    cb.onResponseData(body_.get(), false);
    evbuffer_drain(body_.get(), evbuffer_get_length(body_.get()));
  }
  if (complete && active_) {
    detach(stream);
    HeaderMap trailers = std::move(trailers_);
    trailers_.clear();
    cb.onResponseTrailers(std::move(trailers));
    finishResponse();
  }
}

// The response ended (the stream is detached): offer the connection again or close it.
void Http1ClientCodec::finishResponse() {
  bool reusable =
      keep_alive_ && request_done_ && request_framed_ && evbuffer_get_length(pending_.get()) == 0;
  keep_alive_ = false;
  if (closed_ || !reusable_) {
    return;
  }
  if (reusable) {
    callbacks_.onCapacityChanged();
    return;
  }
  reusable_ = false;
  connection_.closeAfterFlush();
}

void Http1ClientCodec::protocolError(const char* what) {
  if (closed_) {
    return;
  }
  if (error_ == nullptr) {
    error_ = what;
  }
  reusable_ = false;
  log(LogLevel::Debug,
      "[C" + std::to_string(connection_.id()) + "] upstream protocol error: " + std::string(what));
  if (active_) {
    ClientStreamCallbacks& cb = active_->callbacks();
    detach(*active_);
    cb.onUpstreamReset(UpstreamFailure::ProtocolError);
  }
  connection_.closeNow();
}

void Http1ClientCodec::scheduleParse() {
  if (in_parse_ || parse_posted_ || closed_) {
    return;
  }
  parse_posted_ = true;
  connection_.dispatcher().post([this, alive = std::weak_ptr<char>(alive_)] {
    if (alive.expired()) {
      return;
    }
    parse_posted_ = false;
    parse();
  });
}

void Http1ClientCodec::onRequestComplete(bool framed) {
  request_done_ = true;
  request_framed_ = framed;
  if (tunnel_) {
    reusable_ = false;
    connection_.closeAfterFlush(); // the end of a tunnel is the end of its connection
  }
}

void Http1ClientCodec::onStreamReset(ActiveStream& stream) {
  detach(stream);
  reusable_ = false;
  connection_.closeNow();
}

void Http1ClientCodec::onStreamReadDisable(bool disable) {
  app_read_disabled_ += disable ? 1 : -1;
  connection_.readDisable(disable);
  if (!disable && app_read_disabled_ == 0) {
    scheduleParse();
  }
}

void Http1ClientCodec::detach(ActiveStream& stream) {
  stream.markDetached();
  for (int i = 0; i < stream.readDisables(); ++i) {
    connection_.readDisable(false);
  }
  app_read_disabled_ -= stream.readDisables();
  if (active_.get() == &stream) {
    connection_.dispatcher().deferredDelete(std::move(active_));
  }
}

// ---- llhttp events -----------------------------------------------------------------------------

int Http1ClientCodec::onMessageBegin() {
  head_started_ = false;
  informational_ = false;
  in_trailers_ = false;
  collector_.reset();
  return 0;
}

bool Http1ClientCodec::overLimit(uint64_t end_offset) {
  uint64_t start = in_trailers_ ? collector_.startOffset() : head_start_;
  if (end_offset - start <= kMaxResponseHeadBytes) {
    return false;
  }
  error_ = "response head too large";
  return true;
}

int Http1ClientCodec::onHeaderPiece(const char* at, size_t length, bool field) {
  uint64_t offset = cursor_.offset(at);
  std::string_view piece(at, length);
  if (!(field ? collector_.field(offset, piece) : collector_.value(offset, piece))) {
    error_ = collector_.error();
    return -1;
  }
  return overLimit(offset + length) ? -1 : 0;
}

int Http1ClientCodec::onHeaderValueComplete() {
  if (!collector_.valueComplete()) {
    error_ = collector_.error();
    return -1;
  }
  return 0;
}

int Http1ClientCodec::onHeadersCompleteCb() {
  int status = llhttp_get_status_code(&parser_);
  if (status < 200 && status != 101) {
    informational_ = true; // 100 Continue, 103 Early Hints: dropped
    collector_.reset();
    return 0;
  }
  HeaderMap headers = collector_.take();
  http1::TransferCoding coding = http1::transferCoding(headers);
  uint64_t length = 0;
  if (coding == http1::TransferCoding::Unsupported || coding == http1::TransferCoding::Invalid) {
    error_ = "unsupported or invalid transfer coding in response";
    return -1;
  }
  if (headers.has("content-length")) {
    if (!http1::contentLength(headers, length)) {
      error_ = "invalid content-length in response";
      return -1;
    }
    http1::collapseContentLength(headers, length);
  }
  bool tunnel = status == 101;
  if (tunnel && (!active_ || !active_->upgradeRequest())) {
    error_ = "101 without an upgrade request";
    return -1;
  }
  http1::stripHopByHop(headers, tunnel);
  head_.status = status;
  head_.headers = std::move(headers);
  head_ready_ = true;
  in_trailers_ = true;
  return active_ && active_->headRequest() ? 1 : 0; // 1: a response to HEAD has no body
}

int Http1ClientCodec::onMessageCompleteCb() {
  if (informational_) {
    informational_ = false;
    head_started_ = false;
    return 0;
  }
  if (collector_.started()) {
    trailers_ = collector_.take();
    for (std::string_view name :
         {"content-length", "transfer-encoding", "connection", "keep-alive", "trailer"}) {
      trailers_.remove(name);
    }
  }
  in_trailers_ = false;
  head_started_ = false;
  message_complete_ = true;
  keep_alive_ = llhttp_should_keep_alive(&parser_) != 0;
  return HPE_PAUSED;
}

} // namespace seawall::proxy
