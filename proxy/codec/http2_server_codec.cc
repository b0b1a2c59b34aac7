#include "proxy/codec/http2_server_codec.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <vector>

#include "proxy/http/local_reply.h"

namespace seawall::proxy {
namespace {
// Without a PING ACK (one round trip) the final GOAWAY follows the shutdown notice after this.
constexpr std::chrono::seconds kDrainGoawayDelay{1};
} // namespace

class Http2ServerCodec::Stream : public ServerStream, public Http2Stream {
public:
  Stream(Http2ServerCodec& codec, int32_t stream_id)
      : Http2Stream(codec.limits_.high_watermark), codec_(codec) {
    id = stream_id;
  }

  void sendHeaders(ResponseHead&& head, bool end_stream) override;
  void sendData(evbuffer* data, bool end_stream) override;
  void sendTrailers(HeaderMap&& trailers) override;
  void reset() override;
  bool writeBlocked() const override { return writeBlockedNow(); }
  void readDisable(bool disable) override { codec_.streamReadDisable(*this, disable); }
  uint64_t connectionId() const override { return codec_.connection_.id(); }
  uint32_t streamId() const override { return static_cast<uint32_t>(id); }
  const std::string& peerAddress() const override { return codec_.peer_address_; }

  ServerStreamCallbacks* callbacks = nullptr;
  RequestHead head; // pseudo-headers while the request head arrives
  std::string host;
  bool too_large = false;     // request header list over the limit: 431
  bool ever_attached = false; // the application saw this stream
  bool local_reply = false;   // the codec answered it itself
  bool error_reported = false;

private:
  bool usable() const { return attached && !codec_.closed_; }

  Http2ServerCodec& codec_;
};

void Http2ServerCodec::Stream::sendHeaders(ResponseHead&& response, bool end_stream) {
  if (!usable()) {
    return;
  }
  nghttp2_session* session = codec_.session_.get();
  NvList nv = responseToNv(response);
  if (response.status < 200) { // informational: more headers follow
    nghttp2_submit_headers(session, NGHTTP2_FLAG_NONE, id, nullptr, nv.data(), nv.size(), nullptr);
  } else if (end_stream) {
    local_end = true;
    codec_.detach(*this);
    nghttp2_submit_response(session, id, nv.data(), nv.size(), nullptr);
  } else {
    nghttp2_data_provider body = provider();
    nghttp2_submit_response(session, id, nv.data(), nv.size(), &body);
  }
  codec_.flush();
}

void Http2ServerCodec::Stream::sendData(evbuffer* data, bool end_stream) {
  if (!usable()) {
    evbuffer_drain(data, evbuffer_get_length(data));
    return;
  }
  if (end_stream) {
    codec_.detach(*this);
  }
  codec_.queueData(*this, data, end_stream);
}

void Http2ServerCodec::Stream::sendTrailers(HeaderMap&& trailers) {
  if (!usable()) {
    return;
  }
  codec_.detach(*this);
  codec_.queueTrailers(*this, std::move(trailers));
}

void Http2ServerCodec::Stream::reset() {
  if (!usable()) {
    return;
  }
  codec_.detach(*this);
  nghttp2_submit_rst_stream(codec_.session_.get(), NGHTTP2_FLAG_NONE, id, NGHTTP2_INTERNAL_ERROR);
  codec_.flush();
}

Http2ServerCodec::Http2ServerCodec(CodecConnection& connection, ServerCodecCallbacks& callbacks,
                                   const ServerCodecLimits& limits, std::string peer_address)
    : Http2CodecBase(connection), callbacks_(callbacks), limits_(limits),
      peer_address_(std::move(peer_address)) {
  createSession(true);
  auto header_list = static_cast<uint32_t>(
      std::min<size_t>(limits_.max_header_bytes, std::numeric_limits<uint32_t>::max()));
  submitSettings({{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits_.max_concurrent_streams},
                  {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits_.stream_window},
                  {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, header_list}});
  flush();
}

Http2ServerCodec::~Http2ServerCodec() = default;

void Http2ServerCodec::onRead(evbuffer* input) { receive(input); }

void Http2ServerCodec::onWritable() { flush(); }

void Http2ServerCodec::onConnectionClose() {
  if (closed_) {
    return;
  }
  closed_ = true;
  drain_timer_.reset();
  std::vector<int32_t> ids;
  for (const auto& [id, stream] : streams_) {
    if (stream->attached) {
      ids.push_back(id);
    }
  }
  std::sort(ids.begin(), ids.end());
  for (int32_t id : ids) {
    Stream* stream = find(id);
    if (stream != nullptr && stream->attached) {
      ServerStreamCallbacks* cb = stream->callbacks;
      detach(*stream);
      cb->onDownstreamReset();
    }
  }
}

void Http2ServerCodec::drain() {
  if (closed_ || draining_) {
    return;
  }
  draining_ = true;
  nghttp2_submit_shutdown_notice(session_.get());
  nghttp2_submit_ping(session_.get(), NGHTTP2_FLAG_NONE, nullptr);
  drain_timer_ = connection_.dispatcher().createTimer([this] {
    submitFinalGoaway();
    flush();
  });
  drain_timer_->enable(kDrainGoawayDelay);
  flush();
}

void Http2ServerCodec::submitFinalGoaway() {
  if (closed_ || final_goaway_sent_) {
    return;
  }
  final_goaway_sent_ = true;
  nghttp2_submit_goaway(session_.get(), NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_.get()), NGHTTP2_NO_ERROR,
                        nullptr, 0);
}

