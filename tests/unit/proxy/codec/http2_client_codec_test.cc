// Http2ClientCodec against a raw nghttp2 server session (the test scripts every frame the
// "upstream" sends), pumped through a fake connection in a bounded loop.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "proxy/codec/http2_client_codec.h"

namespace seawall::proxy {
namespace {

std::string drainToString(evbuffer* data) {
  std::string s(evbuffer_get_length(data), '\0');
  evbuffer_remove(data, s.data(), s.size());
  return s;
}

class FakeConnection : public CodecConnection {
public:
  explicit FakeConnection(Dispatcher& dispatcher) : dispatcher_(dispatcher) {}
  evbuffer* output() override { return out_.get(); }
  void closeAfterFlush() override {
    close_after_flush = true;
    if (evbuffer_get_length(out_.get()) == 0) {
      closeNow();
    }
  }
  void closeNow() override {
    if (!closed) {
      closed = true;
      if (on_close) {
        on_close();
      }
    }
  }
  void readDisable(bool /*disable*/) override {}
  Dispatcher& dispatcher() override { return dispatcher_; }
  uint64_t id() const override { return 7; }

  bool closed = false;
  bool close_after_flush = false;
  std::function<void()> on_close;

private:
  Dispatcher& dispatcher_;
  EvBufferPtr out_ = makeEvBuffer();
};

// The upstream: an nghttp2 server session that records requests and answers as told.
class RawServer {
public:
  struct Stream {
    std::map<std::string, std::string> headers; // last value wins
    std::vector<std::string> names;
    std::string body;
    bool ended = false;
    bool closed = false;
    uint32_t close_error = 0;
    std::string out;
    size_t out_pos = 0;
    bool out_end = false;
    std::vector<std::pair<std::string, std::string>> out_trailers;
  };

  RawServer() {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, &onHeader);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &onData);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &onFrame);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, &onClose);
    nghttp2_session* s = nullptr;
    nghttp2_session_server_new(&s, cb, this);
    session.reset(s);
    nghttp2_session_callbacks_del(cb);
    settings({}); // a server's first frame must be SETTINGS
  }

  void settings(std::vector<nghttp2_settings_entry> entries) {
    nghttp2_submit_settings(session.get(), NGHTTP2_FLAG_NONE, entries.data(), entries.size());
  }

  void respond(int32_t id, int status, std::string body, bool end = true,
               std::vector<std::pair<std::string, std::string>> trailers = {}) {
    Stream& st = streams[id];
    st.out = std::move(body);
    st.out_end = end;
    st.out_trailers = std::move(trailers);
    std::string code = std::to_string(status);
    nghttp2_nv nv[] = {makeNv(":status", code)};
    nghttp2_data_provider provider{};
    provider.source.ptr = &st;
    provider.read_callback = &readBody;
    bool headers_only = st.out.empty() && end && st.out_trailers.empty();
    nghttp2_submit_response(session.get(), id, nv, 1, headers_only ? nullptr : &provider);
  }

  void informational(int32_t id) {
    nghttp2_nv nv[] = {makeNv(":status", "100")};
    nghttp2_submit_headers(session.get(), NGHTTP2_FLAG_NONE, id, nullptr, nv, 1, nullptr);
  }

  static nghttp2_nv makeNv(std::string_view name, std::string_view value) {
    return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                      reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                      value.size(), NGHTTP2_NV_FLAG_NONE};
  }

  Nghttp2SessionPtr session;
  std::map<int32_t, Stream> streams;
  int goaways = 0;

