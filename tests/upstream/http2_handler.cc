#include "tests/upstream/http2_handler.h"

#include <string>
#include <string_view>

#include <event2/buffer.h>

#include "tests/upstream/server.h"

namespace seawall::test_upstream {
namespace {

constexpr int32_t kWindow = 1024 * 1024;

struct CallbacksDeleter {
  void operator()(nghttp2_session_callbacks* cb) const noexcept {
    nghttp2_session_callbacks_del(cb);
  }
};

nghttp2_nv makeNv(const std::string& name, const std::string& value) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                    value.size(), NGHTTP2_NV_FLAG_NONE};
}

} // namespace

const nghttp2_session_callbacks* Http2Handler::callbacks() {
  static const std::unique_ptr<nghttp2_session_callbacks, CallbacksDeleter> callbacks_holder = [] {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, &Http2Handler::onBeginHeaders);
    nghttp2_session_callbacks_set_on_header_callback(cb, &Http2Handler::onHeader);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &Http2Handler::onFrameRecv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &Http2Handler::onDataChunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, &Http2Handler::onStreamClose);
    return std::unique_ptr<nghttp2_session_callbacks, CallbacksDeleter>(cb);
  }();
  return callbacks_holder.get();
}

Http2Handler::Http2Handler(Connection& connection) : conn_(connection) {
  nghttp2_session* session = nullptr;
  nghttp2_session_server_new(&session, callbacks(), this);
  session_.reset(session);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, conn_.server().options().max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(kWindow)},
  };
  nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings, 2);
  nghttp2_session_set_local_window_size(session, NGHTTP2_FLAG_NONE, 0, kWindow);
}

Http2Handler::~Http2Handler() {
  // The session may call back into streams while being deleted: free it first.
  session_.reset();
  streams_.clear();
  graveyard_.clear();
}

Http2Handler::Stream* Http2Handler::find(int32_t stream_id) {
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : it->second.get();
}

int Http2Handler::onBeginHeaders(nghttp2_session* /*s*/, const nghttp2_frame* f,
                                 void* user) noexcept {
  auto* self = static_cast<Http2Handler*>(user);
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) {
    return 0;
  }
  auto stream = std::make_unique<Stream>();
  stream->request.version = "HTTP/2";
  stream->request.arrival_ms = millisSinceStart();
  stream->request.connection_id = self->conn_.id();
  stream->request.stream_id = f->hd.stream_id;
  self->streams_[f->hd.stream_id] = std::move(stream);
  return 0;
}

int Http2Handler::onHeader(nghttp2_session* /*s*/, const nghttp2_frame* f, const uint8_t* name,
                           size_t namelen, const uint8_t* value, size_t valuelen, uint8_t /*flags*/,
                           void* user) noexcept {
  auto* self = static_cast<Http2Handler*>(user);
  Stream* stream = self->find(f->hd.stream_id);
  if (stream == nullptr || f->hd.type != NGHTTP2_HEADERS) {
    return 0;
  }
  const std::string_view n(reinterpret_cast<const char*>(name), namelen);
  std::string v(reinterpret_cast<const char*>(value), valuelen);
  Request& r = stream->request;
  if (n == ":method") {
    r.method = std::move(v);
  } else if (n == ":path") {
    r.target = std::move(v);
  } else if (n == ":authority") {
    r.authority = std::move(v);
  } else if (!n.starts_with(":")) {
    r.headers.emplace_back(std::string(n), std::move(v));
  }
  return 0;
}

int Http2Handler::onFrameRecv(nghttp2_session* /*s*/, const nghttp2_frame* f, void* user) noexcept {
  auto* self = static_cast<Http2Handler*>(user);
  const bool request_frame = f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS;
  if (request_frame && (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
    self->onRequestComplete(f->hd.stream_id);
  }
  return 0;
}

int Http2Handler::onDataChunk(nghttp2_session* /*s*/, uint8_t /*flags*/, int32_t stream_id,
                              const uint8_t* data, size_t len, void* user) noexcept {
  Stream* stream = static_cast<Http2Handler*>(user)->find(stream_id);
  if (stream != nullptr) {
    stream->request.body_bytes += len;
    stream->request.body_crc =
        crc32Update(stream->request.body_crc, reinterpret_cast<const char*>(data), len);
  }
  return 0;
}

int Http2Handler::onStreamClose(nghttp2_session* /*s*/, int32_t stream_id, uint32_t /*error_code*/,
                                void* user) noexcept {
  auto* self = static_cast<Http2Handler*>(user);
  auto it = self->streams_.find(stream_id);
  if (it == self->streams_.end()) {
    return 0;
  }
  if (it->second->delay_timer) {
    it->second->delay_timer->cancel();
  }
  if (it->second->chunk_timer) {
    it->second->chunk_timer->cancel();
  }
  self->graveyard_.push_back(std::move(it->second));
  self->streams_.erase(it);
  return 0;
}

void Http2Handler::onRequestComplete(int32_t stream_id) {
  Stream* stream = find(stream_id);
  if (stream == nullptr || stream->plan) {
    return;
  }
  stream->request.splitTarget();
  stream->plan = conn_.server().respond(stream->request);
  stream->plan->websocket = false;
  conn_.server().logVerbose(stream->request, *stream->plan);
  if (stream->plan->blackhole) {
    return; // never answered; the stream stays open until the client gives up
  }
  if (stream->plan->delay.count() > 0) {
    stream->delay_timer = std::make_unique<Timer>(conn_.server().base(), [this, stream_id] {
      graveyard_.clear();
      submitResponse(stream_id);
      flush();
    });
    stream->delay_timer->arm(stream->plan->delay);
    return;
  }
  submitResponse(stream_id); // flushed by the caller's onRead()
}

void Http2Handler::submitResponse(int32_t stream_id) {
  Stream* stream = find(stream_id);
  if (stream == nullptr || conn_.finishing()) {
    return;
  }
  const ResponsePlan& plan = *stream->plan;
  if (plan.reset == ResetMode::BeforeHeaders) {
    nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_INTERNAL_ERROR);
    return;
  }
  stream->cursor = std::make_unique<BodyCursor>(plan);
  const std::string status_name = ":status";
  const std::string status = std::to_string(plan.status);
  const std::string length_name = "content-length";
  const std::string length = std::to_string(plan.bodySize());
  std::vector<nghttp2_nv> nva;
  nva.reserve(plan.headers.size() + 2);
  nva.push_back(makeNv(status_name, status));
  for (const auto& [name, value] : plan.headers) {
    nva.push_back(makeNv(name, value));
  }
  const bool framed = !(plan.status < 200 || plan.status == 204 || plan.status == 304);
  if (framed) {
    nva.push_back(makeNv(length_name, length));
  }
  if (plan.no_body && plan.reset == ResetMode::None) {
    nghttp2_submit_response(session_.get(), stream_id, nva.data(), nva.size(), nullptr);
    return;
  }
  nghttp2_data_provider provider{};
  provider.read_callback = &Http2Handler::readBody;
  nghttp2_submit_response(session_.get(), stream_id, nva.data(), nva.size(), &provider);
}

