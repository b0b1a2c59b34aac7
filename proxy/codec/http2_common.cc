#include "proxy/codec/http2_common.h"

#include <algorithm>
#include <memory>

namespace seawall::proxy {
namespace {

constexpr uint64_t kResetBurst = 1000; // RST_STREAM flood guard, as nghttpx
constexpr uint64_t kResetRate = 33;
constexpr size_t kMaxContinuations = 8;
// flush() rounds of "send, then notify writable streams" before leaving the rest to onWritable().
constexpr int kMaxFlushRounds = 64;

Http2CodecBase* codecOf(void* user_data) { return static_cast<Http2CodecBase*>(user_data); }

int onBeginHeadersCb(nghttp2_session* /*session*/, const nghttp2_frame* frame,
                     void* user_data) noexcept {
  Http2CodecBase* codec = codecOf(user_data);
  return codec->closed() ? NGHTTP2_ERR_CALLBACK_FAILURE : codec->onBeginHeaders(*frame);
}

int onHeaderCb(nghttp2_session* /*session*/, const nghttp2_frame* frame, const uint8_t* name,
               size_t namelen, const uint8_t* value, size_t valuelen, uint8_t /*flags*/,
               void* user_data) noexcept {
  Http2CodecBase* codec = codecOf(user_data);
  if (codec->closed()) {
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
  return codec->onHeader(*frame, {reinterpret_cast<const char*>(name), namelen},
                         {reinterpret_cast<const char*>(value), valuelen});
}

int onFrameRecvCb(nghttp2_session* /*session*/, const nghttp2_frame* frame,
                  void* user_data) noexcept {
  Http2CodecBase* codec = codecOf(user_data);
  return codec->closed() ? NGHTTP2_ERR_CALLBACK_FAILURE : codec->onFrameRecv(*frame);
}

int onDataChunkCb(nghttp2_session* /*session*/, uint8_t /*flags*/, int32_t stream_id,
                  const uint8_t* data, size_t len, void* user_data) noexcept {
  Http2CodecBase* codec = codecOf(user_data);
  return codec->closed() ? NGHTTP2_ERR_CALLBACK_FAILURE : codec->onDataChunk(stream_id, data, len);
}

int onStreamCloseCb(nghttp2_session* /*session*/, int32_t stream_id, uint32_t error_code,
                    void* user_data) noexcept {
  Http2CodecBase* codec = codecOf(user_data);
  return codec->closed() ? NGHTTP2_ERR_CALLBACK_FAILURE
                         : codec->onStreamClose(stream_id, error_code);
}

int onFrameSendCb(nghttp2_session* /*session*/, const nghttp2_frame* frame,
                  void* user_data) noexcept {
  Http2CodecBase* codec = codecOf(user_data);
  return codec->closed() ? NGHTTP2_ERR_CALLBACK_FAILURE : codec->onFrameSend(*frame);
}

int onFrameNotSendCb(nghttp2_session* /*session*/, const nghttp2_frame* frame, int lib_error,
                     void* user_data) noexcept {
  Http2CodecBase* codec = codecOf(user_data);
  return codec->closed() ? NGHTTP2_ERR_CALLBACK_FAILURE : codec->onFrameNotSend(*frame, lib_error);
}

int onInvalidFrameCb(nghttp2_session* /*session*/, const nghttp2_frame* frame, int lib_error,
                     void* user_data) noexcept {
  Http2CodecBase* codec = codecOf(user_data);
  return codec->closed() ? NGHTTP2_ERR_CALLBACK_FAILURE : codec->onInvalidFrame(*frame, lib_error);
}

using CallbacksPtr =
    std::unique_ptr<nghttp2_session_callbacks, FreeWith<nghttp2_session_callbacks_del>>;
using OptionPtr = std::unique_ptr<nghttp2_option, FreeWith<nghttp2_option_del>>;

// Built once per process, shared by every session of every worker (read-only after creation).
const nghttp2_session_callbacks* sharedCallbacks() {
  static const CallbacksPtr callbacks = [] {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, &onBeginHeadersCb);
    nghttp2_session_callbacks_set_on_header_callback(cb, &onHeaderCb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &onFrameRecvCb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &onDataChunkCb);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, &onStreamCloseCb);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, &onFrameSendCb);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(cb, &onFrameNotSendCb);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, &onInvalidFrameCb);
    return CallbacksPtr(cb);
  }();
  return callbacks.get();
}

bool hasUpper(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

void addRegularHeaders(NvList& nv, const HeaderMap& headers, bool request) {
  for (const auto& h : headers.entries()) {
    if (isConnectionSpecificHeader(h, headers) || (request && iequals(h.name, "host"))) {
      continue;
    }
    nv.add(h.name, h.value);
  }
}

} // namespace

