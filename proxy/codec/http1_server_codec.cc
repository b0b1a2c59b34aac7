#include "proxy/codec/http1_server_codec.h"

#include <algorithm>
#include <array>
#include <string>
#include <utility>

#include "proxy/common/log.h"

namespace seawall::proxy {

using http1::BodyFraming;

// ---- The exchange in progress ------------------------------------------------------------------

class Http1ServerCodec::ActiveStream : public ServerStream, public Deletable {
public:
  ActiveStream(Http1ServerCodec& codec, uint32_t id, const RequestFacts& facts)
      : codec_(codec), id_(id), facts_(facts) {}

  void setCallbacks(ServerStreamCallbacks& callbacks) { callbacks_ = &callbacks; }
  ServerStreamCallbacks* callbacks() const { return callbacks_; }
  bool headersSent() const { return headers_sent_; }
  void markDetached() { detached_ = true; }
  int readDisables() const { return read_disables_; }
  bool takeToldBlocked() { return std::exchange(told_blocked_, false); }

  void sendHeaders(ResponseHead&& head, bool end_stream) override;
  void sendData(evbuffer* data, bool end_stream) override;
  void sendTrailers(HeaderMap&& trailers) override;
  void reset() override;
  bool writeBlocked() const override;
  void readDisable(bool disable) override;
  uint64_t connectionId() const override { return codec_.connection_.id(); }
  uint32_t streamId() const override { return id_; }
  const std::string& peerAddress() const override { return codec_.peer_address_; }

private:
  void endResponse(const HeaderMap* trailers);

  Http1ServerCodec& codec_;
  uint32_t id_;
  RequestFacts facts_;
  ServerStreamCallbacks* callbacks_ = nullptr;
  http1::BodyEncoder encoder_;
  int read_disables_ = 0;
  bool headers_sent_ = false;
  bool detached_ = false;
  bool close_ = false;
  mutable bool told_blocked_ = false;
};

void Http1ServerCodec::ActiveStream::sendHeaders(ResponseHead&& head, bool end_stream) {
  if (detached_ || headers_sent_) {
    return;
  }
  int status = head.status;
  if (status < 200 && status != 101) {
    return; // 1xx are not for this call; the codec answers 100-continue itself
  }
  if (status == 101 && !facts_.upgrade) {
    reset(); // nothing to switch to
    return;
  }
  HeaderMap& headers = head.headers;
  headers.remove("transfer-encoding");
  headers.remove("connection");
  headers.remove("keep-alive");
  headers.remove("proxy-connection");
  uint64_t length = 0;
  BodyFraming framing = http1::chooseResponseFraming(facts_, status, headers, end_stream, length);
  close_ = codec_.draining_ || !facts_.keep_alive || (facts_.upgrade && status != 101) ||
           framing == BodyFraming::CloseDelimited;
  if (status == 101) {
    headers.add("connection", "upgrade");
  } else if (close_) {
    headers.add("connection", "close");
  } else if (facts_.version == 10) {
    headers.add("connection", "keep-alive");
  }
  evbuffer* out = codec_.connection_.output();
  // "HTTP/1.1 NNN Reason\r\n" in one add, without printf.
  if (status < 100 || status > 999) {
    status = 502; // no three-digit code to send: never reached (codes are checked upstream)
  }
  const std::string_view reason = reasonPhrase(status);
  std::array<char, 64> line{};
  const std::string_view prefix = "HTTP/1.1 ";
  size_t n = prefix.copy(line.data(), prefix.size());
  line[n++] = static_cast<char>('0' + status / 100 % 10);
  line[n++] = static_cast<char>('0' + status / 10 % 10);
  line[n++] = static_cast<char>('0' + status % 10);
  line[n++] = ' ';
  n += reason.copy(line.data() + n, std::min(reason.size(), line.size() - n - 2));
  line[n++] = '\r';
  line[n++] = '\n';
  evbuffer_add(out, line.data(), n);
  http1::writeHeaderLines(out, headers);
  evbuffer_add(out, "\r\n", 2);
  encoder_.start(framing, length);
  headers_sent_ = true;
  if (status == 101) {
    codec_.startTunnel();
  }
  if (end_stream) {
    endResponse(nullptr);
  }
}

void Http1ServerCodec::ActiveStream::sendData(evbuffer* data, bool end_stream) {
  if (detached_ || !headers_sent_) {
    evbuffer_drain(data, evbuffer_get_length(data));
    return;
  }
  encoder_.write(codec_.connection_.output(), data);
  if (end_stream) {
    endResponse(nullptr);
  }
}

void Http1ServerCodec::ActiveStream::sendTrailers(HeaderMap&& trailers) {
  if (detached_ || !headers_sent_) {
    return;
  }
  endResponse(&trailers);
}

void Http1ServerCodec::ActiveStream::endResponse(const HeaderMap* trailers) {
  encoder_.finish(codec_.connection_.output(), trailers);
  // A body shorter than its content-length (or cut short otherwise) can only end with a close.
  codec_.onResponseComplete(*this, close_ || !encoder_.complete());
}

void Http1ServerCodec::ActiveStream::reset() {
  if (!detached_) {
    codec_.onStreamReset(*this);
  }
}

bool Http1ServerCodec::ActiveStream::writeBlocked() const {
  bool blocked = evbuffer_get_length(codec_.connection_.output()) > codec_.limits_.high_watermark;
  told_blocked_ = told_blocked_ || blocked;
  return blocked;
}

void Http1ServerCodec::ActiveStream::readDisable(bool disable) {
  if (detached_ || (!disable && read_disables_ == 0)) {
    return;
  }
  read_disables_ += disable ? 1 : -1;
  codec_.onStreamReadDisable(disable);
}

// ---- llhttp trampolines ------------------------------------------------------------------------

struct Http1ServerCodec::ParserAccess : http1::ParserTrampolines<Http1ServerCodec> {
  static int onMethod(llhttp_t* p, const char* at, size_t n) noexcept {
    return self(p).onLinePiece(at, n, 0);
  }
  static int onUrl(llhttp_t* p, const char* at, size_t n) noexcept {
    return self(p).onLinePiece(at, n, 1);
  }
  static int onVersion(llhttp_t* p, const char* at, size_t n) noexcept {
    return self(p).onLinePiece(at, n, 2);
  }

