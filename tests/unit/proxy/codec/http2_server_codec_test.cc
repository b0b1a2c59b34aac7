// Http2ServerCodec driven by an Http2ClientCodec in the same process: two fake connections whose
// output buffers are pumped into each other's onRead in a bounded loop.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "proxy/codec/http2_client_codec.h"
#include "proxy/codec/http2_server_codec.h"

namespace seawall::proxy {
namespace {

std::string drainToString(evbuffer* data) {
  std::string s(evbuffer_get_length(data), '\0');
  evbuffer_remove(data, s.data(), s.size());
  return s;
}

class FakeConnection : public CodecConnection {
public:
  FakeConnection(Dispatcher& dispatcher, uint64_t id) : dispatcher_(dispatcher), id_(id) {}
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
  uint64_t id() const override { return id_; }

  bool closed = false;
  bool close_after_flush = false;
  std::function<void()> on_close;

private:
  Dispatcher& dispatcher_;
  uint64_t id_;
  EvBufferPtr out_ = makeEvBuffer();
};

class ServerApp;

struct ServerReq : public ServerStreamCallbacks {
  ServerReq(ServerApp& a, ServerStream& s) : app(a), stream(&s) {}
  void onRequestHeaders(RequestHead&& h, bool end_stream) override;
  void onRequestData(evbuffer* data, bool end_stream) override;
  void onRequestTrailers(HeaderMap&& t) override;
  void onDownstreamReset() override { reset = true; }
  void onDownstreamWritable() override { ++writable; }
  void finish();

  ServerApp& app;
  ServerStream* stream;
  RequestHead head;
  uint32_t stream_id = 0;
  std::string peer;
  std::string body;
  HeaderMap trailers;
  bool ended = false;
  bool reset = false;
  int writable = 0;
};

class ServerApp : public ServerCodecCallbacks {
public:
  ServerStreamCallbacks& newStream(ServerStream& stream) override {
    reqs.push_back(std::make_unique<ServerReq>(*this, stream));
    return *reqs.back();
  }
  void onCodecError(int status, std::string_view reason) override {
    errors.emplace_back(status, std::string(reason));
  }

  std::vector<std::unique_ptr<ServerReq>> reqs;
  std::vector<std::pair<int, std::string>> errors;
  std::function<void(ServerReq&)> on_headers;
  // Default: answer 200 with "ok:<path>" once the request ended.
  std::function<void(ServerReq&)> on_end = [](ServerReq& r) {
    ResponseHead head;
    head.status = 200;
    head.headers.add("content-type", "text/plain");
    r.stream->sendHeaders(std::move(head), false);
    EvBufferPtr body = makeEvBuffer();
    std::string text = "ok:" + r.head.path;
    evbuffer_add(body.get(), text.data(), text.size());
    r.stream->sendData(body.get(), true);
  };
};

void ServerReq::onRequestHeaders(RequestHead&& h, bool end_stream) {
  head = std::move(h);
  stream_id = stream->streamId();
  peer = stream->peerAddress();
  if (app.on_headers) {
    app.on_headers(*this);
  }
  if (end_stream) {
    finish();
  }
}
void ServerReq::onRequestData(evbuffer* data, bool end_stream) {
  body += drainToString(data);
  if (end_stream) {
    finish();
  }
}
void ServerReq::onRequestTrailers(HeaderMap&& t) {
  trailers = std::move(t);
  finish();
}
void ServerReq::finish() {
  ended = true;
  if (app.on_end) {
    app.on_end(*this);
  }
}

struct ClientReq : public ClientStreamCallbacks {
  void onResponseHeaders(ResponseHead&& h, bool end_stream) override {
    ++heads;
    head = std::move(h);
    ended = end_stream;
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
  int heads = 0;
  ResponseHead head;
  std::string body;
  HeaderMap trailers;
  bool ended = false;
  std::optional<UpstreamFailure> failure;
  int writable = 0;
};

class CapacityCounter : public ClientCodecCallbacks {
public:
  void onCapacityChanged() override { ++changes; }
  int changes = 0;
};

class Http2ServerCodecTest : public ::testing::Test {
protected:
  void start(ServerCodecLimits limits = {}, bool handshake = true) {
    server = std::make_unique<Http2ServerCodec>(server_conn, app, limits, "127.0.0.1");
    client = std::make_unique<Http2ClientCodec>(client_conn, capacity);
    server_conn.on_close = [this] {
      server->onConnectionClose();
      client_conn.closeNow(); // the peer sees EOF
    };
    client_conn.on_close = [this] {
      client->onConnectionClose(UpstreamFailure::Reset);
      server_conn.closeNow();
    };
    client->onConnected();
    if (handshake) {
      pump();
    }
  }