Http2ServerCodec::Stream* Http2ServerCodec::find(int32_t stream_id) {
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : it->second.get();
}

Http2Stream* Http2ServerCodec::findStream(int32_t stream_id) { return find(stream_id); }

void Http2ServerCodec::notifyWritable(Http2Stream& stream) {
  static_cast<Stream&>(stream).callbacks->onDownstreamWritable();
}

void Http2ServerCodec::detach(Stream& stream) {
  if (!stream.attached) {
    return;
  }
  stream.attached = false;
  stream.callbacks = nullptr;
  --attached_;
  releaseWindow(stream);
}

int Http2ServerCodec::onBeginHeaders(const nghttp2_frame& frame) {
  if (frame.hd.type != NGHTTP2_HEADERS) {
    return 0;
  }
  if (frame.headers.cat == NGHTTP2_HCAT_REQUEST) {
    streams_[frame.hd.stream_id] = std::make_unique<Stream>(*this, frame.hd.stream_id);
  } else if (Stream* stream = find(frame.hd.stream_id); stream != nullptr) {
    stream->headers.clear(); // trailers
    stream->header_bytes = 0;
  }
  return 0;
}

int Http2ServerCodec::onHeader(const nghttp2_frame& frame, std::string_view name,
                               std::string_view value) {
  Stream* stream = find(frame.hd.stream_id);
  if (stream == nullptr || frame.hd.type != NGHTTP2_HEADERS) {
    return 0;
  }
  bool request = frame.headers.cat == NGHTTP2_HCAT_REQUEST;
  stream->header_bytes += name.size() + value.size();
  if (stream->header_bytes > limits_.max_header_bytes) {
    if (request) {
      stream->too_large = true; // answered 431 once the block ends
      return 0;
    }
    callbacks_.onCodecError(0, "header-too-large");
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; // trailers: reset the stream
  }
  if (request && (name.starts_with(':') || name == "host")) {
    setRequestField(*stream, name, value);
    return 0;
  }
  stream->headers.add(std::string(name), std::string(value)); // a header or a trailer
  return 0;
}

void Http2ServerCodec::setRequestField(Stream& stream, std::string_view name,
                                       std::string_view value) {
  if (name == ":method") {
    stream.head.method = value;
  } else if (name == ":scheme") {
    stream.head.scheme = value;
  } else if (name == ":authority") {
    stream.head.authority = value;
  } else if (name == ":path") {
    stream.head.path = value;
  } else if (name == "host") {
    stream.host = value;
  } // :protocol (extended CONNECT) is not enabled, so nghttp2 never passes it
}