private:
  static RawServer& self(void* p) { return *static_cast<RawServer*>(p); }
  static int onHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                      void* user) noexcept {
    Stream& st = self(user).streams[frame->hd.stream_id];
    std::string n(reinterpret_cast<const char*>(name), namelen);
    st.names.push_back(n);
    st.headers[n] = std::string(reinterpret_cast<const char*>(value), valuelen);
    return 0;
  }
  static int onData(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len,
                    void* user) noexcept {
    self(user).streams[id].body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }
  static int onFrame(nghttp2_session*, const nghttp2_frame* frame, void* user) noexcept {
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0 &&
        (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA)) {
      self(user).streams[frame->hd.stream_id].ended = true;
    }
    if (frame->hd.type == NGHTTP2_GOAWAY) {
      ++self(user).goaways;
    }
    return 0;
  }
  static int onClose(nghttp2_session*, int32_t id, uint32_t error, void* user) noexcept {
    Stream& st = self(user).streams[id];
    st.closed = true;
    st.close_error = error;
    return 0;
  }
  static ssize_t readBody(nghttp2_session* session, int32_t id, uint8_t* buf, size_t length,
                          uint32_t* flags, nghttp2_data_source* source, void*) noexcept {
    auto* st = static_cast<Stream*>(source->ptr);
    size_t n = std::min(length, st->out.size() - st->out_pos);
    std::copy_n(st->out.data() + st->out_pos, n, buf);
    st->out_pos += n;
    if (st->out_pos == st->out.size()) {
      if (!st->out_end) {
        return n == 0 ? static_cast<ssize_t>(NGHTTP2_ERR_DEFERRED) : static_cast<ssize_t>(n);
      }
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      if (!st->out_trailers.empty()) {
        std::vector<nghttp2_nv> nv;
        for (auto& [k, v] : st->out_trailers) {
          nv.push_back(makeNv(k, v));
        }
        nghttp2_submit_trailer(session, id, nv.data(), nv.size());
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      }
    }
    return static_cast<ssize_t>(n);
  }
};

struct ClientReq : public ClientStreamCallbacks {
  void onResponseHeaders(ResponseHead&& h, bool end_stream) override {
    ++heads;
    head = std::move(h);
    ended = end_stream;
    headers_end_stream = end_stream;
    if (on_headers) {
      on_headers(*this);
    }
  }
  void onResponseData(evbuffer* data, bool end_stream) override {
    body += drainToString(data);
    ended = end_stream;
  }
  void onResponseTrailers(HeaderMap&& t) override {
    trailers = std::move(t);
    ended = true;
  }
  void onUpstreamReset(UpstreamFailure why) override { failure = why; }
  void onUpstreamWritable() override { ++writable; }

  ClientStream* stream = nullptr;
  std::function<void(ClientReq&)> on_headers;
  int heads = 0;
  ResponseHead head;
  bool headers_end_stream = false;
  std::string body;
  HeaderMap trailers;
  bool ended = false;
  std::optional<UpstreamFailure> failure;
  int writable = 0;
};

class Http2ClientCodecTest : public ::testing::Test, public ClientCodecCallbacks {
protected:
  void SetUp() override {
    codec = std::make_unique<Http2ClientCodec>(conn, *this);
    conn.on_close = [this] { codec->onConnectionClose(UpstreamFailure::Reset); };
  }
  void onCapacityChanged() override { ++capacity_changes; }

  void connect() {
    codec->onConnected();
    pump();
  }

