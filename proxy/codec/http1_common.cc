#include "proxy/codec/http1_common.h"

#include <array>
#include <limits>
#include <string>
#include <vector>

namespace seawall::proxy::http1 {

void HeaderCollector::reset() {
  headers_.clear();
  name_.clear();
  value_.clear();
  start_ = 0;
  value_end_ = 0;
  started_ = false;
  in_value_ = false;
  error_ = "";
}

bool HeaderCollector::field(uint64_t offset, std::string_view piece) {
  if (!started_) {
    started_ = true;
    start_ = offset;
  }
  if (in_value_) {
    // llhttp calls on_header_value_complete before the next field; be safe anyway.
    if (!valueComplete()) {
      return false;
    }
  }
  name_.append(piece);
  return true;
}

bool HeaderCollector::value(uint64_t offset, std::string_view piece) {
  if (in_value_ && offset != value_end_) {
    // llhttp 8.1 accepts obs-fold and hands the continuation line over as another piece of the
    // same value, after the CRLF it skipped: the pieces are not contiguous.
    error_ = "obsolete line folding in a header value";
    return false;
  }
  in_value_ = true;
  value_end_ = offset + piece.size();
  value_.append(piece);
  return true;
}

bool HeaderCollector::valueComplete() {
  if (!isToken(name_)) {
    error_ = "invalid header name (whitespace before the colon?)";
    return false;
  }
  toLower(name_);
  headers_.add(std::move(name_), std::string(trimWhitespace(value_)));
  name_.clear();
  value_.clear();
  in_value_ = false;
  return true;
}

HeaderMap HeaderCollector::take() {
  HeaderMap out = std::move(headers_);
  reset();
  return out;
}

namespace {

// RFC 9110 tchar, as a table: one load per byte on the per-header path.
constexpr std::array<bool, 256> kTokenChars = [] {
  std::array<bool, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) {
    t[static_cast<size_t>(c)] = true;
  }
  for (int c = 'A'; c <= 'Z'; ++c) {
    t[static_cast<size_t>(c)] = true;
  }
  for (int c = '0'; c <= '9'; ++c) {
    t[static_cast<size_t>(c)] = true;
  }
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) {
    t[static_cast<unsigned char>(c)] = true;
  }
  return t;
}();

// A value that would split or end the header block: CR, LF or NUL.
bool hasLineBreakOrNul(std::string_view value) {
  for (char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') {
      return true;
    }
  }
  return false;
}

} // namespace

bool isTokenChar(char c) { return kTokenChars[static_cast<unsigned char>(c)]; }

bool isToken(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    if (!isTokenChar(c)) {
      return false;
    }
  }
  return true;
}

std::string_view trimWhitespace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

bool parseContentLength(std::string_view value, uint64_t& length) {
  value = trimWhitespace(value);
  if (value.empty()) {
    return false;
  }
  uint64_t n = 0;
  for (char c : value) {
    if (c < '0' || c > '9') {
      return false;
    }
    auto digit = static_cast<uint64_t>(c - '0');
    if (n > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
      return false;
    }
    n = n * 10 + digit;
  }
  length = n;
  return true;
}

bool contentLength(const HeaderMap& headers, uint64_t& length) {
  bool found = false;
  for (const auto& h : headers.entries()) {
    if (h.name != "content-length") {
      continue;
    }
    uint64_t n = 0;
    if (!parseContentLength(h.value, n) || (found && n != length)) {
      return false;
    }
    found = true;
    length = n;
  }
  return found;
}

void collapseContentLength(HeaderMap& headers, uint64_t length) {
  bool seen = false;
  std::erase_if(headers.entries(), [&](Header& h) {
    if (h.name != "content-length") {
      return false;
    }
    if (seen) {
      return true;
    }
    seen = true;
    h.value = std::to_string(length);
    return false;
  });
}

namespace {

// Calls fn(item) for each non-empty, trimmed item of a comma-separated list.
template <typename Fn> void forEachListItem(std::string_view list, Fn&& fn) {
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string_view::npos) {
      comma = list.size();
    }
    std::string_view item = trimWhitespace(list.substr(pos, comma - pos));
    if (!item.empty()) {
      fn(item);
    }
    pos = comma + 1;
  }
}

bool isAuthorityChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  return std::string_view("-._~!$&'()*+,;=:%[]").find(c) != std::string_view::npos;
}

bool startsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

} // namespace

TransferCoding transferCoding(const HeaderMap& headers) {
  bool present = false;
  int chunked = 0;
  int others = 0;
  bool chunked_last = false;
  for (const auto& h : headers.entries()) {
    if (h.name != "transfer-encoding") {
      continue;
    }
    present = true;
    forEachListItem(h.value, [&](std::string_view item) {
      chunked_last = iequals(item, "chunked");
      (chunked_last ? chunked : others)++;
    });
  }
  if (!present) {
    return TransferCoding::None;
  }
  if (others > 0) {
    return TransferCoding::Unsupported;
  }
  return chunked == 1 && chunked_last ? TransferCoding::Chunked : TransferCoding::Invalid;
}

