// What the HTTP/2 server and client codecs share: the nghttp2 callbacks (built once per process),
// session options, header conversion, and Http2CodecBase, which owns the nghttp2 session, feeds it
// bytes (mem_recv), appends what it wants to send to the connection's output (mem_send), keeps
// each stream's outbound body queue behind a data provider and returns flow-control window as the
// application takes inbound data.
//
// nghttp2 never touches the socket. Its callbacks run only inside receive() and flush(); an
// application call made from inside them (a reply from onRequestHeaders, say) submits frames and
// the outer receive()/flush() sends them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nghttp2/nghttp2.h>

#include "proxy/codec/codec.h"
#include "proxy/common/dispatcher.h"
#include "proxy/common/event_ptr.h"
#include "proxy/http/headers.h"

namespace seawall::proxy {

// flush() stops appending while the connection's output holds more than this (continued from
// onWritable()).
constexpr size_t kHttp2OutputHighWatermark = size_t{64} * 1024;
// A stream whose queued outbound body exceeds this is writeBlocked() (client side; the server uses
// ServerCodecLimits::high_watermark, 256 KiB by default).
constexpr size_t kHttp2StreamQueueHighWatermark = size_t{256} * 1024;
// Connection-level receive window, so that one slow stream does not starve the others.
constexpr int32_t kHttp2ConnectionWindow = 1024 * 1024;
// Stream receive window the client codec advertises.
constexpr uint32_t kHttp2ClientStreamWindow = 64 * 1024;
// Largest header block we send (nghttp2's default is 64 KiB).
constexpr size_t kHttp2MaxSendHeaderBlock = size_t{256} * 1024;
// Upstream response header lists larger than this reset the stream (ProtocolError).
constexpr size_t kHttp2MaxResponseHeaderBytes = size_t{256} * 1024;

// Name/value pairs for nghttp2 submit calls; owns copies of what it points to.
class NvList {
public:
  void add(std::string_view name, std::string_view value);
  const nghttp2_nv* data() const { return nv_.data(); }
  size_t size() const { return nv_.size(); }

private:
  std::deque<std::string> storage_; // deque: growing never moves earlier strings
  std::vector<nghttp2_nv> nv_;
};

// True for headers that must not cross into HTTP/2 (connection-specific): connection, keep-alive,
// proxy-connection, transfer-encoding, upgrade, te other than "trailers", and any header the
// Connection header names.
bool isConnectionSpecificHeader(const Header& header, const HeaderMap& all);
// :method, :scheme, :authority (Host when authority is empty), :path, then the regular headers
// minus connection-specific ones and Host. CONNECT carries neither :scheme nor :path.
NvList requestToNv(const RequestHead& head);
// :status, then the regular headers minus connection-specific ones.
NvList responseToNv(const ResponseHead& head);
NvList trailersToNv(const HeaderMap& trailers);

// Per-stream state both codecs need. Owned by the codec until nghttp2 closes the stream, then
// handed to the dispatcher's deferred delete (an application call may still be on the stack).
class Http2Stream : public Deletable {
public:
  explicit Http2Stream(size_t high) : outbound(makeEvBuffer()), high_watermark(high) {}

  // A data provider reading `outbound` (see Http2CodecBase::readBody).
  nghttp2_data_provider provider() {
    nghttp2_data_provider p{};
    p.source.ptr = this;
    p.read_callback = &Http2Stream::readCallback;
    return p;
  }
  bool writeBlockedNow() const { return evbuffer_get_length(outbound.get()) > high_watermark; }