  static const llhttp_settings_t& settings() {
    static const llhttp_settings_t s = [] {
      llhttp_settings_t x = commonSettings();
      x.on_method = &onMethod;
      x.on_url = &onUrl;
      x.on_version = &onVersion;
      return x;
    }();
    return s;
  }
};

// ---- Codec -------------------------------------------------------------------------------------

Http1ServerCodec::Http1ServerCodec(CodecConnection& connection, ServerCodecCallbacks& callbacks,
                                   const ServerCodecLimits& limits, std::string peer_address)
    : connection_(connection), callbacks_(callbacks), limits_(limits),
      peer_address_(std::move(peer_address)), pending_(makeEvBuffer()), body_(makeEvBuffer()),
      alive_(std::make_shared<char>(0)) {
  llhttp_init(&parser_, HTTP_REQUEST, &ParserAccess::settings());
  parser_.data = this;
}

Http1ServerCodec::~Http1ServerCodec() = default;

void Http1ServerCodec::onRead(evbuffer* input) {
  if (closed_ || state_ == ParseState::Done) {
    evbuffer_drain(input, evbuffer_get_length(input));
    return;
  }
  evbuffer_add_buffer(pending_.get(), input);
  parse();
  updateInputBackpressure();
}

void Http1ServerCodec::onWritable() {
  if (active_ && !active_->writeBlocked() && active_->takeToldBlocked()) {
    active_->callbacks()->onDownstreamWritable();
  }
}

void Http1ServerCodec::onConnectionClose() {
  if (closed_) {
    return;
  }
  closed_ = true;
  state_ = ParseState::Done;
  if (active_) {
    ServerStreamCallbacks* cb = active_->callbacks();
    detach(*active_);
    cb->onDownstreamReset();
  }
}

void Http1ServerCodec::drain() {
  draining_ = true;
  if (!closed_ && !active_ && state_ == ParseState::Head && !in_message_) {
    state_ = ParseState::Done;
    connection_.closeAfterFlush();
  }
}

void Http1ServerCodec::parse() {
  if (in_parse_) {
    return; // the running loop picks up whatever changed
  }
  in_parse_ = true;
  while (parseStep()) {
  }
  in_parse_ = false;
}

// One llhttp_execute over the first slice of pending input, then the events it recorded. False
// when nothing could be done.
bool Http1ServerCodec::parseStep() {
  if (closed_ || app_read_disabled_ > 0) {
    return false;
  }
  if (state_ == ParseState::Tunnel) {
    return deliverTunnelData();
  }
  if (state_ != ParseState::Head && state_ != ParseState::Body) {
    return false;
  }
  size_t available = evbuffer_get_length(pending_.get());
  if (available == 0 && !resume_pending_) {
    return false;
  }
  const char* data = "";
  size_t n = 0;
  if (available > 0) {
    evbuffer_iovec v{};
    evbuffer_peek(pending_.get(), -1, nullptr, &v, 1);
    data = static_cast<const char*>(v.iov_base);
    n = std::min(v.iov_len, http1::kMaxParseSlice);
  }
  resume_pending_ = false;
  pause_ = Pause::None;
  cursor_.slice = data;
  llhttp_errno_t err = llhttp_execute(&parser_, data, n);
  if (err != HPE_OK && err != HPE_PAUSED) {
    failFromParser(err);
    return true;
  }
  size_t consumed =
      err == HPE_PAUSED ? static_cast<size_t>(llhttp_get_error_pos(&parser_) - data) : n;
  cursor_.base += consumed;
  evbuffer_drain(pending_.get(), consumed);
  if (err == HPE_PAUSED) {
    llhttp_resume(&parser_);
    resume_pending_ = true;
  }
  // Raw bytes, so that whitespace trickled into a head or trailers counts too.
  uint64_t section_start = state_ == ParseState::Head ? head_start_ : collector_.startOffset();
  bool in_section = state_ == ParseState::Head ? line_seen_[0] : collector_.started();
  if (in_section && cursor_.base - section_start > limits_.max_header_bytes) {
    fail(431, "header-too-large", "request header fields too large");
    return true;
  }
  if (pause_ == Pause::HeadersComplete) {
    onHeadersComplete();
  } else if (pause_ == Pause::MessageComplete) {
    onMessageComplete();
  } else {
    flushBody(false);
  }
  return true;
}

bool Http1ServerCodec::deliverTunnelData() {
  if (!active_ || evbuffer_get_length(pending_.get()) == 0) {
    return false;
  }
  EvBufferPtr data = makeEvBuffer();
  evbuffer_add_buffer(data.get(), pending_.get());
  active_->callbacks()->onRequestData(data.get(), false);
  return true;
}

void Http1ServerCodec::onHeadersComplete() {
  RequestHead head;
  RequestFacts facts;
  if (!buildRequestHead(head, facts)) {
    return;
  }
  state_ = facts.upgrade ? ParseState::UpgradeHeld : ParseState::Body;
  in_trailers_ = true; // any header callback from now on is a trailer
  active_ = std::make_unique<ActiveStream>(*this, ++next_stream_id_, facts);
  ActiveStream& stream = *active_;
  ServerStreamCallbacks& cb = callbacks_.newStream(stream);
  stream.setCallbacks(cb);
  bool end_stream = !facts.has_body && !facts.upgrade;
  request_end_delivered_ = end_stream;
  cb.onRequestHeaders(std::move(head), end_stream);
}

bool Http1ServerCodec::buildRequestHead(RequestHead& head, RequestFacts& facts) {
  if (llhttp_get_http_major(&parser_) != 1 || llhttp_get_http_minor(&parser_) > 1) {
    fail(505, "unsupported-version", "only HTTP/1.0 and HTTP/1.1 are supported");
    return false;
  }
  // llhttp 8.1 lets runs of spaces through: the request line must be "METHOD SP target SP HTTP/".
  if (line_offsets_[2] != line_offsets_[1] + 1 || line_offsets_[4] != line_offsets_[3] + 6) {
    fail(400, "bad-request", "malformed request line");
    return false;
  }
  head.version = llhttp_get_http_minor(&parser_) == 1 ? 11 : 10;
  head.method = method_;
  head.scheme = "http";
  head.headers = collector_.take();
  http1::RequestError error;
  if (!http1::finishRequestHead(target_, head, facts, error)) {
    fail(error.status, error.token, error.message);
    return false;
  }
  if (facts.send_continue) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    evbuffer_add(connection_.output(), kContinue.data(), kContinue.size());
  }
  return true;
}

