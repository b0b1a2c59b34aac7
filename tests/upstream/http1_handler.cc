#include "tests/upstream/http1_handler.h"

#include <array>
#include <cstdio>

#include <event2/buffer.h>

#include "tests/upstream/server.h"

namespace seawall::test_upstream {
namespace {

constexpr size_t kWriteSlice = size_t{64} * 1024;
constexpr size_t kEchoHighWater = size_t{1024} * 1024;

const char* reasonPhrase(int status) {
  switch (status) {
  case 101:
    return "Switching Protocols";
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 202:
    return "Accepted";
  case 204:
    return "No Content";
  case 301:
    return "Moved Permanently";
  case 302:
    return "Found";
  case 304:
    return "Not Modified";
  case 400:
    return "Bad Request";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 429:
    return "Too Many Requests";
  case 500:
    return "Internal Server Error";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  default:
    return "Status";
  }
}

bool containsToken(const std::string& value, std::string_view token) {
  return toLower(value).find(token) != std::string::npos;
}

} // namespace

Http1Handler::Http1Handler(Connection& connection)
    : conn_(connection), delay_timer_(connection.server().base(), [this] { sendHead(); }),
      chunk_timer_(connection.server().base(), [this] { pump(); }),
      resume_timer_(connection.server().base(), [this] { parseInput(); }) {
  llhttp_init(&parser_, HTTP_REQUEST, &settings());
  parser_.data = this;
}

const llhttp_settings_t& Http1Handler::settings() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = &Http1Handler::onMessageBegin;
    s.on_url = &Http1Handler::onUrl;
    s.on_header_field = &Http1Handler::onHeaderField;
    s.on_header_value = &Http1Handler::onHeaderValue;
    s.on_header_value_complete = &Http1Handler::onHeaderValueComplete;
    s.on_headers_complete = &Http1Handler::onHeadersComplete;
    s.on_body = &Http1Handler::onBody;
    s.on_message_complete = &Http1Handler::onMessageComplete;
    return s;
  }();
  return settings;
}

int Http1Handler::onMessageBegin(llhttp_t* p) noexcept {
  Http1Handler& h = self(p);
  h.request_ = Request{};
  h.request_.arrival_ms = millisSinceStart();
  h.request_.connection_id = h.conn_.id();
  h.field_.clear();
  h.value_.clear();
  return 0;
}

int Http1Handler::onUrl(llhttp_t* p, const char* at, size_t len) noexcept {
  self(p).request_.target.append(at, len);
  return 0;
}

int Http1Handler::onHeaderField(llhttp_t* p, const char* at, size_t len) noexcept {
  self(p).field_.append(at, len);
  return 0;
}

int Http1Handler::onHeaderValue(llhttp_t* p, const char* at, size_t len) noexcept {
  self(p).value_.append(at, len);
  return 0;
}

int Http1Handler::onHeaderValueComplete(llhttp_t* p) noexcept {
  Http1Handler& h = self(p);
  h.request_.headers.emplace_back(toLower(h.field_), std::move(h.value_));
  h.field_.clear();
  h.value_.clear();
  return 0;
}

int Http1Handler::onHeadersComplete(llhttp_t* p) noexcept {
  Request& r = self(p).request_;
  r.method = llhttp_method_name(static_cast<llhttp_method_t>(llhttp_get_method(p)));
  r.version = "HTTP/" + std::to_string(llhttp_get_http_major(p)) + "." +
              std::to_string(llhttp_get_http_minor(p));
  r.splitTarget();
  if (const auto* host = r.header("host")) {
    r.authority = *host;
  }
  const auto* upgrade = r.header("upgrade");
  const auto* connection = r.header("connection");
  r.websocket_upgrade = upgrade != nullptr && connection != nullptr && r.method == "GET" &&
                        toLower(*upgrade) == "websocket" && containsToken(*connection, "upgrade");
  const auto* expect = r.header("expect");
  if (expect != nullptr && toLower(*expect) == "100-continue" && r.version == "HTTP/1.1") {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    evbuffer_add(self(p).conn_.output(), kContinue.data(), kContinue.size());
  }
  return 0;
}

int Http1Handler::onBody(llhttp_t* p, const char* at, size_t len) noexcept {
  Request& r = self(p).request_;
  r.body_bytes += len;
  r.body_crc = crc32Update(r.body_crc, at, len);
  return 0;
}

int Http1Handler::onMessageComplete(llhttp_t* p) noexcept {
  Http1Handler& h = self(p);
  h.request_.keep_alive = llhttp_should_keep_alive(p) != 0;
  h.message_complete_ = true;
  // Upgrade requests make llhttp_execute return HPE_PAUSED_UPGRADE by themselves.
  return llhttp_get_upgrade(p) != 0 ? 0 : HPE_PAUSED;
}

void Http1Handler::onRead() {
  if (mode_ == Mode::Upgraded) {
    echo();
  } else if (mode_ == Mode::Reading) {
    parseInput();
  }
  // Otherwise the bytes wait in the input buffer (reading stops at its high watermark).
}

