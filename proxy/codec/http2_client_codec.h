// Upstream HTTP/2 (h2c, prior knowledge) on an nghttp2 client session: many streams on one
// connection, up to the peer's SETTINGS_MAX_CONCURRENT_STREAMS (100 until its SETTINGS arrive).
// After a GOAWAY the codec takes no new stream, streams above its last_stream_id end with
// onUpstreamReset(RefusedStream) (safe to retry), and the connection closes with the last stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

#include "proxy/codec/codec.h"
#include "proxy/codec/http2_common.h"

namespace seawall::proxy {

class Http2ClientCodec : public ClientCodec, private Http2CodecBase {
public:
  Http2ClientCodec(CodecConnection& connection, ClientCodecCallbacks& callbacks);
  Http2ClientCodec(const Http2ClientCodec&) = delete;
  Http2ClientCodec& operator=(const Http2ClientCodec&) = delete;
  Http2ClientCodec(Http2ClientCodec&&) = delete;
  Http2ClientCodec& operator=(Http2ClientCodec&&) = delete;
  ~Http2ClientCodec() override;

  // Sends the preface, SETTINGS (ENABLE_PUSH 0, INITIAL_WINDOW_SIZE 64 KiB,
  // MAX_CONCURRENT_STREAMS 100) and the connection window update.
  void onConnected() override;
  void onRead(evbuffer* input) override;
  void onWritable() override;
  void onConnectionClose(UpstreamFailure why) override;
  bool canTakeStream() const override;
  size_t activeStreams() const override { return attached_; }
  ClientStream& newStream(ClientStreamCallbacks& callbacks) override;

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
  void afterSession() override;

  Stream* find(int32_t stream_id);
  void submit(Stream& stream, const RequestHead& head, bool end_stream);
  void onResponseHeadersDone(Stream& stream, bool end_stream);
  void onResponseEnd(Stream& stream, bool trailers);
  // Ends the stream for the application: detach, then (if it was attached) onUpstreamReset(why).
  void resetStream(Stream& stream, UpstreamFailure why);
  void detach(Stream& stream);
  // The response ended: detach, and cancel what is left of the request.
  void finishResponse(Stream& stream);
  void forgetUnsubmitted(Stream& stream);
  void post(std::function<void()> fn);

  ClientCodecCallbacks& callbacks_;
  // Streams nghttp2 knows, by id; streams not yet submitted (no id yet) by serial number.
  std::unordered_map<int32_t, std::unique_ptr<Stream>> streams_;
  std::unordered_map<uint64_t, std::unique_ptr<Stream>> unsubmitted_;
  uint64_t next_serial_ = 1;
  size_t attached_ = 0;
  bool connected_ = false;
  bool goaway_received_ = false;
  int32_t goaway_last_stream_id_ = 0;
  bool capacity_changed_ = false; // onCapacityChanged() owed
  bool capacity_posted_ = false;
  // Posted work (capacity changes, failed submits) runs from the loop, never inside the caller's
  // own call; it checks that the codec still exists.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace seawall::proxy