void Http1ServerCodec::onMessageComplete() {
  in_message_ = false;
  std::fill(std::begin(line_seen_), std::end(line_seen_), false);
  in_trailers_ = false;
  HeaderMap trailers = std::move(trailers_);
  trailers_.clear();
  if (active_ && !request_end_delivered_) {
    request_end_delivered_ = true;
    if (trailers.empty()) {
      flushBody(true);
    } else {
      flushBody(false);
      if (active_) {
        active_->callbacks()->onRequestTrailers(std::move(trailers));
      }
    }
  } else {
    evbuffer_drain(body_.get(), evbuffer_get_length(body_.get()));
  }
  if (closed_ || state_ != ParseState::Body) {
    return;
  }
  if (active_) {
    state_ = ParseState::WaitResponse;
  } else if (draining_) {
    state_ = ParseState::Done;
    connection_.closeAfterFlush();
  } else {
    state_ = ParseState::Head; // the response went out already: on to the next request
  }
}

void Http1ServerCodec::flushBody(bool end_stream) {
  size_t n = evbuffer_get_length(body_.get());
  if (!active_ || (n == 0 && !end_stream)) {
    evbuffer_drain(body_.get(), n);
    return;
  }
  active_->callbacks()->onRequestData(body_.get(), end_stream);
  evbuffer_drain(body_.get(), evbuffer_get_length(body_.get()));
}

