// Shared pieces of the HTTP/1.1 codecs: header collection from llhttp's piecewise callbacks (with
// the strictness checks llhttp 8.1 leaves to us), framing decisions and serialisation of heads,
// chunked bodies and local error replies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <event2/buffer.h>
#include <llhttp.h>

#include "proxy/http/headers.h"

namespace seawall::proxy::http1 {

// At most this many bytes are handed to llhttp per call.
inline constexpr size_t kMaxParseSlice = size_t{64} * 1024;

// Absolute stream offsets of the bytes llhttp's callbacks point into: `base` is the offset of
// `slice`, the buffer of the current llhttp_execute call.
struct ParseCursor {
  uint64_t base = 0;
  const char* slice = nullptr;
  uint64_t offset(const char* at) const { return base + static_cast<uint64_t>(at - slice); }
};

// Collects one header section (head or trailers) from llhttp's field/value pieces. Rejects what
// llhttp 8.1 lets through: names that are not tokens (e.g. "Host :") and obs-fold (a value whose
// pieces are not contiguous in the stream).
class HeaderCollector {
public:
  void reset();
  bool started() const { return started_; }
  uint64_t startOffset() const { return start_; }
  // Pieces as llhttp delivers them, with the absolute offset of their first byte. False on a
  // violation (see error()).
  bool field(uint64_t offset, std::string_view piece);
  bool value(uint64_t offset, std::string_view piece);
  bool valueComplete();
  HeaderMap take();
  const char* error() const { return error_; }

private:
  HeaderMap headers_;
  std::string name_;
  std::string value_;
  uint64_t start_ = 0;
  uint64_t value_end_ = 0;
  bool started_ = false;
  bool in_value_ = false;
  const char* error_ = "";
};

bool isTokenChar(char c);
bool isToken(std::string_view s);
std::string_view trimWhitespace(std::string_view s);
// A Content-Length value: 1*DIGIT, no sign, no list. False when invalid or overflowing.
bool parseContentLength(std::string_view value, uint64_t& length);
// The single Content-Length of `headers`: false when absent or invalid, or several that differ.
bool contentLength(const HeaderMap& headers, uint64_t& length);
// Leaves one content-length header, where the first one was, with the canonical `length`.
void collapseContentLength(HeaderMap& headers, uint64_t length);

enum class TransferCoding {
  None,        // no Transfer-Encoding
  Chunked,     // exactly one "chunked", nothing else
  Unsupported, // a coding other than chunked
  Invalid,     // empty list, chunked repeated or not last
};
TransferCoding transferCoding(const HeaderMap& headers);

// Removes connection management: connection, keep-alive, proxy-connection, transfer-encoding,
// and the headers the Connection header nominates. With keep_upgrade, "connection" and "upgrade"
// stay (an upgrade request or a 101).
void stripHopByHop(HeaderMap& headers, bool keep_upgrade);
// Connection says "upgrade", an Upgrade header is present and it does not ask for h2c.
bool isUpgradeRequest(const HeaderMap& headers);

// Request-target (RFC 9112 3.2): origin-form, absolute-form (http/https: authority and path are
// split out), "*" for OPTIONS. CONNECT's authority-form is not accepted here.
bool parseRequestTarget(std::string_view method, std::string_view target, std::string& authority,
                        std::string& path);
// A Host value: reg-name or IP literal with an optional port, nothing else.
bool isValidAuthority(std::string_view authority);

// What a request head says about its exchange.
struct RequestFacts {
  int version = 11;
  bool has_body = false;
  bool keep_alive = true;
  bool upgrade = false; // tunnel if the app answers 101
  bool head_request = false;
  bool send_continue = false; // Expect: 100-continue on an HTTP/1.1 request with a body
};
// Why a request is refused: status, x-seawall-reason token, one-line message.
struct RequestError {
  int status = 400;
  std::string_view token = "bad-request";
  std::string_view message;
};
// Completes a parsed request head (method, version and raw headers filled in) per RFC 9112:
// request-target, exactly one valid Host, framing (transfer-encoding removed, content-length
// collapsed), Expect, keep-alive, upgrade and hop-by-hop headers. False, with `error` filled in,
// when the request must be refused.
bool finishRequestHead(std::string_view target, RequestHead& head, RequestFacts& facts,
                       RequestError& error);

// ---- Serialisation -----------------------------------------------------------------------------

// "name: value\r\n" for each header. Headers whose name is not a token or whose value holds CR,
// LF or NUL are skipped (no header injection through the codec).
void writeHeaderLines(evbuffer* out, const HeaderMap& headers);
void writeHeaderLine(evbuffer* out, std::string_view name, std::string_view value);

enum class BodyFraming {
  None,           // no body may follow (HEAD, 1xx, 204, 304, request with end_stream)
  Length,         // content-length
  Chunked,        // transfer-encoding: chunked
  CloseDelimited, // the end of the body is the end of the connection
  Tunnel,         // raw bytes after an upgrade
};

// Writes one message body in its framing.
class BodyEncoder {
public:
  void start(BodyFraming framing, uint64_t length);
  BodyFraming framing() const { return framing_; }
  // Writes `data` (drained). Bytes beyond the content-length, or any byte for None, are dropped
  // (complete() then turns false).
  void write(evbuffer* out, evbuffer* data);
  // Ends the body: the last chunk and `trailers` when chunked; trailers are dropped otherwise.
  void finish(evbuffer* out, const HeaderMap* trailers);
  // The peer can tell where the body ended without a close: every promised byte and no more.
  bool complete() const;

private:
  BodyFraming framing_ = BodyFraming::None;
  uint64_t remaining_ = 0;
  bool overflow_ = false;
};

// Framing of a response to a request described by `facts`, adding content-length: 0 or
// transfer-encoding: chunked to `headers` as needed; `length` is set for BodyFraming::Length.
BodyFraming chooseResponseFraming(const RequestFacts& facts, int status, HeaderMap& headers,
                                  bool end_stream, uint64_t& length);

// A local error reply: status line, content-type text/plain, x-seawall-reason: <token>,
// connection: close, content-length, and `message` as a one-line body.
void writeErrorResponse(evbuffer* out, int status, std::string_view token,
                        std::string_view message);

// llhttp C callbacks shared by both codecs: each trampoline finds the codec in parser->data and
// calls the member of the same purpose. A codec derives its ParserAccess from this, adds the
// request- or status-line callbacks, and befriends this template.
template <typename Codec> struct ParserTrampolines {
  static Codec& self(llhttp_t* p) { return *static_cast<Codec*>(p->data); }
  static int onMessageBegin(llhttp_t* p) noexcept { return self(p).onMessageBegin(); }
  static int onHeaderField(llhttp_t* p, const char* at, size_t n) noexcept {
    return self(p).onHeaderPiece(at, n, true);
  }
  static int onHeaderValue(llhttp_t* p, const char* at, size_t n) noexcept {
    return self(p).onHeaderPiece(at, n, false);
  }
  static int onHeaderValueComplete(llhttp_t* p) noexcept { return self(p).onHeaderValueComplete(); }
  static int onHeadersComplete(llhttp_t* p) noexcept { return self(p).onHeadersCompleteCb(); }
  static int onBody(llhttp_t* p, const char* at, size_t n) noexcept {
    evbuffer_add(self(p).body_.get(), at, n);
    return 0;
  }
  static int onMessageComplete(llhttp_t* p) noexcept { return self(p).onMessageCompleteCb(); }

  // Settings with the shared callbacks filled in.
  static llhttp_settings_t commonSettings() {
    llhttp_settings_t x;
    llhttp_settings_init(&x);
    x.on_message_begin = &onMessageBegin;
    x.on_header_field = &onHeaderField;
    x.on_header_value = &onHeaderValue;
    x.on_header_value_complete = &onHeaderValueComplete;
    x.on_headers_complete = &onHeadersComplete;
    x.on_body = &onBody;
    x.on_message_complete = &onMessageComplete;
    return x;
  }
};

} // namespace seawall::proxy::http1