  // Client output -> upstream, upstream output -> client, until both are quiet (bounded).
  void pump() {
    for (int i = 0; i < 10000; ++i) {
      bool moved = false;
      size_t len = evbuffer_get_length(conn.output());
      if (len > 0 && !conn.closed) {
        std::string bytes = drainToString(conn.output());
        ssize_t rv = nghttp2_session_mem_recv(
            upstream.session.get(), reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
        EXPECT_EQ(rv, static_cast<ssize_t>(bytes.size()));
        moved = true;
        if (conn.close_after_flush) {
          conn.closeNow();
        } else {
          codec->onWritable();
        }
      }
      const uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(upstream.session.get(), &data);
      if (n > 0 && !conn.closed) {
        EvBufferPtr in = makeEvBuffer();
        evbuffer_add(in.get(), data, static_cast<size_t>(n));
        codec->onRead(in.get());
        moved = true;
      }
      dispatcher.flush();
      if (!moved) {
        return;
      }
    }
    FAIL() << "pump did not settle";
  }

  ClientReq& request(const std::string& path, bool end_stream, HeaderMap headers = {},
                     const std::string& method = "GET") {
    reqs.push_back(std::make_unique<ClientReq>());
    ClientReq& r = *reqs.back();
    r.stream = &codec->newStream(r);
    RequestHead head;
    head.method = method;
    head.scheme = "http";
    head.authority = "upstream.local";
    head.path = path;
    head.headers = std::move(headers);
    r.stream->sendHeaders(head, end_stream);
    return r;
  }

  EventBasePtr base{event_base_new()};
  Dispatcher dispatcher{base.get()};
  FakeConnection conn{dispatcher};
  RawServer upstream;
  std::unique_ptr<Http2ClientCodec> codec;
  std::vector<std::unique_ptr<ClientReq>> reqs;
  int capacity_changes = 0;
};

TEST_F(Http2ClientCodecTest, RequestHeadConvertedToHttp2) {
  connect();
  HeaderMap headers;
  headers.add("host", "ignored.example");
  headers.add("connection", "keep-alive, x-hop");
  headers.add("keep-alive", "timeout=5");
  headers.add("x-hop", "1");
  headers.add("transfer-encoding", "chunked");
  headers.add("upgrade", "h2c");
  headers.add("te", "gzip");
  headers.add("X-Keep", "yes");
  request("/p?q=1", true, std::move(headers));
  pump();
  ASSERT_EQ(upstream.streams.count(1), 1u);
  RawServer::Stream& st = upstream.streams[1];
  EXPECT_EQ(st.headers[":method"], "GET");
  EXPECT_EQ(st.headers[":scheme"], "http");
  EXPECT_EQ(st.headers[":authority"], "upstream.local");
  EXPECT_EQ(st.headers[":path"], "/p?q=1");
  EXPECT_EQ(st.headers["x-keep"], "yes");
  for (const char* dropped :
       {"host", "connection", "keep-alive", "x-hop", "transfer-encoding", "upgrade", "te"}) {
    EXPECT_EQ(st.headers.count(dropped), 0u) << dropped;
  }
  EXPECT_TRUE(st.ended);
}

TEST_F(Http2ClientCodecTest, CanTakeStreamFollowsPeerMaxConcurrentStreams) {
  EXPECT_FALSE(codec->canTakeStream()); // not connected yet
  codec->onConnected();
  EXPECT_TRUE(codec->canTakeStream()); // 100 assumed until the peer's SETTINGS
  upstream.settings({{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 2}});
  pump();
  EXPECT_GE(capacity_changes, 1);
  ClientReq& a = request("/a", true);
  EXPECT_TRUE(codec->canTakeStream());
  request("/b", true);
  EXPECT_FALSE(codec->canTakeStream());
  EXPECT_EQ(codec->activeStreams(), 2u);
  pump();
  int before = capacity_changes;
  upstream.respond(1, 200, "done");
  pump();
  EXPECT_EQ(a.body, "done");
  EXPECT_TRUE(a.ended);
  EXPECT_GT(capacity_changes, before);
  EXPECT_TRUE(codec->canTakeStream());
  EXPECT_EQ(codec->activeStreams(), 1u);
}

TEST_F(Http2ClientCodecTest, GoawayRefusesStreamsAboveLastStreamId) {
  connect();
  ClientReq& a = request("/1", true);
  ClientReq& b = request("/3", true);
  ClientReq& c = request("/5", true);
  pump();
  ASSERT_EQ(upstream.streams.size(), 3u);
  nghttp2_submit_goaway(upstream.session.get(), NGHTTP2_FLAG_NONE, 1, NGHTTP2_NO_ERROR, nullptr, 0);
  pump();
  ASSERT_TRUE(b.failure);
  EXPECT_EQ(*b.failure, UpstreamFailure::RefusedStream);
  ASSERT_TRUE(c.failure);
  EXPECT_EQ(*c.failure, UpstreamFailure::RefusedStream);
  EXPECT_FALSE(a.failure);
  EXPECT_FALSE(codec->canTakeStream());
  EXPECT_FALSE(conn.closed); // stream 1 still runs
  upstream.respond(1, 200, "last");
  pump();
  EXPECT_EQ(a.body, "last");
  EXPECT_TRUE(a.ended);
  EXPECT_TRUE(conn.close_after_flush); // the last stream closed the connection
  EXPECT_TRUE(conn.closed);
}

TEST_F(Http2ClientCodecTest, RequestQueuedInNghttp2IsRefusedAfterGoaway) {
  connect();
  upstream.settings({{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1}});
  pump();
  ClientReq& a = request("/1", true);
  // Beyond the peer's limit nghttp2 queues the request instead of sending it.
  ClientReq& queued = request("/3", true);
  pump();
  EXPECT_EQ(upstream.streams.count(3), 0u);
  nghttp2_submit_goaway(upstream.session.get(), NGHTTP2_FLAG_NONE, 1, NGHTTP2_NO_ERROR, nullptr, 0);
  upstream.respond(1, 200, "a");
  pump();
  EXPECT_EQ(a.body, "a");
  ASSERT_TRUE(queued.failure);
  EXPECT_EQ(*queued.failure, UpstreamFailure::RefusedStream);
  EXPECT_EQ(codec->activeStreams(), 0u);
  EXPECT_TRUE(conn.closed);
}

TEST_F(Http2ClientCodecTest, InformationalDroppedAndTrailersDelivered) {
  connect();
  ClientReq& r = request("/t", true);
  pump();
  upstream.informational(1);
  upstream.respond(1, 200, "body", true, {{"grpc-status", "0"}});
  pump();
  EXPECT_EQ(r.heads, 1);
  EXPECT_EQ(r.head.status, 200);
  EXPECT_EQ(r.body, "body");
  ASSERT_NE(r.trailers.get("grpc-status"), nullptr);
  EXPECT_EQ(*r.trailers.get("grpc-status"), "0");
  EXPECT_TRUE(r.ended);
  EXPECT_EQ(codec->activeStreams(), 0u);
}

TEST_F(Http2ClientCodecTest, HeadersOnlyResponseEndsStream) {
  connect();
  ClientReq& r = request("/h", true);
  pump();
  upstream.respond(1, 204, "");
  pump();
  EXPECT_EQ(r.head.status, 204);
  EXPECT_TRUE(r.headers_end_stream);
  EXPECT_EQ(codec->activeStreams(), 0u);
}

TEST_F(Http2ClientCodecTest, PeerResetMapsToResetOrRefused) {
  connect();
  ClientReq& a = request("/a", true);
  ClientReq& b = request("/b", true);
  pump();
  nghttp2_submit_rst_stream(upstream.session.get(), NGHTTP2_FLAG_NONE, 1, NGHTTP2_INTERNAL_ERROR);
  nghttp2_submit_rst_stream(upstream.session.get(), NGHTTP2_FLAG_NONE, 3, NGHTTP2_REFUSED_STREAM);
  pump();
  ASSERT_TRUE(a.failure);
  EXPECT_EQ(*a.failure, UpstreamFailure::Reset);
  ASSERT_TRUE(b.failure);
  EXPECT_EQ(*b.failure, UpstreamFailure::RefusedStream);
  EXPECT_EQ(codec->activeStreams(), 0u);
}

TEST_F(Http2ClientCodecTest, ConnectionCloseResetsSentStreamsAndReportsWhyForOthers) {
  connect();
  ClientReq& sent = request("/sent", true);
  pump();
  reqs.push_back(std::make_unique<ClientReq>());
  ClientReq& waiting = *reqs.back();
  waiting.stream = &codec->newStream(waiting); // never sent
  codec->onConnectionClose(UpstreamFailure::ConnectFailure);
  ASSERT_TRUE(sent.failure);
  EXPECT_EQ(*sent.failure, UpstreamFailure::Reset);
  ASSERT_TRUE(waiting.failure);
  EXPECT_EQ(*waiting.failure, UpstreamFailure::ConnectFailure);
  EXPECT_EQ(codec->activeStreams(), 0u);
  EXPECT_FALSE(codec->canTakeStream());
}

TEST_F(Http2ClientCodecTest, WriteBlockedUntilPeerReads) {
  connect();
  ClientReq& r = request("/upload", false, {}, "POST");
  const std::string big(size_t{1024} * 1024, 'u');
  EvBufferPtr data = makeEvBuffer();
  evbuffer_add(data.get(), big.data(), big.size());
  r.stream->sendData(data.get(), true);
  EXPECT_EQ(evbuffer_get_length(data.get()), 0u);
  EXPECT_TRUE(r.stream->writeBlocked()); // the peer has not read anything yet
  EXPECT_EQ(r.writable, 0);
  EXPECT_LE(evbuffer_get_length(conn.output()), kHttp2OutputHighWatermark + size_t{16} * 1024 + 64);
  pump();
  EXPECT_GE(r.writable, 1);
  EXPECT_FALSE(r.stream->writeBlocked());
  EXPECT_EQ(upstream.streams[1].body, big);
  EXPECT_TRUE(upstream.streams[1].ended);
}

TEST_F(Http2ClientCodecTest, ReadDisableHoldsTheStreamWindow) {
  connect();
  ClientReq& r = request("/download", true);
  r.on_headers = [](ClientReq& req) { req.stream->readDisable(true); };
  pump();
  const std::string big(size_t{512} * 1024, 'd');
  upstream.respond(1, 200, big);
  pump();
  EXPECT_GT(r.body.size(), 0u);
  EXPECT_LE(r.body.size(), kHttp2ClientStreamWindow);
  EXPECT_EQ(nghttp2_session_get_stream_remote_window_size(upstream.session.get(), 1), 0);
  r.stream->readDisable(false);
  pump();
  EXPECT_EQ(r.body, big);
  EXPECT_TRUE(r.ended);
}

TEST_F(Http2ClientCodecTest, ResponseBeforeRequestEndCancelsRestOfRequest) {
  connect();
  ClientReq& r = request("/early", false, {}, "POST");
  EvBufferPtr data = makeEvBuffer();
  evbuffer_add(data.get(), "part", 4);
  r.stream->sendData(data.get(), false);
  pump();
  upstream.respond(1, 413, "too big");
  pump();
  EXPECT_EQ(r.head.status, 413);
  EXPECT_TRUE(r.ended);
  EXPECT_FALSE(r.failure);
  EXPECT_TRUE(upstream.streams[1].closed);
  EXPECT_EQ(upstream.streams[1].close_error, static_cast<uint32_t>(NGHTTP2_NO_ERROR));
  EXPECT_EQ(codec->activeStreams(), 0u);
}

TEST_F(Http2ClientCodecTest, ResetFromApplicationCancelsStream) {
  connect();
  ClientReq& unsent = *reqs.emplace_back(std::make_unique<ClientReq>());
  unsent.stream = &codec->newStream(unsent);
  ClientReq& r = request("/cancel", false, {}, "POST");
  pump();
  EXPECT_EQ(codec->activeStreams(), 2u);
  unsent.stream->reset();
  r.stream->reset();
  EXPECT_EQ(codec->activeStreams(), 0u);
  pump();
  EXPECT_TRUE(upstream.streams[1].closed);
  EXPECT_EQ(upstream.streams[1].close_error, static_cast<uint32_t>(NGHTTP2_CANCEL));
  EXPECT_FALSE(r.failure);
  EXPECT_FALSE(unsent.failure);
}

TEST_F(Http2ClientCodecTest, GarbageFromPeerIsAProtocolError) {
  connect();
  ClientReq& r = request("/x", true);
  pump();
  EvBufferPtr junk = makeEvBuffer();
  std::string bytes(64, '\xff');
  evbuffer_add(junk.get(), bytes.data(), bytes.size());
  codec->onRead(junk.get());
  EXPECT_TRUE(conn.close_after_flush);
  pump();
  EXPECT_TRUE(conn.closed);
  ASSERT_TRUE(r.failure);
  // nghttp2 may fail mem_recv (ProtocolError) or terminate the session itself (Reset: the
  // connection died after the request was sent); either way the peer got a GOAWAY.
  EXPECT_TRUE(*r.failure == UpstreamFailure::ProtocolError || *r.failure == UpstreamFailure::Reset);
  EXPECT_EQ(upstream.goaways, 1);
}

} // namespace
} // namespace seawall::proxy