void stripHopByHop(HeaderMap& headers, bool keep_upgrade) {
  std::vector<std::string> nominated;
  for (const auto& h : headers.entries()) {
    if (h.name == "connection") {
      forEachListItem(h.value, [&](std::string_view item) {
        std::string name(item);
        toLower(name);
        nominated.push_back(std::move(name));
      });
    }
  }
  for (const auto& name : nominated) {
    // Framing and routing headers are never removed through nomination.
    if (name == "content-length" || name == "host" || (keep_upgrade && name == "upgrade")) {
      continue;
    }
    headers.remove(name);
  }
  headers.remove("keep-alive");
  headers.remove("proxy-connection");
  headers.remove("transfer-encoding");
  if (!keep_upgrade) {
    headers.remove("connection");
  }
}

bool isUpgradeRequest(const HeaderMap& headers) {
  const std::string* connection = headers.get("connection");
  const std::string* upgrade = headers.get("upgrade");
  return connection != nullptr && upgrade != nullptr && hasToken(*connection, "upgrade") &&
         !trimWhitespace(*upgrade).empty() && !hasToken(*upgrade, "h2c");
}

bool parseRequestTarget(std::string_view method, std::string_view target, std::string& authority,
                        std::string& path) {
  if (target.empty()) {
    return false;
  }
  if (target == "*") {
    path = "*";
    return method == "OPTIONS";
  }
  if (target.front() == '/') {
    path = std::string(target);
    return true;
  }
  std::string_view rest;
  if (startsWithIgnoreCase(target, "http://")) {
    rest = target.substr(7);
  } else if (startsWithIgnoreCase(target, "https://")) {
    rest = target.substr(8);
  } else {
    return false;
  }
  size_t end = rest.find_first_of("/?#");
  std::string_view host = rest.substr(0, end);
  if (host.empty() || !isValidAuthority(host)) {
    return false;
  }
  authority = std::string(host);
  std::string_view tail = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (tail.empty() || tail.front() != '/') {
    path = "/";
    path.append(tail);
  } else {
    path = std::string(tail);
  }
  return true;
}

bool isValidAuthority(std::string_view authority) {
  if (authority.empty()) {
    return false;
  }
  for (char c : authority) {
    if (!isAuthorityChar(c)) {
      return false;
    }
  }
  return true;
}

namespace {

bool checkFraming(RequestHead& head, RequestFacts& facts, RequestError& error) {
  TransferCoding coding = transferCoding(head.headers);
  if (coding == TransferCoding::Unsupported) {
    error = {501, "unsupported-transfer-coding", "only the chunked transfer coding is supported"};
    return false;
  }
  bool has_length = head.headers.has("content-length");
  if (coding == TransferCoding::Invalid || (coding != TransferCoding::None && has_length)) {
    error = {400, "ambiguous-framing", "ambiguous message framing"};
    return false;
  }
  uint64_t length = 0;
  if (has_length) {
    if (!contentLength(head.headers, length)) {
      error = {400, "ambiguous-framing", "invalid or conflicting Content-Length"};
      return false;
    }
    collapseContentLength(head.headers, length);
  }
  head.headers.remove("transfer-encoding");
  facts.has_body = coding == TransferCoding::Chunked || length > 0;
  return true;
}

bool checkExpect(RequestHead& head, RequestFacts& facts, RequestError& error) {
  const std::string* expect = head.headers.get("expect");
  if (expect == nullptr) {
    return true;
  }
  bool continue_100 =
      head.headers.count("expect") == 1 && iequals(trimWhitespace(*expect), "100-continue");
  if (!continue_100 && head.version == 11) {
    error = {417, "expectation-failed", "only the 100-continue expectation is supported"};
    return false;
  }
  head.headers.remove("expect"); // answered here; HTTP/1.0 expectations are ignored
  facts.send_continue = continue_100 && facts.has_body && head.version == 11;
  return true;
}

} // namespace

bool finishRequestHead(std::string_view target, RequestHead& head, RequestFacts& facts,
                       RequestError& error) {
  facts.version = head.version;
  facts.head_request = head.method == "HEAD";
  if (head.method == "CONNECT") {
    error = {405, "method-not-allowed", "CONNECT is not supported"};
    return false;
  }
  std::string target_authority;
  if (!parseRequestTarget(head.method, target, target_authority, head.path)) {
    error = {400, "bad-request", "invalid request-target"};
    return false;
  }
  size_t hosts = head.headers.count("host");
  const std::string* host = head.headers.get("host");
  if (hosts > 1 || (hosts == 0 && head.version == 11) ||
      (host != nullptr && !host->empty() && !isValidAuthority(*host))) {
    error = {400, "bad-request", "a request needs exactly one valid Host header"};
    return false;
  }
  head.authority = !target_authority.empty() ? target_authority : (host ? *host : std::string());
  head.headers.remove("host");
  if (!checkFraming(head, facts, error) || !checkExpect(head, facts, error)) {
    return false;
  }
  const std::string* connection = head.headers.get("connection");
  facts.keep_alive = head.version == 11 ? !(connection && hasToken(*connection, "close"))
                                        : (connection && hasToken(*connection, "keep-alive"));
  if (isUpgradeRequest(head.headers)) {
    // An upgrade request with a body cannot be tunnelled: served as a plain request, then closed.
    facts.upgrade = !facts.has_body;
    facts.keep_alive = false;
  }
  stripHopByHop(head.headers, facts.upgrade);
  if (!facts.upgrade) {
    head.headers.remove("upgrade"); // not nominated by Connection, still hop-by-hop
  }
  return true;
}

