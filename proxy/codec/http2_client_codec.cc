#include "proxy/codec/http2_client_codec.h"

#include <algorithm>
#include <charconv>
#include <vector>

namespace seawall::proxy {
namespace {
constexpr uint32_t kOwnMaxConcurrentStreams = 100; // pushes are off; this bounds nothing real
constexpr uint32_t kLastStreamId = 0x7fffffff;
} // namespace

class Http2ClientCodec::Stream : public ClientStream, public Http2Stream {
public:
  Stream(Http2ClientCodec& codec, ClientStreamCallbacks& cb, uint64_t serial_number)
      : Http2Stream(kHttp2StreamQueueHighWatermark), callbacks(&cb), serial(serial_number),
        codec_(codec) {}

  void sendHeaders(const RequestHead& head, bool end_stream) override {
    if (usable() && !submitted) {
      codec_.submit(*this, head, end_stream);
    }
  }
  void sendData(evbuffer* data, bool end_stream) override {
    if (!usable()) {
      evbuffer_drain(data, evbuffer_get_length(data));
      return;
    }
    codec_.queueData(*this, data, end_stream);
  }
  void sendTrailers(HeaderMap&& trailers) override {
    if (usable()) {
      codec_.queueTrailers(*this, std::move(trailers));
    }
  }
  void reset() override;
  bool writeBlocked() const override { return writeBlockedNow(); }
  void readDisable(bool disable) override { codec_.streamReadDisable(*this, disable); }

  ClientStreamCallbacks* callbacks;
  const uint64_t serial;
  int status = 0;
  bool submitted = false;        // nghttp2 has it (id assigned)
  bool headers_sent = false;     // the request HEADERS went out on the wire
  bool response_started = false; // the final response head was delivered
  bool protocol_error = false;   // nghttp2 found the response malformed

private:
  bool usable() const { return attached && !codec_.closed_; }