ssize_t Http2Handler::readBody(nghttp2_session* /*s*/, int32_t stream_id, uint8_t* buf,
                               size_t length, uint32_t* data_flags, nghttp2_data_source* /*source*/,
                               void* user) noexcept {
  auto* self = static_cast<Http2Handler*>(user);
  Stream* stream = self->find(stream_id);
  if (stream == nullptr || !stream->cursor) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  return self->produce(*stream, stream_id, buf, length, data_flags);
}

ssize_t Http2Handler::produce(Stream& stream, int32_t stream_id, uint8_t* buf, size_t length,
                              uint32_t* data_flags) {
  BodyCursor& cursor = *stream.cursor;
  if (cursor.atResetPoint()) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; // nghttp2 sends RST_STREAM(INTERNAL_ERROR)
  }
  if (stream.waiting) {
    return NGHTTP2_ERR_DEFERRED;
  }
  if (cursor.atSegmentEnd()) {
    cursor.nextSegment();
    if (stream.plan->chunk_delay.count() > 0) {
      stream.waiting = true;
      if (!stream.chunk_timer) {
        stream.chunk_timer = std::make_unique<Timer>(conn_.server().base(),
                                                     [this, stream_id] { resumeBody(stream_id); });
      }
      stream.chunk_timer->arm(stream.plan->chunk_delay);
      return NGHTTP2_ERR_DEFERRED;
    }
  }
  const size_t n = cursor.read(reinterpret_cast<char*>(buf), length);
  if (cursor.done()) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    if (stream.plan->trailers) {
      *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      const std::string n1 = "grpc-status";
      const std::string v1 = "0";
      const std::string n2 = "x-trailer";
      const std::string v2 = "yes";
      const nghttp2_nv trailers[] = {makeNv(n1, v1), makeNv(n2, v2)};
      nghttp2_submit_trailer(session_.get(), stream_id, trailers, 2);
    }
  }
  return static_cast<ssize_t>(n);
}

void Http2Handler::resumeBody(int32_t stream_id) {
  graveyard_.clear();
  Stream* stream = find(stream_id);
  if (stream == nullptr || conn_.finishing()) {
    return;
  }
  stream->waiting = false;
  nghttp2_session_resume_data(session_.get(), stream_id);
  flush();
}

void Http2Handler::onRead() {
  graveyard_.clear();
  evbuffer* in = conn_.input();
  for (int guard = 0; guard < 100000 && evbuffer_get_length(in) > 0; ++guard) {
    evbuffer_iovec vec{};
    if (evbuffer_peek(in, -1, nullptr, &vec, 1) < 1) {
      break;
    }
    const ssize_t n = nghttp2_session_mem_recv(
        session_.get(), static_cast<const uint8_t*>(vec.iov_base), vec.iov_len);
    if (n < 0) {
      conn_.close();
      return;
    }
    evbuffer_drain(in, static_cast<size_t>(n));
    if (conn_.finishing()) {
      return;
    }
  }
  flush();
}

void Http2Handler::onWrite() {
  graveyard_.clear();
  flush();
}

void Http2Handler::flush() {
  if (conn_.finishing()) {
    return;
  }
  evbuffer* out = conn_.output();
  for (int guard = 0; guard < 1000000; ++guard) {
    if (evbuffer_get_length(out) >= Connection::kOutputHighWater) {
      return; // onWrite() continues once the output drains to its low watermark
    }
    const uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_.get(), &data);
    if (n < 0) {
      conn_.close();
      return;
    }
    if (n == 0) {
      break;
    }
    evbuffer_add(out, data, static_cast<size_t>(n));
  }
  if (nghttp2_session_want_read(session_.get()) == 0 &&
      nghttp2_session_want_write(session_.get()) == 0) {
    conn_.finish();
  }
}

} // namespace seawall::test_upstream