void writeHeaderLine(evbuffer* out, std::string_view name, std::string_view value) {
  std::string line;
  line.reserve(name.size() + value.size() + 4);
  line.append(name).append(": ").append(value).append("\r\n");
  evbuffer_add(out, line.data(), line.size());
}

void writeHeaderLines(evbuffer* out, const HeaderMap& headers) {
  // The whole block in one evbuffer_add, from a buffer each thread reuses (no allocation once
  // it has grown to the usual header size).
  thread_local std::string block;
  block.clear();
  for (const auto& h : headers.entries()) {
    if (!isToken(h.name) || hasLineBreakOrNul(h.value)) {
      continue;
    }
    block.append(h.name).append(": ").append(h.value).append("\r\n");
  }
  evbuffer_add(out, block.data(), block.size());
  if (block.capacity() > size_t{64} * 1024) {
    block = std::string(); // one huge header block does not stay pinned to the thread
  }
}

void BodyEncoder::start(BodyFraming framing, uint64_t length) {
  framing_ = framing;
  remaining_ = length;
  overflow_ = false;
}

void BodyEncoder::write(evbuffer* out, evbuffer* data) {
  size_t n = evbuffer_get_length(data);
  switch (framing_) {
  case BodyFraming::None:
    evbuffer_drain(data, n);
    return;
  case BodyFraming::Length:
    if (n > remaining_) {
      evbuffer_remove_buffer(data, out, static_cast<size_t>(remaining_));
      evbuffer_drain(data, evbuffer_get_length(data));
      remaining_ = 0;
      overflow_ = true;
      return;
    }
    evbuffer_add_buffer(out, data);
    remaining_ -= n;
    return;
  case BodyFraming::Chunked:
    if (n > 0) {
      evbuffer_add_printf(out, "%zx\r\n", n);
      evbuffer_add_buffer(out, data);
      evbuffer_add(out, "\r\n", 2);
    }
    return;
  case BodyFraming::CloseDelimited:
  case BodyFraming::Tunnel:
    evbuffer_add_buffer(out, data);
    return;
  }
}

void BodyEncoder::finish(evbuffer* out, const HeaderMap* trailers) {
  if (framing_ != BodyFraming::Chunked) {
    return;
  }
  evbuffer_add(out, "0\r\n", 3);
  if (trailers != nullptr) {
    writeHeaderLines(out, *trailers);
  }
  evbuffer_add(out, "\r\n", 2);
}

bool BodyEncoder::complete() const {
  switch (framing_) {
  case BodyFraming::None:
  case BodyFraming::Chunked:
    return true;
  case BodyFraming::Length:
    return remaining_ == 0 && !overflow_;
  case BodyFraming::CloseDelimited:
  case BodyFraming::Tunnel:
    return false;
  }
  return false;
}

BodyFraming chooseResponseFraming(const RequestFacts& facts, int status, HeaderMap& headers,
                                  bool end_stream, uint64_t& length) {
  if (status == 101) {
    return BodyFraming::Tunnel;
  }
  if (status == 204) {
    headers.remove("content-length");
  }
  if (facts.head_request || status == 204 || status == 304) {
    return BodyFraming::None; // a content-length given for HEAD/304 describes, it does not frame
  }
  if (headers.has("content-length")) {
    if (contentLength(headers, length)) {
      collapseContentLength(headers, length);
      return BodyFraming::Length;
    }
    headers.remove("content-length"); // invalid or conflicting: frame it ourselves
  }
  if (end_stream) {
    length = 0;
    headers.add("content-length", "0");
    return BodyFraming::Length;
  }
  if (facts.version == 11) {
    headers.add("transfer-encoding", "chunked");
    return BodyFraming::Chunked;
  }
  return BodyFraming::CloseDelimited;
}

void writeErrorResponse(evbuffer* out, int status, std::string_view token,
                        std::string_view message) {
  std::string body(message);
  for (auto& c : body) {
    if (c == '\r' || c == '\n') {
      c = ' ';
    }
  }
  body.push_back('\n');
  std::string_view reason = reasonPhrase(status);
  evbuffer_add_printf(out, "HTTP/1.1 %d %.*s\r\n", status, static_cast<int>(reason.size()),
                      reason.data());
  writeHeaderLine(out, "content-type", "text/plain");
  writeHeaderLine(out, "x-seawall-reason", token);
  writeHeaderLine(out, "connection", "close");
  writeHeaderLine(out, "content-length", std::to_string(body.size()));
  evbuffer_add(out, "\r\n", 2);
  evbuffer_add(out, body.data(), body.size());
}

} // namespace seawall::proxy::http1