  // Moves bytes both ways until neither side has anything to say (bounded).
  void pump(bool client_reads = true) {
    for (int i = 0; i < 10000; ++i) {
      bool moved = move(server_conn, client_conn, *client, client_reads);
      moved = move(client_conn, server_conn, *server, true) || moved;
      dispatcher.flush();
      if (!moved) {
        return;
      }
    }
    FAIL() << "pump did not settle";
  }

  template <typename Codec>
  bool move(FakeConnection& from, FakeConnection& to, Codec& codec, bool reads) {
    size_t len = evbuffer_get_length(from.output());
    if (len == 0 || !reads || from.closed || to.closed) {
      return false;
    }
    EvBufferPtr in = makeEvBuffer();
    evbuffer_add_buffer(in.get(), from.output());
    codec.onRead(in.get());
    if (from.close_after_flush) {
      from.closeNow();
    } else if (&from == &server_conn) {
      server->onWritable();
    } else {
      client->onWritable();
    }
    return true;
  }

  ClientReq& request(const std::string& method, const std::string& path, bool end_stream,
                     HeaderMap headers = {}) {
    creqs.push_back(std::make_unique<ClientReq>());
    ClientReq& r = *creqs.back();
    r.stream = &client->newStream(r);
    RequestHead head;
    head.method = method;
    head.scheme = "http";
    head.authority = "example.com";
    head.path = path;
    head.headers = std::move(headers);
    r.stream->sendHeaders(head, end_stream);
    return r;
  }

  static void sendBody(ClientStream& stream, const std::string& data, bool end_stream) {
    EvBufferPtr buf = makeEvBuffer();
    evbuffer_add(buf.get(), data.data(), data.size());
    stream.sendData(buf.get(), end_stream);
    EXPECT_EQ(evbuffer_get_length(buf.get()), 0u); // send functions drain what they are given
  }

