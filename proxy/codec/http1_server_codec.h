// HTTP/1.1 toward the client (downstream) on llhttp, strict: no lenient flag is ever enabled, and
// what llhttp 8.1 still accepts (obs-fold, whitespace before a colon, a sloppy request line) is
// refused here. Requests are answered strictly in order: the next pipelined request is parsed
// only once the current response has been fully written into the connection's output.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <llhttp.h>

#include "proxy/codec/codec.h"
#include "proxy/codec/http1_common.h"
#include "proxy/common/event_ptr.h"

namespace seawall::proxy {

class Http1ServerCodec : public ServerCodec {
public:
  // Unparsed pipelined input above this stops reading the socket.
  static constexpr size_t kMaxBufferedInput = size_t{64} * 1024;

  Http1ServerCodec(CodecConnection& connection, ServerCodecCallbacks& callbacks,
                   const ServerCodecLimits& limits, std::string peer_address);
  Http1ServerCodec(const Http1ServerCodec&) = delete;
  Http1ServerCodec& operator=(const Http1ServerCodec&) = delete;
  Http1ServerCodec(Http1ServerCodec&&) = delete;
  Http1ServerCodec& operator=(Http1ServerCodec&&) = delete;
  ~Http1ServerCodec() override;

  void onRead(evbuffer* input) override;
  void onWritable() override;
  void onConnectionClose() override;
  void drain() override;
  size_t activeStreams() const override { return active_ != nullptr ? 1 : 0; }

  class ActiveStream;  // the ServerStream of the exchange in progress
  struct ParserAccess; // llhttp trampolines

private:
  friend class ActiveStream;
  friend struct ParserAccess;
  template <typename> friend struct http1::ParserTrampolines;

  enum class ParseState {
    Head,         // between requests or inside a request head
    Body,         // head delivered; body, trailers or message end still to come
    WaitResponse, // request complete; parsing resumes when the response has ended
    UpgradeHeld,  // upgrade request delivered; nothing is parsed until the app answers
    Tunnel,       // after a 101: raw bytes both ways
    Done,         // failed or closing: input is ignored
  };
  enum class Pause { None, HeadersComplete, MessageComplete };
  using RequestFacts = http1::RequestFacts;

  // Parse loop (never re-entered).
  void parse();
  bool parseStep();
  bool deliverTunnelData();
  void onHeadersComplete();
  void onMessageComplete();
  bool buildRequestHead(RequestHead& head, RequestFacts& facts);
  void flushBody(bool end_stream);
  void failFromParser(llhttp_errno_t err);
  void fail(int status, std::string_view token, std::string_view message);
  void updateInputBackpressure();
  void scheduleParse();
  void startTunnel();

  // From ActiveStream.
  void onResponseComplete(ActiveStream& stream, bool close);
  void onStreamReset(ActiveStream& stream);
  void onStreamReadDisable(bool disable);
  void detach(ActiveStream& stream);

  // llhttp events (inside llhttp_execute: record only, never call out).
  int onMessageBegin();
  int onLinePiece(const char* at, size_t length, size_t part); // 0 method, 1 target, 2 version
  int onHeaderPiece(const char* at, size_t length, bool field);
  int onHeaderValueComplete();
  int onHeadersCompleteCb();
  int onMessageCompleteCb();
  bool overLimit(uint64_t end_offset);
  bool recordError(int status, std::string_view token, std::string message);

  CodecConnection& connection_;
  ServerCodecCallbacks& callbacks_;
  ServerCodecLimits limits_;
  std::string peer_address_;
  llhttp_t parser_{};
  http1::ParseCursor cursor_;
  EvBufferPtr pending_; // bytes read and not yet parsed
  EvBufferPtr body_;    // body bytes parsed and not yet delivered
  ParseState state_ = ParseState::Head;
  Pause pause_ = Pause::None;
  bool resume_pending_ = false; // llhttp was paused: execute again even without new bytes

  // The request being parsed.
  std::string method_;
  std::string target_;
  uint64_t line_offsets_[5] = {}; // method start/end, target start/end, version start
  bool line_seen_[3] = {};        // method, target, version pieces seen
  bool in_message_ = false;
  bool request_end_delivered_ = false;
  uint64_t head_start_ = 0;
  http1::HeaderCollector collector_;
  HeaderMap trailers_;
  bool in_trailers_ = false;
  bool has_error_ = false;
  int error_status_ = 0;
  std::string error_token_;
  std::string error_message_;

  // The exchange in progress.
  std::unique_ptr<ActiveStream> active_;
  uint32_t next_stream_id_ = 0;
  bool closed_ = false;
  bool draining_ = false;
  bool in_parse_ = false;
  bool parse_posted_ = false;
  bool input_blocked_ = false; // we called connection_.readDisable(true) for pending_
  int app_read_disabled_ = 0;
  std::shared_ptr<char> alive_; // posted work checks it through a weak_ptr
};

} // namespace seawall::proxy