  int32_t id = -1;
  // Outbound: the body waiting for flow-control window, and trailers to follow it.
  EvBufferPtr outbound;
  std::optional<HeaderMap> pending_trailers;
  size_t high_watermark;
  bool local_end = false;     // the application finished its side (body queued up to the end)
  bool write_blocked = false; // reported blocked; owed an on*Writable() once below half
  // Inbound back-pressure: nested readDisable count, and bytes delivered but not yet consumed.
  uint32_t read_disabled = 0;
  size_t unconsumed = 0;
  // Inbound header block being received (request/response head or trailers).
  HeaderMap headers;
  size_t header_bytes = 0;
  bool remote_ended = false;
  bool attached = false; // the application may be called

private:
  static ssize_t readCallback(nghttp2_session* session, int32_t stream_id, uint8_t* buf,
                              size_t length, uint32_t* data_flags, nghttp2_data_source* source,
                              void* user_data) noexcept;
};

// The session half both codecs share. Derived codecs implement the frame handlers; every handler
// runs inside nghttp2 (return 0, or an nghttp2 error code to reset the stream / abort).
class Http2CodecBase {
public:
  Http2CodecBase(const Http2CodecBase&) = delete;
  Http2CodecBase& operator=(const Http2CodecBase&) = delete;
  Http2CodecBase(Http2CodecBase&&) = delete;
  Http2CodecBase& operator=(Http2CodecBase&&) = delete;

  // nghttp2 entry points (called by the trampolines in http2_common.cc).
  virtual int onBeginHeaders(const nghttp2_frame& frame) = 0;
  virtual int onHeader(const nghttp2_frame& frame, std::string_view name,
                       std::string_view value) = 0;
  virtual int onFrameRecv(const nghttp2_frame& frame) = 0;
  virtual int onDataChunk(int32_t stream_id, const uint8_t* data, size_t len) = 0;
  virtual int onStreamClose(int32_t stream_id, uint32_t error_code) = 0;
  virtual int onFrameSend(const nghttp2_frame& /*frame*/) { return 0; }
  virtual int onFrameNotSend(const nghttp2_frame& /*frame*/, int /*lib_error*/) { return 0; }
  virtual int onInvalidFrame(const nghttp2_frame& /*frame*/, int /*lib_error*/) { return 0; }
  ssize_t readBody(Http2Stream& stream, uint8_t* buf, size_t length, uint32_t* data_flags);
  bool closed() const { return closed_; }

protected:
  explicit Http2CodecBase(CodecConnection& connection);
  virtual ~Http2CodecBase() = default;

  // Creates the session with our options. Does not send anything.
  void createSession(bool server);
  // Queues SETTINGS and the connection window update.
  void submitSettings(const std::vector<nghttp2_settings_entry>& settings);
  // Feeds `input` (drained) to nghttp2, then flush().
  void receive(evbuffer* input);
  // Sends what nghttp2 has queued into connection.output() (up to the high watermark), notifies
  // streams that became writable, and closes the connection when nghttp2 wants neither to read
  // nor to write.
  void flush();
  // Shared stream operations.
  void queueData(Http2Stream& stream, evbuffer* data, bool end_stream);
  void queueTrailers(Http2Stream& stream, HeaderMap&& trailers);
  void streamReadDisable(Http2Stream& stream, bool disable);
  // Inbound DATA was delivered (or dropped): return window now unless the stream holds it.
  void dataTaken(Http2Stream* stream, int32_t stream_id, size_t len);
  // The application will read no more of this stream: give back what it held.
  void releaseWindow(Http2Stream& stream);
  // Connection-level window held by a stream nghttp2 is closing.
  void releaseConnectionWindow(Http2Stream& stream);
  // Evbuffer handed to on*Data; emptied after each delivery.
  evbuffer* scratch() { return scratch_.get(); }

  // Hooks.
  virtual Http2Stream* findStream(int32_t stream_id) = 0;
  virtual void notifyWritable(Http2Stream& stream) = 0;
  // nghttp2_session_mem_recv failed: the session is unusable (bad preface, flood).
  virtual void onSessionError(int error) = 0;
  // Called at the end of receive()/flush(), outside nghttp2 (client: onCapacityChanged).
  virtual void afterSession() {}

  CodecConnection& connection_;
  Nghttp2SessionPtr session_;
  bool closed_ = false; // the connection is gone: never touch it again

private:
  void sendPending();
  void maybeClose();

  EvBufferPtr scratch_;
  std::vector<int32_t> writable_; // streams owed an on*Writable()
  bool in_session_ = false;       // inside nghttp2_session_mem_recv/mem_send
  bool flushing_ = false;
  bool flush_again_ = false;
  bool close_requested_ = false;
};

} // namespace seawall::proxy