void NvList::add(std::string_view name, std::string_view value) {
  // std::deque keeps references to earlier elements valid as it grows.
  std::string& n = storage_.emplace_back(name);
  if (hasUpper(n)) {
    toLower(n);
  }
  std::string& v = storage_.emplace_back(value);
  nghttp2_nv entry{};
  entry.name = reinterpret_cast<uint8_t*>(n.data());
  entry.namelen = n.size();
  entry.value = reinterpret_cast<uint8_t*>(v.data());
  entry.valuelen = v.size();
  entry.flags = NGHTTP2_NV_FLAG_NONE; // nghttp2 copies; the frame may be sent much later
  nv_.push_back(entry);
}

bool isConnectionSpecificHeader(const Header& header, const HeaderMap& all) {
  const std::string& n = header.name;
  if (iequals(n, "connection") || iequals(n, "keep-alive") || iequals(n, "proxy-connection") ||
      iequals(n, "transfer-encoding") || iequals(n, "upgrade")) {
    return true;
  }
  if (iequals(n, "te")) {
    return !iequals(header.value, "trailers");
  }
  for (const auto& h : all.entries()) {
    if (iequals(h.name, "connection") && hasToken(h.value, n)) {
      return true;
    }
  }
  return false;
}

NvList requestToNv(const RequestHead& head) {
  NvList nv;
  nv.add(":method", head.method);
  bool connect = head.method == "CONNECT";
  if (!connect) {
    nv.add(":scheme", head.scheme.empty() ? "http" : head.scheme);
  }
  const std::string* host = head.headers.get("host");
  if (!head.authority.empty()) {
    nv.add(":authority", head.authority);
  } else if (host != nullptr) {
    nv.add(":authority", *host);
  }
  if (!connect) {
    nv.add(":path", head.path.empty() ? "/" : head.path);
  }
  addRegularHeaders(nv, head.headers, true);
  return nv;
}

NvList responseToNv(const ResponseHead& head) {
  NvList nv;
  nv.add(":status", std::to_string(head.status));
  addRegularHeaders(nv, head.headers, false);
  return nv;
}

NvList trailersToNv(const HeaderMap& trailers) {
  NvList nv;
  addRegularHeaders(nv, trailers, false);
  return nv;
}

ssize_t Http2Stream::readCallback(nghttp2_session* /*session*/, int32_t /*stream_id*/, uint8_t* buf,
                                  size_t length, uint32_t* data_flags, nghttp2_data_source* source,
                                  void* user_data) noexcept {
  return codecOf(user_data)->readBody(*static_cast<Http2Stream*>(source->ptr), buf, length,
                                      data_flags);
}

Http2CodecBase::Http2CodecBase(CodecConnection& connection)
    : connection_(connection), scratch_(makeEvBuffer()) {}

void Http2CodecBase::createSession(bool server) {
  nghttp2_option* raw_option = nullptr;
  nghttp2_option_new(&raw_option);
  OptionPtr option(raw_option);
  nghttp2_option_set_no_auto_window_update(raw_option, 1);
  nghttp2_option_set_max_send_header_block_length(raw_option, kHttp2MaxSendHeaderBlock);
  nghttp2_option_set_stream_reset_rate_limit(raw_option, kResetBurst, kResetRate);
  nghttp2_option_set_max_continuations(raw_option, kMaxContinuations);
  nghttp2_option_set_no_closed_streams(raw_option, 1);
  nghttp2_session* session = nullptr;
  if (server) {
    nghttp2_session_server_new2(&session, sharedCallbacks(), this, raw_option);
  } else {
    // Until the peer's SETTINGS arrive, assume it takes 100 concurrent streams.
    nghttp2_option_set_peer_max_concurrent_streams(raw_option, 100);
    nghttp2_session_client_new2(&session, sharedCallbacks(), this, raw_option);
  }
  session_.reset(session);
}