void Http1ServerCodec::failFromParser(llhttp_errno_t err) {
  if (has_error_) {
    fail(error_status_, error_token_, error_message_);
    return;
  }
  const char* reason = llhttp_get_error_reason(&parser_);
  std::string message = std::string("malformed request: ") + (reason ? reason : "parse error");
  switch (err) {
  case HPE_UNEXPECTED_CONTENT_LENGTH:
  case HPE_INVALID_TRANSFER_ENCODING:
    fail(400, "ambiguous-framing", message);
    return;
  case HPE_PAUSED_H2_UPGRADE:
    fail(400, "bad-request", "HTTP/2 connection preface on an HTTP/1.1 connection");
    return;
  default:
    fail(400, "bad-request", message);
    return;
  }
}

// Refuses the connection's current input: a local error reply when no response has started,
// then close. Input after this is ignored.
void Http1ServerCodec::fail(int status, std::string_view token, std::string_view message) {
  if (closed_ || state_ == ParseState::Done) {
    return;
  }
  state_ = ParseState::Done;
  evbuffer_drain(pending_.get(), evbuffer_get_length(pending_.get()));
  log(LogLevel::Debug, "[C" + std::to_string(connection_.id()) + "] local reply " +
                           std::to_string(status) + " " + std::string(token) + ": " +
                           std::string(message));
  bool reply = !active_ || !active_->headersSent();
  if (reply) {
    http1::writeErrorResponse(connection_.output(), status, token, message);
  }
  ServerStreamCallbacks* cb = active_ ? active_->callbacks() : nullptr;
  if (active_) {
    detach(*active_);
  }
  callbacks_.onCodecError(status, token);
  if (cb != nullptr) {
    cb->onDownstreamReset();
  }
  if (reply) {
    connection_.closeAfterFlush();
  } else {
    connection_.closeNow();
  }
}

void Http1ServerCodec::updateInputBackpressure() {
  if (closed_) {
    return;
  }
  size_t n = evbuffer_get_length(pending_.get());
  if (!input_blocked_ && n > kMaxBufferedInput) {
    input_blocked_ = true;
    connection_.readDisable(true);
  } else if (input_blocked_ && n <= kMaxBufferedInput) {
    input_blocked_ = false;
    connection_.readDisable(false);
  }
}

void Http1ServerCodec::scheduleParse() {
  if (in_parse_ || parse_posted_ || closed_) {
    return; // a running parse loop re-checks its state after every step
  }
  parse_posted_ = true;
  connection_.dispatcher().post([this, alive = std::weak_ptr<char>(alive_)] {
    if (alive.expired()) {
      return;
    }
    parse_posted_ = false;
    parse();
    updateInputBackpressure();
  });
}