void Http1Handler::parseInput() {
  evbuffer* in = conn_.input();
  for (int guard = 0; guard < 100000 && mode_ == Mode::Reading && !conn_.finishing(); ++guard) {
    if (evbuffer_get_length(in) == 0) {
      return;
    }
    evbuffer_iovec vec{};
    if (evbuffer_peek(in, -1, nullptr, &vec, 1) < 1) {
      return;
    }
    const auto* data = static_cast<const char*>(vec.iov_base);
    const llhttp_errno_t err = llhttp_execute(&parser_, data, vec.iov_len);
    size_t consumed = vec.iov_len;
    if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
      consumed = static_cast<size_t>(llhttp_get_error_pos(&parser_) - data);
    } else if (err != HPE_OK) {
      badRequest();
      return;
    }
    evbuffer_drain(in, consumed);
    if (message_complete_) {
      message_complete_ = false;
      paused_for_upgrade_ = err == HPE_PAUSED_UPGRADE;
      onRequestComplete();
    }
  }
}

void Http1Handler::badRequest() {
  mode_ = Mode::Done;
  static constexpr std::string_view kReply =
      "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
  evbuffer_add(conn_.output(), kReply.data(), kReply.size());
  conn_.finish();
}

void Http1Handler::onRequestComplete() {
  plan_ = conn_.server().respond(request_);
  conn_.server().logVerbose(request_, *plan_);
  if (plan_->websocket && paused_for_upgrade_) {
    mode_ = Mode::Upgraded;
    std::string head = "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n"
                       "connection: upgrade\r\nx-upstream-name: " +
                       conn_.server().options().name + "\r\n\r\n";
    evbuffer_add(conn_.output(), head.data(), head.size());
    echo();
    return;
  }
  mode_ = Mode::Responding;
  head_sent_ = false;
  if (plan_->blackhole) {
    mode_ = Mode::Blackholed;
  } else if (plan_->delay.count() > 0) {
    delay_timer_.arm(plan_->delay);
  } else {
    sendHead();
  }
}

void Http1Handler::sendHead() {
  if (conn_.finishing()) {
    return;
  }
  const ResponsePlan& plan = *plan_;
  if (plan.reset == ResetMode::BeforeHeaders) {
    mode_ = Mode::Done;
    conn_.finish();
    return;
  }
  cursor_ = std::make_unique<BodyCursor>(plan);
  const bool framed = !(plan.status < 200 || plan.status == 204 || plan.status == 304);
  chunked_ = framed && plan.trailers && request_.method != "HEAD";
  const bool closing = plan.close || !request_.keep_alive;
  std::string head = "HTTP/1.1 ";
  head.append(std::to_string(plan.status)).append(" ").append(reasonPhrase(plan.status));
  head += "\r\n";
  for (const auto& [name, value] : plan.headers) {
    head.append(name).append(": ").append(value).append("\r\n");
  }
  if (chunked_) {
    head += "transfer-encoding: chunked\r\ntrailer: grpc-status, x-trailer\r\n";
  } else if (framed) {
    head += "content-length: " + std::to_string(plan.bodySize()) + "\r\n";
  }
  if (closing) {
    head += "connection: close\r\n";
  }
  head += "\r\n";
  evbuffer_add(conn_.output(), head.data(), head.size());
  head_sent_ = true;
  pump();
}

void Http1Handler::pump() {
  if (conn_.finishing() || mode_ != Mode::Responding || !head_sent_ || chunk_timer_.armed()) {
    return;
  }
  evbuffer* out = conn_.output();
  std::array<char, kWriteSlice> buf{};
  for (int guard = 0; guard < 100000; ++guard) {
    if (cursor_->atResetPoint()) {
      mode_ = Mode::Done;
      conn_.finish();
      return;
    }
    if (cursor_->done()) {
      if (chunked_) {
        static constexpr std::string_view kLast = "0\r\ngrpc-status: 0\r\nx-trailer: yes\r\n\r\n";
        evbuffer_add(out, kLast.data(), kLast.size());
      }
      endResponse();
      return;
    }
    if (cursor_->atSegmentEnd()) {
      cursor_->nextSegment();
      if (plan_->chunk_delay.count() > 0) {
        chunk_timer_.arm(plan_->chunk_delay);
        return;
      }
      continue;
    }
    if (evbuffer_get_length(out) >= Connection::kOutputHighWater) {
      return; // onWrite() resumes once the output drains to its low watermark
    }
    const size_t n = cursor_->read(buf.data(), buf.size());
    if (chunked_) {
      char size_line[32];
      const int len = std::snprintf(size_line, sizeof(size_line), "%zx\r\n", n);
      evbuffer_add(out, size_line, static_cast<size_t>(len));
    }
    evbuffer_add(out, buf.data(), n);
    if (chunked_) {
      evbuffer_add(out, "\r\n", 2);
    }
  }
}

void Http1Handler::endResponse() {
  if (plan_->close || !request_.keep_alive) {
    mode_ = Mode::Done;
    conn_.finish();
    return;
  }
  mode_ = Mode::Reading;
  cursor_.reset();
  plan_.reset();
  head_sent_ = false;
  if (paused_for_upgrade_) {
    paused_for_upgrade_ = false;
    llhttp_resume_after_upgrade(&parser_);
  } else {
    llhttp_resume(&parser_);
  }
  // Pipelined requests may already be buffered: parse them on the next loop iteration.
  resume_timer_.arm(std::chrono::milliseconds(0));
}

void Http1Handler::onWrite() {
  if (mode_ == Mode::Responding) {
    pump();
  } else if (mode_ == Mode::Upgraded) {
    bufferevent_enable(conn_.bev(), EV_READ);
    echo();
  }
}

void Http1Handler::echo() {
  evbuffer* out = conn_.output();
  if (evbuffer_get_length(out) >= kEchoHighWater) {
    bufferevent_disable(conn_.bev(), EV_READ);
    return;
  }
  evbuffer_add_buffer(out, conn_.input());
}

} // namespace seawall::test_upstream