void Http2CodecBase::submitSettings(const std::vector<nghttp2_settings_entry>& settings) {
  nghttp2_submit_settings(session_.get(), NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  nghttp2_session_set_local_window_size(session_.get(), NGHTTP2_FLAG_NONE, 0,
                                        kHttp2ConnectionWindow);
}

void Http2CodecBase::receive(evbuffer* input) {
  if (closed_) {
    evbuffer_drain(input, evbuffer_get_length(input));
    return;
  }
  // Each round hands nghttp2 one contiguous chunk, which it consumes whole or fails on.
  while (evbuffer_get_length(input) > 0) {
    auto n = evbuffer_get_contiguous_space(input);
    const uint8_t* data = evbuffer_pullup(input, static_cast<ssize_t>(n));
    in_session_ = true;
    ssize_t rv = nghttp2_session_mem_recv(session_.get(), data, n);
    in_session_ = false;
    if (closed_) {
      return; // an application callback closed the connection
    }
    if (rv <= 0) {
      evbuffer_drain(input, evbuffer_get_length(input));
      if (rv < 0) {
        onSessionError(static_cast<int>(rv));
        if (closed_) {
          return;
        }
        nghttp2_session_terminate_session(session_.get(), NGHTTP2_PROTOCOL_ERROR);
        sendPending();
        if (!closed_ && !close_requested_) {
          close_requested_ = true;
          connection_.closeAfterFlush();
        }
        return;
      }
      break;
    }
    evbuffer_drain(input, static_cast<size_t>(rv));
  }
  flush();
}

void Http2CodecBase::flush() {
  if (closed_) {
    return;
  }
  if (in_session_ || flushing_) {
    flush_again_ = true; // the outer receive()/flush() sends it
    return;
  }
  flushing_ = true;
  for (int round = 0; round < kMaxFlushRounds; ++round) {
    flush_again_ = false;
    sendPending();
    if (closed_) {
      return;
    }
    std::vector<int32_t> writable;
    writable.swap(writable_);
    for (int32_t id : writable) {
      Http2Stream* stream = findStream(id);
      if (stream != nullptr && stream->attached && !closed_) {
        notifyWritable(*stream);
      }
    }
    if (closed_) {
      return;
    }
    if (!flush_again_ && writable_.empty()) {
      break;
    }
  }
  flushing_ = false;
  afterSession();
  maybeClose();
}

void Http2CodecBase::sendPending() {
  evbuffer* out = connection_.output();
  // Bounded: every round appends bytes; the watermark or an empty queue ends it.
  while (!closed_ && evbuffer_get_length(out) <= kHttp2OutputHighWatermark) {
    const uint8_t* data = nullptr;
    in_session_ = true;
    ssize_t n = nghttp2_session_mem_send(session_.get(), &data);
    in_session_ = false;
    if (closed_ || n == 0) {
      return;
    }
    if (n < 0) {
      close_requested_ = true;
      connection_.closeNow(); // nghttp2 failed fatally (out of memory, callback failure)
      return;
    }
    evbuffer_add(out, data, static_cast<size_t>(n));
  }
}

void Http2CodecBase::maybeClose() {
  if (closed_ || close_requested_) {
    return;
  }
  if (nghttp2_session_want_read(session_.get()) == 0 &&
      nghttp2_session_want_write(session_.get()) == 0) {
    close_requested_ = true;
    connection_.closeAfterFlush();
  }
}

ssize_t Http2CodecBase::readBody(Http2Stream& stream, uint8_t* buf, size_t length,
                                 uint32_t* data_flags) {
  size_t queued = evbuffer_get_length(stream.outbound.get());
  size_t n = std::min(queued, length);
  if (n > 0) {
    evbuffer_remove(stream.outbound.get(), buf, n);
  }
  if (n == queued && stream.local_end) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    if (stream.pending_trailers && !stream.pending_trailers->empty()) {
      NvList nv = trailersToNv(*stream.pending_trailers);
      if (nghttp2_submit_trailer(session_.get(), stream.id, nv.data(), nv.size()) == 0) {
        *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      }
    }
    stream.pending_trailers.reset();
  } else if (n == 0) {
    return NGHTTP2_ERR_DEFERRED;
  }
  if (stream.write_blocked && queued - n < stream.high_watermark / 2) {
    stream.write_blocked = false;
    writable_.push_back(stream.id);
  }
  return static_cast<ssize_t>(n);
}

void Http2CodecBase::queueData(Http2Stream& stream, evbuffer* data, bool end_stream) {
  evbuffer_add_buffer(stream.outbound.get(), data);
  stream.local_end = stream.local_end || end_stream;
  if (stream.writeBlockedNow()) {
    stream.write_blocked = true;
  }
  if (stream.id > 0) {
    nghttp2_session_resume_data(session_.get(), stream.id);
    flush();
  }
}

void Http2CodecBase::queueTrailers(Http2Stream& stream, HeaderMap&& trailers) {
  stream.pending_trailers = std::move(trailers);
  stream.local_end = true;
  if (stream.id > 0) {
    nghttp2_session_resume_data(session_.get(), stream.id);
    flush();
  }
}

void Http2CodecBase::streamReadDisable(Http2Stream& stream, bool disable) {
  if (disable) {
    ++stream.read_disabled;
    return;
  }
  if (stream.read_disabled == 0 || --stream.read_disabled > 0) {
    return;
  }
  if (stream.unconsumed > 0 && !closed_) {
    nghttp2_session_consume(session_.get(), stream.id, stream.unconsumed);
    stream.unconsumed = 0;
    flush(); // WINDOW_UPDATE
  }
}

void Http2CodecBase::dataTaken(Http2Stream* stream, int32_t stream_id, size_t len) {
  if (stream != nullptr && stream->attached && stream->read_disabled > 0) {
    stream->unconsumed += len;
    return;
  }
  nghttp2_session_consume(session_.get(), stream_id, len);
}

void Http2CodecBase::releaseWindow(Http2Stream& stream) {
  if (stream.unconsumed > 0 && !closed_) {
    nghttp2_session_consume(session_.get(), stream.id, stream.unconsumed);
  }
  stream.unconsumed = 0;
}

void Http2CodecBase::releaseConnectionWindow(Http2Stream& stream) {
  if (stream.unconsumed > 0 && !closed_) {
    nghttp2_session_consume_connection(session_.get(), stream.unconsumed);
  }
  stream.unconsumed = 0;
}

} // namespace seawall::proxy