void Http1ServerCodec::startTunnel() {
  state_ = ParseState::Tunnel;
  scheduleParse();
}

void Http1ServerCodec::onResponseComplete(ActiveStream& stream, bool close) {
  detach(stream);
  if (closed_) {
    return;
  }
  if (close || draining_ || !request_end_delivered_ || state_ == ParseState::Tunnel ||
      state_ == ParseState::UpgradeHeld) {
    state_ = ParseState::Done;
    connection_.closeAfterFlush();
    return;
  }
  if (state_ == ParseState::WaitResponse) {
    state_ = ParseState::Head;
  }
  // Otherwise (Body): the request end was delivered but llhttp has yet to report the message
  // complete; onMessageComplete moves on to the next request.
  scheduleParse();
}

void Http1ServerCodec::onStreamReset(ActiveStream& stream) {
  detach(stream);
  state_ = ParseState::Done;
  connection_.closeNow();
}

void Http1ServerCodec::onStreamReadDisable(bool disable) {
  app_read_disabled_ += disable ? 1 : -1;
  connection_.readDisable(disable);
  if (!disable && app_read_disabled_ == 0) {
    scheduleParse();
  }
}

void Http1ServerCodec::detach(ActiveStream& stream) {
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

int Http1ServerCodec::onMessageBegin() {
  in_message_ = true;
  method_.clear();
  target_.clear();
  std::fill(std::begin(line_seen_), std::end(line_seen_), false);
  collector_.reset();
  trailers_.clear();
  in_trailers_ = false;
  return 0;
}

bool Http1ServerCodec::overLimit(uint64_t end_offset) {
  uint64_t start = in_trailers_ ? collector_.startOffset() : head_start_;
  if (end_offset - start <= limits_.max_header_bytes) {
    return false;
  }
  return !recordError(431, "header-too-large", "request header fields too large");
}

int Http1ServerCodec::onLinePiece(const char* at, size_t length, size_t part) {
  uint64_t offset = cursor_.offset(at);
  if (!line_seen_[part]) {
    line_seen_[part] = true;
    line_offsets_[part * 2] = offset;
    if (part == 0) {
      head_start_ = offset;
    }
  }
  if (part < 2) {
    line_offsets_[part * 2 + 1] = offset + length;
    (part == 0 ? method_ : target_).append(at, length);
  }
  return overLimit(offset + length) ? -1 : 0;
}

int Http1ServerCodec::onHeaderPiece(const char* at, size_t length, bool field) {
  uint64_t offset = cursor_.offset(at);
  std::string_view piece(at, length);
  bool ok = field ? collector_.field(offset, piece) : collector_.value(offset, piece);
  if (!ok) {
    return recordError(400, "bad-request", collector_.error()) ? 0 : -1;
  }
  return overLimit(offset + length) ? -1 : 0;
}

int Http1ServerCodec::onHeaderValueComplete() {
  if (!collector_.valueComplete()) {
    return recordError(400, "bad-request", collector_.error()) ? 0 : -1;
  }
  return 0;
}

int Http1ServerCodec::onHeadersCompleteCb() {
  pause_ = Pause::HeadersComplete;
  return HPE_PAUSED;
}

int Http1ServerCodec::onMessageCompleteCb() {
  if (collector_.started()) {
    trailers_ = collector_.take();
    // Framing and routing have been decided: trailers cannot change them.
    for (std::string_view name : {"content-length", "transfer-encoding", "host", "connection",
                                  "keep-alive", "trailer", "expect", "upgrade"}) {
      trailers_.remove(name);
    }
  }
  pause_ = Pause::MessageComplete;
  return HPE_PAUSED;
}

// Always false, so that callers can `return recordError(...) ? 0 : -1`.
bool Http1ServerCodec::recordError(int status, std::string_view token, std::string message) {
  if (!has_error_) {
    has_error_ = true;
    error_status_ = status;
    error_token_ = std::string(token);
    error_message_ = std::move(message);
  }
  return false;
}

} // namespace seawall::proxy