  EventBasePtr base{event_base_new()};
  Dispatcher dispatcher{base.get()};
  FakeConnection server_conn{dispatcher, 1};
  FakeConnection client_conn{dispatcher, 2};
  ServerApp app;
  CapacityCounter capacity;
  std::unique_ptr<Http2ServerCodec> server;
  std::unique_ptr<Http2ClientCodec> client;
  std::vector<std::unique_ptr<ClientReq>> creqs;
};

TEST_F(Http2ServerCodecTest, GetWithoutBody) {
  start();
  HeaderMap headers;
  headers.add("accept", "*/*");
  headers.add("connection", "keep-alive"); // connection-specific: never crosses into h2
  headers.add("cookie", "a=1");
  headers.add("cookie", "b=2");
  ClientReq& r = request("GET", "/a?x=1", true, std::move(headers));
  pump();
  ASSERT_EQ(app.reqs.size(), 1u);
  const RequestHead& head = app.reqs[0]->head;
  EXPECT_EQ(head.method, "GET");
  EXPECT_EQ(head.scheme, "http");
  EXPECT_EQ(head.authority, "example.com");
  EXPECT_EQ(head.path, "/a?x=1");
  EXPECT_EQ(head.version, 20);
  EXPECT_EQ(head.headers.count("cookie"), 2u);
  EXPECT_FALSE(head.headers.has("connection"));
  EXPECT_EQ(app.reqs[0]->stream_id, 1u);
  EXPECT_EQ(app.reqs[0]->peer, "127.0.0.1");
  EXPECT_EQ(r.head.status, 200);
  EXPECT_EQ(r.body, "ok:/a?x=1");
  EXPECT_TRUE(r.ended);
  EXPECT_FALSE(r.failure);
  EXPECT_EQ(server->activeStreams(), 0u);
  EXPECT_EQ(client->activeStreams(), 0u);
  EXPECT_TRUE(app.errors.empty());
}

TEST_F(Http2ServerCodecTest, GetWithBodyAndHeadersOnlyResponse) {
  start();
  app.on_end = [](ServerReq& req) {
    ResponseHead head;
    head.status = 204;
    req.stream->sendHeaders(std::move(head), true);
  };
  ClientReq& r = request("GET", "/b", false);
  sendBody(*r.stream, "abc", true);
  pump();
  ASSERT_EQ(app.reqs.size(), 1u);
  EXPECT_EQ(app.reqs[0]->body, "abc");
  EXPECT_TRUE(app.reqs[0]->ended);
  EXPECT_EQ(r.head.status, 204);
  EXPECT_TRUE(r.ended);
  EXPECT_EQ(r.body, "");
}

TEST_F(Http2ServerCodecTest, PostLargeBodyHonoursReadDisable) {
  ServerCodecLimits limits;
  limits.stream_window = 64 * 1024;
  start(limits);
  app.on_headers = [](ServerReq& req) {
    req.stream->readDisable(true);
    req.stream->readDisable(true); // nested
  };
  const std::string body(size_t{1024} * 1024, 'p');
  ClientReq& r = request("POST", "/upload", false);
  sendBody(*r.stream, body, true);
  pump();
  ASSERT_EQ(app.reqs.size(), 1u);
  ServerReq& req = *app.reqs[0];
  size_t held = req.body.size();
  EXPECT_GT(held, 0u);
  EXPECT_LE(held, limits.stream_window); // the window was never returned
  pump();
  EXPECT_EQ(req.body.size(), held);
  req.stream->readDisable(false); // still disabled once
  pump();
  EXPECT_EQ(req.body.size(), held);
  req.stream->readDisable(false);
  pump();
  EXPECT_EQ(req.body.size(), body.size());
  EXPECT_EQ(req.body, body);
  EXPECT_TRUE(req.ended);
  EXPECT_EQ(r.head.status, 200);
  EXPECT_TRUE(r.ended);
}

TEST_F(Http2ServerCodecTest, ResponseTrailers) {
  start();
  app.on_end = [](ServerReq& req) {
    ResponseHead head;
    head.status = 200;
    head.headers.add("content-type", "application/grpc");
    req.stream->sendHeaders(std::move(head), false);
    EvBufferPtr data = makeEvBuffer();
    evbuffer_add(data.get(), "xyz", 3);
    req.stream->sendData(data.get(), false);
    HeaderMap trailers;
    trailers.add("grpc-status", "0");
    req.stream->sendTrailers(std::move(trailers));
  };
  ClientReq& r = request("POST", "/svc/M", true);
  pump();
  EXPECT_EQ(r.head.status, 200);
  EXPECT_EQ(r.body, "xyz");
  ASSERT_NE(r.trailers.get("grpc-status"), nullptr);
  EXPECT_EQ(*r.trailers.get("grpc-status"), "0");
  EXPECT_TRUE(r.ended);
  EXPECT_FALSE(r.failure);
}

TEST_F(Http2ServerCodecTest, RequestTrailers) {
  start();
  HeaderMap headers;
  headers.add("te", "trailers");
  ClientReq& r = request("POST", "/t", false, std::move(headers));
  sendBody(*r.stream, "12345", false);
  HeaderMap trailers;
  trailers.add("x-checksum", "abc");
  r.stream->sendTrailers(std::move(trailers));
  pump();
  ASSERT_EQ(app.reqs.size(), 1u);
  ServerReq& req = *app.reqs[0];
  EXPECT_EQ(req.body, "12345");
  ASSERT_NE(req.head.headers.get("te"), nullptr);
  ASSERT_NE(req.trailers.get("x-checksum"), nullptr);
  EXPECT_EQ(*req.trailers.get("x-checksum"), "abc");
  EXPECT_TRUE(req.ended);
  EXPECT_EQ(r.body, "ok:/t");
}

TEST_F(Http2ServerCodecTest, ThousandConcurrentStreams) {
  ServerCodecLimits limits;
  limits.max_concurrent_streams = 1000;
  start(limits);
  // Hold every answer until all 1,000 requests are open at once.
  app.on_end = nullptr;
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(client->canTakeStream()) << i;
    request("GET", "/s" + std::to_string(i), true);
  }
  EXPECT_FALSE(client->canTakeStream());
  pump();
  ASSERT_EQ(app.reqs.size(), 1000u);
  EXPECT_EQ(server->activeStreams(), 1000u);
  for (auto& req : app.reqs) {
    ResponseHead head;
    head.status = 200;
    req->stream->sendHeaders(std::move(head), false);
    EvBufferPtr data = makeEvBuffer();
    evbuffer_add(data.get(), req->head.path.data(), req->head.path.size());
    req->stream->sendData(data.get(), true);
  }
  pump();
  for (size_t i = 0; i < creqs.size(); ++i) {
    EXPECT_EQ(creqs[i]->head.status, 200);
    EXPECT_EQ(creqs[i]->body, "/s" + std::to_string(i));
    EXPECT_TRUE(creqs[i]->ended);
  }
  EXPECT_TRUE(app.errors.empty());
  EXPECT_EQ(server->activeStreams(), 0u);
}

TEST_F(Http2ServerCodecTest, HeaderListOverLimitGets431AndNextStreamWorks) {
  ServerCodecLimits limits;
  limits.max_header_bytes = 1024;
  start(limits);
  HeaderMap big;
  big.add("x-big", std::string(2000, 'b'));
  ClientReq& bad = request("POST", "/big", false, std::move(big));
  sendBody(*bad.stream, "ignored body", true);
  pump();
  EXPECT_TRUE(app.reqs.empty()); // no application stream
  EXPECT_EQ(bad.head.status, 431);
  ASSERT_NE(bad.head.headers.get("x-seawall-reason"), nullptr);
  EXPECT_EQ(*bad.head.headers.get("x-seawall-reason"), "header-too-large");
  EXPECT_FALSE(bad.body.empty());
  EXPECT_TRUE(bad.ended);
  ASSERT_EQ(app.errors.size(), 1u);
  EXPECT_EQ(app.errors[0], std::make_pair(431, std::string("header-too-large")));

  ClientReq& good = request("GET", "/next", true);
  pump();
  ASSERT_EQ(app.reqs.size(), 1u);
  EXPECT_EQ(good.head.status, 200);
  EXPECT_EQ(good.body, "ok:/next");
}

TEST_F(Http2ServerCodecTest, ClientResetGivesDownstreamReset) {
  start();
  app.on_end = nullptr;
  ClientReq& r = request("POST", "/slow", false);
  sendBody(*r.stream, "part", false);
  pump();
  ASSERT_EQ(app.reqs.size(), 1u);
  EXPECT_EQ(server->activeStreams(), 1u);
  r.stream->reset();
  EXPECT_EQ(client->activeStreams(), 0u);
  pump();
  EXPECT_TRUE(app.reqs[0]->reset);
  EXPECT_EQ(server->activeStreams(), 0u);
  EXPECT_FALSE(r.failure); // reset() from the application: no callback follows
}

TEST_F(Http2ServerCodecTest, AppResetSendsRstToClient) {
  start();
  app.on_end = [](ServerReq& req) { req.stream->reset(); };
  ClientReq& r = request("GET", "/boom", true);
  pump();
  ASSERT_TRUE(r.failure);
  EXPECT_EQ(*r.failure, UpstreamFailure::Reset);
  EXPECT_FALSE(app.reqs[0]->reset); // no callback after the application's own reset()
}

TEST_F(Http2ServerCodecTest, EarlyResponseResetsRestOfRequest) {
  start();
  app.on_headers = [](ServerReq& req) {
    ResponseHead head;
    head.status = 413;
    req.stream->sendHeaders(std::move(head), true);
  };
  app.on_end = nullptr;
  ClientReq& r = request("POST", "/big-upload", false);
  sendBody(*r.stream, "first", false);
  pump();
  EXPECT_EQ(r.head.status, 413);
  EXPECT_TRUE(r.ended);
  EXPECT_FALSE(r.failure);
  EXPECT_EQ(server->activeStreams(), 0u);
  EXPECT_EQ(client->activeStreams(), 0u);
}

TEST_F(Http2ServerCodecTest, GoawayDrainLetsStreamsFinishThenCloses) {
  start();
  app.on_end = nullptr;
  ClientReq& r = request("GET", "/in-flight", true);
  pump();
  ASSERT_EQ(app.reqs.size(), 1u);
  server->drain();
  pump();
  EXPECT_FALSE(client->canTakeStream());
  EXPECT_FALSE(server_conn.closed);
  ResponseHead head;
  head.status = 200;
  app.reqs[0]->stream->sendHeaders(std::move(head), true);
  pump();
  EXPECT_EQ(r.head.status, 200);
  EXPECT_TRUE(r.ended);
  EXPECT_TRUE(server_conn.close_after_flush);
  EXPECT_TRUE(server_conn.closed);
  EXPECT_TRUE(client_conn.closed);
}

TEST_F(Http2ServerCodecTest, ConnectionCloseResetsAttachedStreams) {
  start();
  app.on_end = nullptr;
  request("GET", "/1", true);
  request("GET", "/2", true);
  pump();
  ASSERT_EQ(app.reqs.size(), 2u);
  server_conn.closeNow();
  EXPECT_TRUE(app.reqs[0]->reset);
  EXPECT_TRUE(app.reqs[1]->reset);
  EXPECT_EQ(server->activeStreams(), 0u);
  ASSERT_TRUE(creqs[0]->failure);
  EXPECT_EQ(*creqs[0]->failure, UpstreamFailure::Reset);
}

TEST_F(Http2ServerCodecTest, Expect100ContinueIsAnsweredByTheCodec) {
  start();
  HeaderMap headers;
  headers.add("expect", "100-continue");
  ClientReq& r = request("PUT", "/e", false, std::move(headers));
  pump();
  ASSERT_EQ(app.reqs.size(), 1u);
  EXPECT_FALSE(app.reqs[0]->head.headers.has("expect"));
  sendBody(*r.stream, "data", true);
  pump();
  EXPECT_EQ(r.heads, 1); // the 100 was dropped by the client codec
  EXPECT_EQ(r.head.status, 200);
  EXPECT_EQ(app.reqs[0]->body, "data");
}

TEST_F(Http2ServerCodecTest, ConnectIsAnswered405) {
  start();
  ClientReq& r = request("CONNECT", "", true);
  pump();
  EXPECT_TRUE(app.reqs.empty());
  EXPECT_EQ(r.head.status, 405);
  ASSERT_EQ(app.errors.size(), 1u);
  EXPECT_EQ(app.errors[0].first, 405);
}

TEST_F(Http2ServerCodecTest, MalformedRequestIsReported400) {
  start();
  HeaderMap headers;
  headers.add("x-bad", "line\r\nbreak");
  ClientReq& r = request("GET", "/m", true, std::move(headers));
  pump();
  EXPECT_TRUE(app.reqs.empty());
  ASSERT_EQ(app.errors.size(), 1u);
  EXPECT_EQ(app.errors[0], std::make_pair(400, std::string("bad-request")));
  EXPECT_TRUE(r.failure);
  // The connection survives a stream error.
  ClientReq& ok = request("GET", "/ok", true);
  pump();
  EXPECT_EQ(ok.head.status, 200);
}

TEST_F(Http2ServerCodecTest, BadPrefaceIsAConnectionError) {
  server = std::make_unique<Http2ServerCodec>(server_conn, app, ServerCodecLimits{}, "127.0.0.1");
  server_conn.on_close = [this] { server->onConnectionClose(); };
  EvBufferPtr in = makeEvBuffer();
  const std::string junk = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  evbuffer_add(in.get(), junk.data(), junk.size());
  server->onRead(in.get());
  EXPECT_EQ(evbuffer_get_length(in.get()), 0u);
  ASSERT_EQ(app.errors.size(), 1u);
  EXPECT_EQ(app.errors[0], std::make_pair(400, std::string("bad-request")));
  EXPECT_TRUE(server_conn.close_after_flush);
  evbuffer_add(in.get(), junk.data(), junk.size());
  server->onRead(in.get()); // ignored after the error
  EXPECT_EQ(app.errors.size(), 1u);
}

TEST_F(Http2ServerCodecTest, StreamsOverTheLimitAreRefused) {
  ServerCodecLimits limits;
  limits.max_concurrent_streams = 1;
  start(limits, /*handshake=*/false); // the client has not seen our SETTINGS yet
  app.on_end = nullptr;
  ClientReq& first = request("GET", "/1", true);
  ClientReq& second = request("GET", "/2", true);
  pump();
  ASSERT_EQ(app.reqs.size(), 1u);
  EXPECT_EQ(app.reqs[0]->head.path, "/1");
  ASSERT_EQ(app.errors.size(), 1u);
  EXPECT_EQ(app.errors[0], std::make_pair(0, std::string("too-many-streams")));
  ASSERT_TRUE(second.failure);
  EXPECT_EQ(*second.failure, UpstreamFailure::RefusedStream);
  EXPECT_FALSE(first.failure);
}

TEST_F(Http2ServerCodecTest, OversizedFrameIsAConnectionError) {
  server = std::make_unique<Http2ServerCodec>(server_conn, app, ServerCodecLimits{}, "127.0.0.1");
  server_conn.on_close = [this] { server->onConnectionClose(); };
  std::string bytes = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  bytes += std::string("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9); // empty SETTINGS
  bytes += std::string("\xff\xff\xff\x00\x00\x00\x00\x00\x01", 9); // DATA, 16 MiB: too big
  EvBufferPtr in = makeEvBuffer();
  evbuffer_add(in.get(), bytes.data(), bytes.size());
  server->onRead(in.get());
  ASSERT_EQ(app.errors.size(), 1u);
  EXPECT_EQ(app.errors[0], std::make_pair(400, std::string("bad-request")));
  EXPECT_TRUE(server_conn.close_after_flush);
}

TEST_F(Http2ServerCodecTest, WriteBlockedUntilPeerReads) {
  start();
  const std::string big(size_t{1024} * 1024, 'r');
  app.on_end = [&big](ServerReq& req) {
    ResponseHead head;
    head.status = 200;
    req.stream->sendHeaders(std::move(head), false);
    EvBufferPtr data = makeEvBuffer();
    evbuffer_add(data.get(), big.data(), big.size());
    req.stream->sendData(data.get(), false);
  };
  ClientReq& r = request("GET", "/large", true);
  pump(/*client_reads=*/false);
  ASSERT_EQ(app.reqs.size(), 1u);
  ServerReq& req = *app.reqs[0];
  EXPECT_TRUE(req.stream->writeBlocked());
  EXPECT_EQ(req.writable, 0);
  // The codec stops filling the connection's output at its high watermark.
  EXPECT_LE(evbuffer_get_length(server_conn.output()),
            kHttp2OutputHighWatermark + size_t{16} * 1024 + 64);
  pump();
  EXPECT_GE(req.writable, 1);
  EXPECT_FALSE(req.stream->writeBlocked());
  EXPECT_EQ(r.body.size(), big.size());
  EXPECT_FALSE(r.ended);
  EvBufferPtr none = makeEvBuffer();
  req.stream->sendData(none.get(), true);
  pump();
  EXPECT_TRUE(r.ended);
}

} // namespace
} // namespace seawall::proxy
