// HTTP/1.1 toward an upstream on llhttp (strict: no lenient flag). One exchange at a time; the
// connection is offered again (onCapacityChanged) once an exchange ended cleanly with keep-alive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <llhttp.h>

#include "proxy/codec/codec.h"
#include "proxy/codec/http1_common.h"
#include "proxy/common/event_ptr.h"

namespace seawall::proxy {

class Http1ClientCodec : public ClientCodec {
public:
  // A stream's queued output above this: writeBlocked().
  static constexpr size_t kHighWatermark = size_t{256} * 1024;
  // A response head (status line and headers) or trailer section above this: ProtocolError.
  static constexpr size_t kMaxResponseHeadBytes = size_t{64} * 1024;

  Http1ClientCodec(CodecConnection& connection, ClientCodecCallbacks& callbacks);
  Http1ClientCodec(const Http1ClientCodec&) = delete;
  Http1ClientCodec& operator=(const Http1ClientCodec&) = delete;
  Http1ClientCodec(Http1ClientCodec&&) = delete;
  Http1ClientCodec& operator=(Http1ClientCodec&&) = delete;
  ~Http1ClientCodec() override;

  void onConnected() override {}
  void onRead(evbuffer* input) override;
  void onWritable() override;
  void onConnectionClose(UpstreamFailure why) override;
  bool canTakeStream() const override;
  size_t activeStreams() const override { return active_ != nullptr ? 1 : 0; }
  ClientStream& newStream(ClientStreamCallbacks& callbacks) override;

  class ActiveStream;  // the ClientStream of the exchange in progress
  struct ParserAccess; // llhttp trampolines

private:
  friend class ActiveStream;
  friend struct ParserAccess;
  template <typename> friend struct http1::ParserTrampolines;

  void parse();
  bool parseStep();
  bool deliverTunnelData();
  void deliverEvents();
  void finishResponse();
  void protocolError(const char* what);
  void scheduleParse();

  // From ActiveStream.
  void onRequestComplete(bool framed);
  void onStreamReset(ActiveStream& stream);
  void onStreamReadDisable(bool disable);
  void detach(ActiveStream& stream);

  // llhttp events (inside llhttp_execute: record only, never call out).
  int onMessageBegin();
  int onHeaderPiece(const char* at, size_t length, bool field);
  int onHeaderValueComplete();
  int onHeadersCompleteCb();
  int onMessageCompleteCb();
  bool overLimit(uint64_t end_offset);

  CodecConnection& connection_;
  ClientCodecCallbacks& callbacks_;
  llhttp_t parser_{};
  http1::ParseCursor cursor_;
  EvBufferPtr pending_; // bytes read and not yet parsed
  EvBufferPtr body_;    // body bytes parsed and not yet delivered
  http1::HeaderCollector collector_;

  // The response being parsed.
  uint64_t head_start_ = 0;
  bool head_started_ = false;
  bool informational_ = false; // a 1xx other than 101: dropped
  bool head_ready_ = false;
  ResponseHead head_;
  HeaderMap trailers_;
  bool in_trailers_ = false;
  bool message_complete_ = false;
  bool keep_alive_ = false;
  const char* error_ = nullptr; // recorded inside callbacks

  // The request.
  bool request_done_ = false;
  bool request_framed_ = true; // every promised body byte was sent

  std::unique_ptr<ActiveStream> active_;
  bool reusable_ = true;
  bool closed_ = false;
  bool tunnel_ = false;
  bool in_parse_ = false;
  bool parse_posted_ = false;
  bool finishing_ = false; // the connection is closing: parse what was read regardless
  int app_read_disabled_ = 0;
  std::shared_ptr<char> alive_;
};

} // namespace seawall::proxy