  Http2ClientCodec& codec_;
};

void Http2ClientCodec::Stream::reset() {
  if (!attached) {
    return;
  }
  codec_.detach(*this);
  if (!submitted) {
    codec_.forgetUnsubmitted(*this); // deferred delete: we are inside one of its methods
    return;
  }
  if (!codec_.closed_) {
    nghttp2_submit_rst_stream(codec_.session_.get(), NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    codec_.flush();
  }
}

Http2ClientCodec::Http2ClientCodec(CodecConnection& connection, ClientCodecCallbacks& callbacks)
    : Http2CodecBase(connection), callbacks_(callbacks) {
  createSession(false);
}

Http2ClientCodec::~Http2ClientCodec() = default;

void Http2ClientCodec::onConnected() {
  if (closed_ || connected_) {
    return;
  }
  connected_ = true;
  submitSettings({{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                  {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kHttp2ClientStreamWindow},
                  {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kOwnMaxConcurrentStreams}});
  flush(); // the client session writes the preface first
}

void Http2ClientCodec::onRead(evbuffer* input) { receive(input); }

void Http2ClientCodec::onWritable() { flush(); }

void Http2ClientCodec::onConnectionClose(UpstreamFailure why) {
  if (closed_) {
    return;
  }
  closed_ = true;
  std::vector<Stream*> attached;
  for (auto& [id, stream] : streams_) {
    if (stream->attached) {
      attached.push_back(stream.get());
    }
  }
  std::sort(attached.begin(), attached.end(),
            [](const Stream* a, const Stream* b) { return a->id < b->id; });
  for (auto& [serial, stream] : unsubmitted_) {
    if (stream->attached) {
      attached.push_back(stream.get());
    }
  }
  // Application callbacks below cannot add or remove streams (the codec is closed).
  for (Stream* stream : attached) {
    UpstreamFailure failure = why;
    if (stream->protocol_error) {
      failure = UpstreamFailure::ProtocolError;
    } else if (stream->headers_sent) {
      failure = UpstreamFailure::Reset;
    }
    resetStream(*stream, failure);
  }
}

bool Http2ClientCodec::canTakeStream() const {
  if (!connected_ || closed_ || goaway_received_) {
    return false;
  }
  if (nghttp2_session_get_next_stream_id(session_.get()) >= kLastStreamId) {
    return false; // stream ids exhausted: this connection retires
  }
  uint32_t peer_max =
      nghttp2_session_get_remote_settings(session_.get(), NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  return attached_ < peer_max;
}

ClientStream& Http2ClientCodec::newStream(ClientStreamCallbacks& callbacks) {
  uint64_t serial = next_serial_++;
  auto stream = std::make_unique<Stream>(*this, callbacks, serial);
  Stream& ref = *stream;
  ref.attached = true;
  ++attached_;
  unsubmitted_.emplace(serial, std::move(stream));
  return ref;
}

void Http2ClientCodec::submit(Stream& stream, const RequestHead& head, bool end_stream) {
  NvList nv = requestToNv(head);
  nghttp2_data_provider body = stream.provider();
  stream.local_end = stream.local_end || end_stream;
  int32_t id = nghttp2_submit_request(session_.get(), nullptr, nv.data(), nv.size(),
                                      end_stream ? nullptr : &body, &stream);
  if (id < 0) {
    // Nothing went out: refuse the stream from the loop, not inside this sendHeaders() call.
    post([this, serial = stream.serial] {
      auto it = unsubmitted_.find(serial);
      if (it != unsubmitted_.end() && it->second->attached && !closed_) {
        resetStream(*it->second, UpstreamFailure::RefusedStream);
        forgetUnsubmitted(*it->second);
      }
    });
    return;
  }
  stream.id = id;
  stream.submitted = true;
  auto it = unsubmitted_.find(stream.serial);
  streams_.emplace(id, std::move(it->second));
  unsubmitted_.erase(it);
  flush();
}

Http2ClientCodec::Stream* Http2ClientCodec::find(int32_t stream_id) {
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : it->second.get();
}

Http2Stream* Http2ClientCodec::findStream(int32_t stream_id) { return find(stream_id); }

void Http2ClientCodec::notifyWritable(Http2Stream& stream) {
  static_cast<Stream&>(stream).callbacks->onUpstreamWritable();
}

void Http2ClientCodec::detach(Stream& stream) {
  if (!stream.attached) {
    return;
  }
  stream.attached = false;
  stream.callbacks = nullptr;
  --attached_;
  releaseWindow(stream);
}

void Http2ClientCodec::resetStream(Stream& stream, UpstreamFailure why) {
  if (!stream.attached) {
    return;
  }
  ClientStreamCallbacks* cb = stream.callbacks;
  detach(stream);
  cb->onUpstreamReset(why);
}

void Http2ClientCodec::finishResponse(Stream& stream) {
  detach(stream);
  if (nghttp2_session_get_stream_local_close(session_.get(), stream.id) == 0) {
    nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, stream.id, NGHTTP2_NO_ERROR);
  }
}

void Http2ClientCodec::forgetUnsubmitted(Stream& stream) {
  auto it = unsubmitted_.find(stream.serial);
  if (it != unsubmitted_.end()) {
    std::unique_ptr<Stream> doomed = std::move(it->second);
    unsubmitted_.erase(it);
    connection_.dispatcher().deferredDelete(std::move(doomed));
  }
}

void Http2ClientCodec::post(std::function<void()> fn) {
  connection_.dispatcher().post([alive = std::weak_ptr<bool>(alive_), fn = std::move(fn)] {
    if (!alive.expired()) {
      fn();
    }
  });
}

void Http2ClientCodec::afterSession() {
  if (!capacity_changed_ || capacity_posted_ || closed_) {
    return;
  }
  capacity_changed_ = false;
  capacity_posted_ = true;
  post([this] {
    capacity_posted_ = false;
    if (!closed_) {
      callbacks_.onCapacityChanged();
    }
  });
}

int Http2ClientCodec::onBeginHeaders(const nghttp2_frame& frame) {
  if (Stream* stream = find(frame.hd.stream_id); stream != nullptr) {
    stream->headers.clear();
    stream->header_bytes = 0;
    stream->status = 0;
  }
  return 0;
}

int Http2ClientCodec::onHeader(const nghttp2_frame& frame, std::string_view name,
                               std::string_view value) {
  Stream* stream = find(frame.hd.stream_id);
  if (stream == nullptr || !stream->attached) {
    return 0;
  }
  stream->header_bytes += name.size() + value.size();
  if (stream->header_bytes > kHttp2MaxResponseHeaderBytes) {
    stream->protocol_error = true;
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; // resets the stream
  }
  if (name == ":status") {
    int status = 0;
    std::from_chars(value.data(), value.data() + value.size(), status);
    stream->status = status;
  } else if (!name.starts_with(':')) {
    stream->headers.add(std::string(name), std::string(value));
  }
  return 0;
}

int Http2ClientCodec::onFrameRecv(const nghttp2_frame& frame) {
  bool end_stream = (frame.hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  Stream* stream = find(frame.hd.stream_id);
  switch (frame.hd.type) {
  case NGHTTP2_HEADERS:
    if (stream != nullptr && stream->attached) {
      if (!stream->response_started) {
        onResponseHeadersDone(*stream, end_stream); // after 1xx, nghttp2 says HCAT_HEADERS
      } else if (end_stream) {
        onResponseEnd(*stream, true);
      }
    }
    break;
  case NGHTTP2_DATA:
    if (stream != nullptr && stream->attached && end_stream) {
      onResponseEnd(*stream, false);
    }
    break;
  case NGHTTP2_SETTINGS:
    if ((frame.hd.flags & NGHTTP2_FLAG_ACK) == 0) {
      capacity_changed_ = true;
    }
    break;
  case NGHTTP2_GOAWAY:
    goaway_received_ = true;
    goaway_last_stream_id_ = frame.goaway.last_stream_id;
    capacity_changed_ = true; // nghttp2 closes the streams above last_stream_id itself
    break;
  default:
    break;
  }
  return 0;
}

void Http2ClientCodec::onResponseHeadersDone(Stream& stream, bool end_stream) {
  if (stream.status >= 100 && stream.status < 200) {
    stream.headers.clear(); // 1xx: dropped
    return;
  }
  stream.response_started = true;
  ResponseHead head;
  head.status = stream.status;
  head.headers = std::move(stream.headers);
  stream.headers.clear();
  ClientStreamCallbacks* cb = stream.callbacks;
  if (end_stream) {
    finishResponse(stream);
  }
  cb->onResponseHeaders(std::move(head), end_stream);
}

void Http2ClientCodec::onResponseEnd(Stream& stream, bool trailers) {
  ClientStreamCallbacks* cb = stream.callbacks;
  finishResponse(stream);
  if (trailers) {
    HeaderMap map = std::move(stream.headers);
    stream.headers.clear();
    cb->onResponseTrailers(std::move(map));
    return;
  }
  cb->onResponseData(scratch(), true);
  evbuffer_drain(scratch(), evbuffer_get_length(scratch()));
}

int Http2ClientCodec::onDataChunk(int32_t stream_id, const uint8_t* data, size_t len) {
  Stream* stream = find(stream_id);
  if (stream != nullptr && stream->attached) {
    evbuffer_add(scratch(), data, len);
    stream->callbacks->onResponseData(scratch(), false);
    evbuffer_drain(scratch(), evbuffer_get_length(scratch()));
  }
  dataTaken(stream, stream_id, len);
  return 0;
}

int Http2ClientCodec::onStreamClose(int32_t stream_id, uint32_t error_code) {
  Stream* stream = find(stream_id);
  if (stream == nullptr) {
    return 0;
  }
  releaseConnectionWindow(*stream);
  capacity_changed_ = true;
  if (stream->attached) {
    UpstreamFailure why = UpstreamFailure::Reset;
    if (error_code == NGHTTP2_REFUSED_STREAM ||
        (goaway_received_ && stream_id > goaway_last_stream_id_)) {
      why = UpstreamFailure::RefusedStream;
    } else if (stream->protocol_error) {
      why = UpstreamFailure::ProtocolError;
    }
    resetStream(*stream, why);
  }
  auto it = streams_.find(stream_id);
  if (it != streams_.end()) {
    std::unique_ptr<Stream> doomed = std::move(it->second);
    streams_.erase(it);
    connection_.dispatcher().deferredDelete(std::move(doomed));
  }
  return 0;
}

int Http2ClientCodec::onFrameSend(const nghttp2_frame& frame) {
  if (frame.hd.type == NGHTTP2_HEADERS && frame.headers.cat == NGHTTP2_HCAT_REQUEST) {
    if (Stream* stream = find(frame.hd.stream_id); stream != nullptr) {
      stream->headers_sent = true;
    }
  }
  return 0;
}

int Http2ClientCodec::onFrameNotSend(const nghttp2_frame& frame, int lib_error) {
  if (frame.hd.type != NGHTTP2_HEADERS || frame.headers.cat != NGHTTP2_HCAT_REQUEST) {
    return 0;
  }
  Stream* stream = find(frame.hd.stream_id);
  if (stream == nullptr) {
    return 0;
  }
  // Nothing of this request reached the peer: after a GOAWAY it is safe to retry elsewhere.
  resetStream(*stream, lib_error == NGHTTP2_ERR_START_STREAM_NOT_ALLOWED
                           ? UpstreamFailure::RefusedStream
                           : UpstreamFailure::ProtocolError);
  capacity_changed_ = true;
  if (nghttp2_session_find_stream(session_.get(), frame.hd.stream_id) == nullptr) {
    // nghttp2 never opened it, so no on_stream_close will come.
    auto it = streams_.find(frame.hd.stream_id);
    std::unique_ptr<Stream> doomed = std::move(it->second);
    streams_.erase(it);
    connection_.dispatcher().deferredDelete(std::move(doomed));
  }
  return 0;
}

int Http2ClientCodec::onInvalidFrame(const nghttp2_frame& frame, int /*lib_error*/) {
  if (Stream* stream = find(frame.hd.stream_id); stream != nullptr) {
    stream->protocol_error = true; // nghttp2 resets it; onStreamClose reports
  }
  return 0;
}

void Http2ClientCodec::onSessionError(int /*error*/) {
  for (auto& [id, stream] : streams_) {
    stream->protocol_error = true;
  }
}

} // namespace seawall::proxy
