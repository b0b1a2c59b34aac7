// The codec contract: a codec turns bytes of one connection into stream events and back.
//
// A codec owns no socket. The connection that owns it hands it the bytes it read (onRead) and
// tells it when its output drained (onWritable); the codec writes into output() and asks the
// connection to close. Application objects (the proxy's Stream) see only ServerStream /
// ClientStream and implement the matching *Callbacks.
//
// Terminal rules, the same on both sides:
// - A stream is *detached* once its response has ended (the application sent end of response on
//   a ServerStream; the codec delivered end of response on a ClientStream) or it was reset
//   (onDownstreamReset / onUpstreamReset, or the application called reset()). After that the
//   codec never calls the callbacks again and the application never touches the stream object.
// - When a response ends before its request did, the codec cleans up: HTTP/1.1 closes the
//   connection, HTTP/2 sends RST_STREAM(NO_ERROR).
// - Data arrives as an evbuffer; the receiver moves out what it wants (evbuffer_add_buffer) and
//   must leave it empty. Send functions drain the evbuffer they are given.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/common/dispatcher.h"
#include "proxy/http/headers.h"

namespace seawall::proxy {

// Why an upstream attempt ended without a complete response.
enum class UpstreamFailure {
  ConnectFailure,  // TCP connect refused/unreachable, or connect_timeout
  Reset,           // connection closed or stream reset after the request was (partly) sent
  RefusedStream,   // HTTP/2 REFUSED_STREAM or GOAWAY before processing: safe to retry
  ProtocolError,   // malformed response
  Overflow,        // max_pending: the request could not wait for a stream
  ConnectionLimit, // max_connections reached and this pool has no connection to wait for
};
const char* toString(UpstreamFailure f);

// Limits a server codec enforces before any stream is created.
struct ServerCodecLimits {
  size_t max_header_bytes =
      size_t{64} * 1024;                      // request line/pseudo-headers + headers; over it: 431
  uint32_t max_concurrent_streams = 256;      // HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS
  uint32_t stream_window = 64 * 1024;         // HTTP/2 initial stream window we advertise
  size_t high_watermark = size_t{256} * 1024; // a stream's queued output above this: writeBlocked()
};

// What a codec needs from the connection that owns it.
class CodecConnection {
public:
  virtual ~CodecConnection() = default;
  virtual evbuffer* output() = 0;     // appended bytes are written to the socket
  virtual void closeAfterFlush() = 0; // stop reading; close once output() has been written
  virtual void closeNow() = 0;        // close at once (destruction is deferred)
  virtual void readDisable(bool) = 0; // stop/resume reading the socket (counted, may nest)
  virtual Dispatcher& dispatcher() = 0;
  virtual uint64_t id() const = 0; // connection id for logs ([C12])
};

// ---- Downstream side --------------------------------------------------------------------------

class ServerStreamCallbacks {
public:
  virtual ~ServerStreamCallbacks() = default;
  virtual void onRequestHeaders(RequestHead&& head, bool end_stream) = 0;
  virtual void onRequestData(evbuffer* data, bool end_stream) = 0;
  virtual void onRequestTrailers(HeaderMap&& trailers) = 0; // ends the request
  // The client went away or reset the stream. Terminal: the stream is detached.
  virtual void onDownstreamReset() = 0;
  // writeBlocked() was true and the stream's output drained below the low watermark.
  virtual void onDownstreamWritable() = 0;
};

class ServerStream {
public:
  virtual ~ServerStream() = default;
  // 1xx other than 101 are not for this call; the codec answers Expect: 100-continue itself.
  virtual void sendHeaders(ResponseHead&& head, bool end_stream) = 0;
  virtual void sendData(evbuffer* data, bool end_stream) = 0;
  virtual void sendTrailers(HeaderMap&& trailers) = 0; // ends the response
  // Abort. HTTP/2: RST_STREAM(INTERNAL_ERROR); HTTP/1.1: close the connection. Terminal.
  virtual void reset() = 0;
  // True when this stream's queued output is above the high watermark: stop feeding it until
  // onDownstreamWritable().
  virtual bool writeBlocked() const = 0;
  // Back-pressure toward the client: while disabled, no more request data is accepted (HTTP/1.1
  // stops reading the socket; HTTP/2 stops returning flow-control window). Calls may nest.
  virtual void readDisable(bool disable) = 0;
  virtual uint64_t connectionId() const = 0;
  virtual uint32_t streamId() const = 0;
  virtual const std::string& peerAddress() const = 0; // client IP, for x-forwarded-for
};

class ServerCodecCallbacks {
public:
  virtual ~ServerCodecCallbacks() = default;
  // A new request starts; returns the object that receives its events (must outlive the stream's
  // attachment).
  virtual ServerStreamCallbacks& newStream(ServerStream& stream) = 0;
  // The codec refused bad input itself (it already answered `status`, e.g. 400 or 431, or sent
  // GOAWAY/RST_STREAM): for metrics and logs. `reason` is a short kebab-case token such as
  // "header-too-large", "ambiguous-framing", "bad-request", "too-many-streams".
  virtual void onCodecError(int status, std::string_view reason) = 0;
};

class ServerCodec {
public:
  virtual ~ServerCodec() = default;
  // Parses what it can of `input` (draining it). May call closeNow/closeAfterFlush on errors.
  virtual void onRead(evbuffer* input) = 0;
  // The connection's output drained below its low watermark.
  virtual void onWritable() = 0;
  // The connection is closing (peer closed, error, idle timeout): every attached stream gets
  // onDownstreamReset.
  virtual void onConnectionClose() = 0;
  // Graceful drain: HTTP/2 GOAWAY; HTTP/1.1 "connection: close" on the next response, or close
  // now when idle.
  virtual void drain() = 0;
  // Number of attached streams.
  virtual size_t activeStreams() const = 0;
};

// ---- Upstream side ----------------------------------------------------------------------------

class ClientStreamCallbacks {
public:
  virtual ~ClientStreamCallbacks() = default;
  // 1xx responses (except 101) are dropped by the codec.
  virtual void onResponseHeaders(ResponseHead&& head, bool end_stream) = 0;
  virtual void onResponseData(evbuffer* data, bool end_stream) = 0;
  virtual void onResponseTrailers(HeaderMap&& trailers) = 0; // ends the response
  virtual void onUpstreamReset(UpstreamFailure why) = 0;     // terminal
  virtual void onUpstreamWritable() = 0;
};

class ClientStream {
public:
  virtual ~ClientStream() = default;
  virtual void sendHeaders(const RequestHead& head, bool end_stream) = 0;
  virtual void sendData(evbuffer* data, bool end_stream) = 0;
  virtual void sendTrailers(HeaderMap&& trailers) = 0; // ends the request
  virtual void reset() = 0;                            // terminal; no callback follows
  virtual bool writeBlocked() const = 0;
  virtual void readDisable(bool disable) = 0;
};

class ClientCodecCallbacks {
public:
  virtual ~ClientCodecCallbacks() = default;
  // A stream finished, or the codec's capacity changed (HTTP/2 SETTINGS, GOAWAY, HTTP/1.1 became
  // idle): the pool re-checks canTakeStream() and its queue of waiting requests.
  virtual void onCapacityChanged() = 0;
};

// One upstream connection's protocol. HTTP/1.1 carries one stream at a time and reports
// canTakeStream() once the previous exchange ended cleanly with keep-alive; HTTP/2 multiplexes up
// to the peer's SETTINGS_MAX_CONCURRENT_STREAMS.
class ClientCodec {
public:
  virtual ~ClientCodec() = default;
  virtual void onConnected() = 0; // TCP is up: HTTP/2 sends its preface and SETTINGS
  virtual void onRead(evbuffer* input) = 0;
  virtual void onWritable() = 0;
  // The connection is gone: every stream gets onUpstreamReset(why) (Reset once any byte of the
  // stream was sent, `why` otherwise).
  virtual void onConnectionClose(UpstreamFailure why) = 0;
  virtual bool canTakeStream() const = 0;
  virtual size_t activeStreams() const = 0;
  // Precondition: canTakeStream(). The returned stream lives until detached (see above).
  virtual ClientStream& newStream(ClientStreamCallbacks& callbacks) = 0;
};

} // namespace seawall::proxy