int Http2ServerCodec::onFrameRecv(const nghttp2_frame& frame) {
  bool end_stream = (frame.hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  switch (frame.hd.type) {
  case NGHTTP2_HEADERS:
    if (Stream* stream = find(frame.hd.stream_id); stream != nullptr) {
      if (frame.headers.cat == NGHTTP2_HCAT_REQUEST) {
        onRequestHeadersDone(*stream, end_stream);
      } else if (end_stream) {
        onRequestEnd(*stream, true);
      }
    }
    break;
  case NGHTTP2_DATA:
    if (Stream* stream = find(frame.hd.stream_id); stream != nullptr && end_stream) {
      onRequestEnd(*stream, false);
    }
    break;
  case NGHTTP2_PING:
    if ((frame.hd.flags & NGHTTP2_FLAG_ACK) != 0 && draining_) {
      submitFinalGoaway();
    }
    break;
  default:
    break;
  }
  return 0;
}

void Http2ServerCodec::onRequestHeadersDone(Stream& stream, bool end_stream) {
  stream.remote_ended = end_stream;
  if (stream.too_large) {
    localReply(stream, 431, "header-too-large", "request header fields too large");
    callbacks_.onCodecError(431, "header-too-large");
    return;
  }
  RequestHead head = std::move(stream.head);
  head.headers = std::move(stream.headers);
  stream.headers.clear();
  head.version = 20;
  if (head.authority.empty()) {
    head.authority = std::move(stream.host);
  }
  if (head.scheme.empty()) {
    head.scheme = "http";
  }
  if (head.method == "CONNECT") {
    localReply(stream, 405, "connect-not-supported", "CONNECT is not supported");
    callbacks_.onCodecError(405, "connect-not-supported");
    return;
  }
  const std::string* expect = head.headers.get("expect");
  if (expect != nullptr && iequals(*expect, "100-continue")) {
    head.headers.remove("expect");
    if (!end_stream) {
      NvList nv;
      nv.add(":status", "100");
      nghttp2_submit_headers(session_.get(), NGHTTP2_FLAG_NONE, stream.id, nullptr, nv.data(),
                             nv.size(), nullptr);
    }
  }
  stream.attached = true;
  stream.ever_attached = true;
  ++attached_;
  ServerStreamCallbacks& cb = callbacks_.newStream(stream);
  if (!stream.attached) {
    return; // reset from inside newStream
  }
  stream.callbacks = &cb;
  cb.onRequestHeaders(std::move(head), end_stream);
}

void Http2ServerCodec::onRequestEnd(Stream& stream, bool trailers) {
  stream.remote_ended = true;
  if (!stream.attached) {
    return;
  }
  if (trailers) {
    HeaderMap map = std::move(stream.headers);
    stream.headers.clear();
    stream.callbacks->onRequestTrailers(std::move(map));
    return;
  }
  stream.callbacks->onRequestData(scratch(), true);
  evbuffer_drain(scratch(), evbuffer_get_length(scratch()));
}

void Http2ServerCodec::localReply(Stream& stream, int status, std::string_view reason,
                                  std::string_view body) {
  std::string text;
  ResponseHead head = buildLocalReply(
      LocalReply{status, std::string(reason), std::string(body), std::nullopt}, false, text);
  stream.local_reply = true;
  stream.local_end = true;
  evbuffer_add(stream.outbound.get(), text.data(), text.size());
  NvList nv = responseToNv(head);
  nghttp2_data_provider provider = stream.provider();
  nghttp2_submit_response(session_.get(), stream.id, nv.data(), nv.size(), &provider);
}

int Http2ServerCodec::onDataChunk(int32_t stream_id, const uint8_t* data, size_t len) {
  Stream* stream = find(stream_id);
  if (stream != nullptr && stream->attached) {
    evbuffer_add(scratch(), data, len);
    stream->callbacks->onRequestData(scratch(), false);
    evbuffer_drain(scratch(), evbuffer_get_length(scratch()));
  }
  // After delivery: a stream read-disabled by (or before) this chunk holds its window.
  dataTaken(stream, stream_id, len);
  return 0;
}

int Http2ServerCodec::onStreamClose(int32_t stream_id, uint32_t /*error_code*/) {
  Stream* stream = find(stream_id);
  if (stream == nullptr) {
    return 0;
  }
  releaseConnectionWindow(*stream);
  if (stream->attached) {
    ServerStreamCallbacks* cb = stream->callbacks;
    detach(*stream);
    cb->onDownstreamReset();
  } else if (!stream->ever_attached && !stream->local_reply && !stream->error_reported) {
    stream->error_reported = true;
    callbacks_.onCodecError(400, "bad-request"); // nghttp2 refused it before it was complete
  }
  auto it = streams_.find(stream_id);
  if (it != streams_.end()) {
    std::unique_ptr<Stream> doomed = std::move(it->second);
    streams_.erase(it);
    connection_.dispatcher().deferredDelete(std::move(doomed));
  }
  return 0;
}

int Http2ServerCodec::onFrameSend(const nghttp2_frame& frame) {
  if (frame.hd.type == NGHTTP2_GOAWAY && frame.goaway.error_code != NGHTTP2_NO_ERROR) {
    reportConnectionError(); // nghttp2 tore the session down itself (bad frame, flood)
    return 0;
  }
  bool response_end = (frame.hd.type == NGHTTP2_HEADERS || frame.hd.type == NGHTTP2_DATA) &&
                      (frame.hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  // The response ended before the request did: the rest of the request is not wanted.
  if (response_end &&
      nghttp2_session_get_stream_remote_close(session_.get(), frame.hd.stream_id) == 0) {
    nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, frame.hd.stream_id,
                              NGHTTP2_NO_ERROR);
  }
  return 0;
}

int Http2ServerCodec::onFrameNotSend(const nghttp2_frame& frame, int /*lib_error*/) {
  if (frame.hd.type == NGHTTP2_HEADERS && find(frame.hd.stream_id) != nullptr) {
    nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, frame.hd.stream_id,
                              NGHTTP2_INTERNAL_ERROR);
  }
  return 0;
}

int Http2ServerCodec::onInvalidFrame(const nghttp2_frame& frame, int lib_error) {
  if (lib_error == NGHTTP2_ERR_REFUSED_STREAM) {
    callbacks_.onCodecError(0, "too-many-streams");
    return 0;
  }
  Stream* stream = frame.hd.stream_id != 0 ? find(frame.hd.stream_id) : nullptr;
  if (stream == nullptr) {
    reportConnectionError();
  } else if (!stream->ever_attached && !stream->local_reply && !stream->error_reported) {
    stream->error_reported = true;
    callbacks_.onCodecError(400, "bad-request");
  }
  return 0;
}

void Http2ServerCodec::onSessionError(int /*error*/) { reportConnectionError(); }

void Http2ServerCodec::reportConnectionError() {
  if (!connection_error_reported_) {
    connection_error_reported_ = true;
    callbacks_.onCodecError(400, "bad-request");
  }
}

} // namespace seawall::proxy
