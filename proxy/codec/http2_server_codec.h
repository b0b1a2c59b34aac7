// Downstream HTTP/2 (h2c with prior knowledge) on an nghttp2 server session. The codec receives
// the whole byte stream, client preface included, and enforces the listener's limits before a
// stream reaches the application: header lists over max_header_bytes get 431 on their stream,
// streams over max_concurrent_streams are refused by nghttp2, malformed requests are reset by
// nghttp2 (all reported through ServerCodecCallbacks::onCodecError).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "proxy/codec/codec.h"
#include "proxy/codec/http2_common.h"
#include "proxy/common/timer.h"

namespace seawall::proxy {

class Http2ServerCodec : public ServerCodec, private Http2CodecBase {
public:
  // Queues and sends our SETTINGS at once.
  Http2ServerCodec(CodecConnection& connection, ServerCodecCallbacks& callbacks,
                   const ServerCodecLimits& limits, std::string peer_address);
  Http2ServerCodec(const Http2ServerCodec&) = delete;
  Http2ServerCodec& operator=(const Http2ServerCodec&) = delete;
  Http2ServerCodec(Http2ServerCodec&&) = delete;
  Http2ServerCodec& operator=(Http2ServerCodec&&) = delete;
  ~Http2ServerCodec() override;

  void onRead(evbuffer* input) override;
  void onWritable() override;
  void onConnectionClose() override;
  // GOAWAY shutdown notice and a PING; the final GOAWAY (last processed stream) follows the PING
  // ACK (one round trip) or a 1 s timer; nghttp2 then wants nothing more once the last stream
  // ends, and the connection closes.
  void drain() override;
  size_t activeStreams() const override { return attached_; }

private:
  class Stream;

  int onBeginHeaders(const nghttp2_frame& frame) override;
  int onHeader(const nghttp2_frame& frame, std::string_view name, std::string_view value) override;
  int onFrameRecv(const nghttp2_frame& frame) override;
  int onDataChunk(int32_t stream_id, const uint8_t* data, size_t len) override;
  int onStreamClose(int32_t stream_id, uint32_t error_code) override;
  int onFrameSend(const nghttp2_frame& frame) override;
  int onFrameNotSend(const nghttp2_frame& frame, int lib_error) override;
  int onInvalidFrame(const nghttp2_frame& frame, int lib_error) override;
  Http2Stream* findStream(int32_t stream_id) override;
  void notifyWritable(Http2Stream& stream) override;
  void onSessionError(int error) override;

  Stream* find(int32_t stream_id);
  static void setRequestField(Stream& stream, std::string_view name, std::string_view value);
  void onRequestHeadersDone(Stream& stream, bool end_stream);
  void onRequestEnd(Stream& stream, bool trailers);
  void localReply(Stream& stream, int status, std::string_view reason, std::string_view body);
  void detach(Stream& stream);
  void submitFinalGoaway();
  void reportConnectionError();

  ServerCodecCallbacks& callbacks_;
  const ServerCodecLimits limits_;
  const std::string peer_address_;
  std::unordered_map<int32_t, std::unique_ptr<Stream>> streams_;
  size_t attached_ = 0;
  bool draining_ = false;
  bool final_goaway_sent_ = false;
  bool connection_error_reported_ = false;
  std::unique_ptr<Timer> drain_timer_;
};

} // namespace seawall::proxy
