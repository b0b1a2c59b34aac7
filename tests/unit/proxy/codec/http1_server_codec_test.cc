#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "proxy/codec/http1_server_codec.h"

namespace seawall::proxy {
namespace {

std::string drainToString(evbuffer* buf) {
  std::string s(evbuffer_get_length(buf), '\0');
  evbuffer_remove(buf, s.data(), s.size());
  return s;
}

class FakeConnection : public CodecConnection {
public:
  FakeConnection() : base_(event_base_new()), dispatcher_(base_.get()), out_(makeEvBuffer()) {}
  evbuffer* output() override { return out_.get(); }
  void closeAfterFlush() override { close_after_flush = true; }
  void closeNow() override {
    if (close_now) {
      return;
    }
    close_now = true;
    if (codec != nullptr) {
      codec->onConnectionClose();
    }
  }
  void readDisable(bool disable) override { read_disabled += disable ? 1 : -1; }
  Dispatcher& dispatcher() override { return dispatcher_; }
  uint64_t id() const override { return 7; }
  std::string takeOutput() { return drainToString(out_.get()); }

  ServerCodec* codec = nullptr;
  bool close_after_flush = false;
  bool close_now = false;
  int read_disabled = 0;

private:
  EventBasePtr base_;
  Dispatcher dispatcher_;
  EvBufferPtr out_;
};

struct RecordedStream : ServerStreamCallbacks {
  explicit RecordedStream(ServerStream& s) : stream(&s) {}
  void onRequestHeaders(RequestHead&& h, bool end_stream) override {
    head = std::move(h);
    got_headers = true;
    id = stream->streamId();
    ended = end_stream;
    if (on_headers) {
      on_headers(*this);
    }
  }
  void onRequestData(evbuffer* data, bool end_stream) override {
    body += drainToString(data);
    ended = ended || end_stream;
    ++data_calls;
    if (on_data) {
      on_data(*this);
    }
  }
  void onRequestTrailers(HeaderMap&& t) override {
    trailers = std::move(t);
    got_trailers = true;
    ended = true;
  }
  void onDownstreamReset() override { reset = true; }
  void onDownstreamWritable() override { ++writable; }

  // Answers with `status`, a content-length and `body` (or a chunked body when chunked).
  void respond(int status, const std::string& text, bool chunked = false) {
    ResponseHead h;
    h.status = status;
    if (!chunked) {
      h.headers.add("content-length", std::to_string(text.size()));
    }
    h.headers.add("x-app", "yes");
    stream->sendHeaders(std::move(h), false);
    EvBufferPtr b = makeEvBuffer();
    evbuffer_add(b.get(), text.data(), text.size());
    stream->sendData(b.get(), true);
  }
  void sendRaw(const std::string& text, bool end) {
    EvBufferPtr b = makeEvBuffer();
    evbuffer_add(b.get(), text.data(), text.size());
    stream->sendData(b.get(), end);
  }

  ServerStream* stream;
  uint32_t id = 0;
  RequestHead head;
  bool got_headers = false;
  bool ended = false;
  std::string body;
  int data_calls = 0;
  HeaderMap trailers;
  bool got_trailers = false;
  bool reset = false;
  int writable = 0;
  std::function<void(RecordedStream&)> on_headers;
  std::function<void(RecordedStream&)> on_data;
};

struct Recorder : ServerCodecCallbacks {
  ServerStreamCallbacks& newStream(ServerStream& stream) override {
    streams.push_back(std::make_unique<RecordedStream>(stream));
    if (on_new) {
      on_new(*streams.back());
    }
    return *streams.back();
  }
  void onCodecError(int status, std::string_view reason) override {
    errors.emplace_back(status, std::string(reason));
  }
  std::vector<std::unique_ptr<RecordedStream>> streams;
  std::vector<std::pair<int, std::string>> errors;
  std::function<void(RecordedStream&)> on_new;
};

class CodecHarness {
public:
  CodecHarness() { makeCodec(ServerCodecLimits{}); }
  void makeCodec(const ServerCodecLimits& limits) {
    codec_ = std::make_unique<Http1ServerCodec>(conn_, rec_, limits, "10.0.0.1");
    conn_.codec = codec_.get();
  }
  void feed(std::string_view bytes) {
    EvBufferPtr in = makeEvBuffer();
    evbuffer_add(in.get(), bytes.data(), bytes.size());
    codec_->onRead(in.get());
    EXPECT_EQ(evbuffer_get_length(in.get()), 0u);
  }
  void feedBytewise(std::string_view bytes) {
    for (char c : bytes) {
      feed(std::string_view(&c, 1));
    }
  }
  void flush() { conn_.dispatcher().flush(); }
  RecordedStream& stream(size_t i) { return *rec_.streams.at(i); }

  FakeConnection conn_;
  Recorder rec_;
  std::unique_ptr<Http1ServerCodec> codec_;
};

class Http1ServerCodecTest : public ::testing::Test, public CodecHarness {};

TEST_F(Http1ServerCodecTest, SimpleGet) {
  feed("GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nX-Foo:  bar baz \r\nAccept: */*\r\n\r\n");
  ASSERT_EQ(rec_.streams.size(), 1u);
  RecordedStream& s = stream(0);
  EXPECT_EQ(s.head.method, "GET");
  EXPECT_EQ(s.head.path, "/a?b=1");
  EXPECT_EQ(s.head.authority, "example.com");
  EXPECT_EQ(s.head.scheme, "http");
  EXPECT_EQ(s.head.version, 11);
  ASSERT_EQ(s.head.headers.size(), 2u);
  EXPECT_EQ(s.head.headers.entries()[0].name, "x-foo");
  EXPECT_EQ(s.head.headers.entries()[0].value, "bar baz");
  EXPECT_EQ(s.head.headers.entries()[1].name, "accept");
  EXPECT_TRUE(s.ended);
  EXPECT_EQ(codec_->activeStreams(), 1u);
  EXPECT_EQ(s.stream->peerAddress(), "10.0.0.1");
  EXPECT_EQ(s.stream->connectionId(), 7u);
  s.respond(200, "ok");
  EXPECT_EQ(conn_.takeOutput(), "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-app: yes\r\n\r\nok");
  EXPECT_EQ(codec_->activeStreams(), 0u);
  EXPECT_FALSE(conn_.close_after_flush);
  EXPECT_FALSE(s.reset);
}

TEST_F(Http1ServerCodecTest, KeepAliveTwoRequests) {
  feed("GET /1 HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_EQ(rec_.streams.size(), 1u);
  stream(0).respond(200, "one");
  flush();
  feed("GET /2 HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_EQ(rec_.streams.size(), 2u);
  EXPECT_EQ(stream(1).head.path, "/2");
  EXPECT_EQ(stream(0).id + 1, stream(1).id);
  stream(1).respond(200, "two");
  std::string out = conn_.takeOutput();
  EXPECT_NE(out.find("one"), std::string::npos);
  EXPECT_NE(out.find("two"), std::string::npos);
  EXPECT_EQ(out.find("connection:"), std::string::npos);
  EXPECT_FALSE(conn_.close_after_flush);
}

TEST_F(Http1ServerCodecTest, PipelinedRequestsAnsweredInOrder) {
  feed("GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n"
       "POST /3 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");
  ASSERT_EQ(rec_.streams.size(), 1u); // the next one waits for the response
  flush();
  ASSERT_EQ(rec_.streams.size(), 1u);
  stream(0).respond(200, "r1");
  EXPECT_EQ(rec_.streams.size(), 1u); // resumed from the loop, not from inside sendData
  flush();
  ASSERT_EQ(rec_.streams.size(), 2u);
  EXPECT_EQ(stream(1).head.path, "/2");
  stream(1).respond(200, "r2");
  flush();
  ASSERT_EQ(rec_.streams.size(), 3u);
  EXPECT_EQ(stream(2).head.path, "/3");
  EXPECT_EQ(stream(2).body, "abc");
  EXPECT_TRUE(stream(2).ended);
  stream(2).respond(201, "r3");
  std::string out = conn_.takeOutput();
  size_t a = out.find("r1");
  size_t b = out.find("r2");
  size_t c = out.find("201 Created");
  ASSERT_NE(c, std::string::npos);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
}

TEST_F(Http1ServerCodecTest, AnswerFromInsideCallbackContinuesPipeline) {
  rec_.on_new = [](RecordedStream& s) {
    s.on_headers = [](RecordedStream& r) { r.respond(200, r.head.path); };
  };
  feed("GET /x HTTP/1.1\r\nHost: h\r\n\r\nGET /y HTTP/1.1\r\nHost: h\r\n\r\n");
  flush();
  ASSERT_EQ(rec_.streams.size(), 2u);
  std::string out = conn_.takeOutput();
  EXPECT_LT(out.find("/x"), out.find("/y"));
  EXPECT_FALSE(conn_.close_after_flush);
}

TEST_F(Http1ServerCodecTest, ChunkedBodyAndTrailers) {
  feed("POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n");
  ASSERT_EQ(rec_.streams.size(), 1u);
  RecordedStream& s = stream(0);
  EXPECT_FALSE(s.head.headers.has("transfer-encoding"));
  EXPECT_EQ(s.body, "hello world");
  ASSERT_TRUE(s.got_trailers);
  ASSERT_NE(s.trailers.get("x-checksum"), nullptr);
  EXPECT_EQ(*s.trailers.get("x-checksum"), "abc");
  EXPECT_TRUE(s.ended);
}

TEST_F(Http1ServerCodecTest, ContentLengthBodyInPieces) {
  feed("PUT /p HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n01234");
  ASSERT_EQ(rec_.streams.size(), 1u);
  EXPECT_EQ(*stream(0).head.headers.get("content-length"), "10");
  EXPECT_EQ(stream(0).body, "01234");
  EXPECT_FALSE(stream(0).ended);
  feed("56789");
  EXPECT_EQ(stream(0).body, "0123456789");
  EXPECT_TRUE(stream(0).ended);
}

TEST_F(Http1ServerCodecTest, ExpectContinue) {
  feed("POST /p HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  ASSERT_EQ(rec_.streams.size(), 1u);
  EXPECT_FALSE(stream(0).head.headers.has("expect"));
  EXPECT_EQ(conn_.takeOutput(), "HTTP/1.1 100 Continue\r\n\r\n");
  feed("hi");
  EXPECT_EQ(stream(0).body, "hi");
  EXPECT_TRUE(stream(0).ended);
}

struct Rejection {
  const char* name;
  std::string input;
  int status;
  const char* token;
};

class Http1ServerRejectionTest : public ::testing::TestWithParam<Rejection>, public CodecHarness {};

TEST_P(Http1ServerRejectionTest, RepliesAndCloses) {
  const Rejection& r = GetParam();
  ServerCodecLimits limits;
  limits.max_header_bytes = 200;
  makeCodec(limits);
  feed(r.input);
  std::string out = conn_.takeOutput();
  std::string status_line = "HTTP/1.1 " + std::to_string(r.status) + " ";
  EXPECT_EQ(out.rfind(status_line, 0), 0u) << out;
  EXPECT_NE(out.find(std::string("\r\nx-seawall-reason: ") + r.token + "\r\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("\r\nconnection: close\r\n"), std::string::npos);
  EXPECT_NE(out.find("\r\ncontent-type: text/plain\r\n"), std::string::npos);
  EXPECT_TRUE(conn_.close_after_flush);
  ASSERT_EQ(rec_.errors.size(), 1u);
  EXPECT_EQ(rec_.errors[0].first, r.status);
  EXPECT_EQ(rec_.errors[0].second, r.token);
  for (auto& s : rec_.streams) {
    EXPECT_TRUE(s->reset); // a stream opened before the error learns it is gone
  }
  // Input after the error is ignored.
  feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  flush();
  EXPECT_EQ(conn_.takeOutput(), "");
  EXPECT_EQ(rec_.errors.size(), 1u);
}

const std::string big_value(300, 'a');

INSTANTIATE_TEST_SUITE_P(
    All, Http1ServerRejectionTest,
    ::testing::Values(
        Rejection{"ClAndTe",
                  "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n",
                  400, "ambiguous-framing"},
        Rejection{"TeAndCl",
                  "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                  "Content-Length: 3\r\n\r\n",
                  400, "ambiguous-framing"},
        Rejection{"DifferentContentLengths",
                  "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
                  400, "ambiguous-framing"},
        Rejection{"ChunkedTwice",
                  "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n",
                  400, "ambiguous-framing"},
        Rejection{"UnknownCoding",
                  "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501,
                  "unsupported-transfer-coding"},
        Rejection{"BadChunkSize",
                  "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400,
                  "bad-request"},
        Rejection{"MissingHost", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400, "bad-request"},
        Rejection{"DuplicateHost", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400,
                  "bad-request"},
        Rejection{"InvalidHost", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "bad-request"},
        Rejection{"ObsFold", "GET / HTTP/1.1\r\nHost: h\r\nX-F: a\r\n  b\r\n\r\n", 400,
                  "bad-request"},
        Rejection{"SpaceBeforeColon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400, "bad-request"},
        Rejection{"HeaderTooLarge", "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + big_value + "\r\n\r\n",
                  431, "header-too-large"},
        Rejection{"TargetTooLong", "GET /" + big_value + " HTTP/1.1\r\nHost: h\r\n\r\n", 431,
                  "header-too-large"},
        Rejection{"WhitespaceTrickle", "GET / HTTP/1.1\r\nHost: h\r\nX: " + big_value, 431,
                  "header-too-large"},
        Rejection{"DoubleSpaceRequestLine", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400,
                  "bad-request"},
        Rejection{"GarbageRequestLine", "HELLO\r\n\r\n", 400, "bad-request"},
        Rejection{"BareLf", "GET / HTTP/1.1\nHost: h\n\n", 400, "bad-request"},
        Rejection{"RelativeTarget", "GET foo HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad-request"},
        Rejection{"StarNotOptions", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad-request"},
        Rejection{"Http2Preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, "bad-request"},
        Rejection{"UnknownExpectation", "GET / HTTP/1.1\r\nHost: h\r\nExpect: magic\r\n\r\n", 417,
                  "expectation-failed"},
        Rejection{"Connect", "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", 405,
                  "method-not-allowed"}),
    [](const ::testing::TestParamInfo<Rejection>& param) { return param.param.name; });

TEST_F(Http1ServerCodecTest, BadChunkAfterHeadResetsStream) {
  feed("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
  ASSERT_EQ(rec_.streams.size(), 1u);
  EXPECT_EQ(stream(0).body, "abc");
  feed("xyz\r\n");
  EXPECT_TRUE(stream(0).reset);
  EXPECT_EQ(conn_.takeOutput().rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u);
  EXPECT_TRUE(conn_.close_after_flush);
}

TEST_F(Http1ServerCodecTest, TrailersTooLarge) {
  ServerCodecLimits limits;
  limits.max_header_bytes = 100;
  makeCodec(limits);
  feed("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: " +
       std::string(200, 'x') + "\r\n\r\n");
  ASSERT_EQ(rec_.errors.size(), 1u);
  EXPECT_EQ(rec_.errors[0].first, 431);
}

TEST_F(Http1ServerCodecTest, Http10CloseDelimitedResponse) {
  feed("GET /old HTTP/1.0\r\n\r\n");
  ASSERT_EQ(rec_.streams.size(), 1u);
  EXPECT_EQ(stream(0).head.version, 10);
  EXPECT_EQ(stream(0).head.authority, "");
  ResponseHead h;
  h.status = 200;
  stream(0).stream->sendHeaders(std::move(h), false);
  stream(0).sendRaw("abc", false);
  stream(0).sendRaw("def", true);
  EXPECT_EQ(conn_.takeOutput(), "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nabcdef");
  EXPECT_TRUE(conn_.close_after_flush);
}

TEST_F(Http1ServerCodecTest, Http10KeepAlive) {
  feed("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  ASSERT_EQ(rec_.streams.size(), 1u);
  EXPECT_FALSE(stream(0).head.headers.has("connection"));
  stream(0).respond(200, "x");
  std::string out = conn_.takeOutput();
  EXPECT_NE(out.find("connection: keep-alive\r\n"), std::string::npos);
  EXPECT_FALSE(conn_.close_after_flush);
}

TEST_F(Http1ServerCodecTest, ClientConnectionCloseClosesAfterResponse) {
  feed("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  stream(0).respond(200, "x");
  EXPECT_NE(conn_.takeOutput().find("connection: close\r\n"), std::string::npos);
  EXPECT_TRUE(conn_.close_after_flush);
}

TEST_F(Http1ServerCodecTest, HeadResponseHasNoBody) {
  feed("HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_EQ(rec_.streams.size(), 1u);
  stream(0).respond(200, "0123456789");
  EXPECT_EQ(conn_.takeOutput(), "HTTP/1.1 200 OK\r\ncontent-length: 10\r\nx-app: yes\r\n\r\n");
  EXPECT_FALSE(conn_.close_after_flush);
  flush();
  feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(rec_.streams.size(), 2u);
}

TEST_F(Http1ServerCodecTest, NoContentDropsFraming) {
  feed("DELETE /x HTTP/1.1\r\nHost: h\r\n\r\n");
  ResponseHead h;
  h.status = 204;
  h.headers.add("content-length", "0");
  h.headers.add("transfer-encoding", "chunked");
  h.headers.add("connection", "keep-alive");
  stream(0).stream->sendHeaders(std::move(h), true);
  EXPECT_EQ(conn_.takeOutput(), "HTTP/1.1 204 No Content\r\n\r\n");
  EXPECT_FALSE(conn_.close_after_flush);
}

TEST_F(Http1ServerCodecTest, ChunkedResponseWithTrailers) {
  feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  ResponseHead h;
  h.status = 200;
  stream(0).stream->sendHeaders(std::move(h), false);
  stream(0).sendRaw("hello", false);
  stream(0).sendRaw("", false);
  HeaderMap t;
  t.add("x-checksum", "abc");
  stream(0).stream->sendTrailers(std::move(t));
  EXPECT_EQ(conn_.takeOutput(), "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                                "5\r\nhello\r\n0\r\nx-checksum: abc\r\n\r\n");
  EXPECT_FALSE(conn_.close_after_flush);
}

TEST_F(Http1ServerCodecTest, ChunkedResponseEndsWithLastChunk) {
  feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  stream(0).respond(200, "abc", /*chunked=*/true);
  EXPECT_EQ(conn_.takeOutput(), "HTTP/1.1 200 OK\r\nx-app: yes\r\ntransfer-encoding: chunked\r\n"
                                "\r\n3\r\nabc\r\n0\r\n\r\n");
}

TEST_F(Http1ServerCodecTest, ShortContentLengthBodyCloses) {
  feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  ResponseHead h;
  h.status = 200;
  h.headers.add("content-length", "10");
  stream(0).stream->sendHeaders(std::move(h), false);
  stream(0).sendRaw("abc", true);
  EXPECT_TRUE(conn_.close_after_flush);
}

TEST_F(Http1ServerCodecTest, EarlyResponseClosesConnection) {
  feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nabc");
  ASSERT_EQ(rec_.streams.size(), 1u);
  stream(0).respond(413, "too big");
  EXPECT_TRUE(conn_.close_after_flush);
  feed("more body");
  EXPECT_EQ(stream(0).body, "abc"); // detached: nothing more delivered
}

TEST_F(Http1ServerCodecTest, UpgradeBecomesTunnel) {
  feed("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
       "Sec-WebSocket-Key: k\r\n\r\nEARLY");
  ASSERT_EQ(rec_.streams.size(), 1u);
  RecordedStream& s = stream(0);
  EXPECT_FALSE(s.ended);
  ASSERT_NE(s.head.headers.get("upgrade"), nullptr);
  EXPECT_EQ(*s.head.headers.get("upgrade"), "websocket");
  EXPECT_EQ(*s.head.headers.get("connection"), "Upgrade");
  EXPECT_EQ(s.body, ""); // held until the app answers
  ResponseHead h;
  h.status = 101;
  h.headers.add("upgrade", "websocket");
  h.headers.add("sec-websocket-accept", "a");
  s.stream->sendHeaders(std::move(h), false);
  EXPECT_EQ(conn_.takeOutput(), "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n"
                                "sec-websocket-accept: a\r\nconnection: upgrade\r\n\r\n");
  flush();
  EXPECT_EQ(s.body, "EARLY");
  feed("GET / HTTP/1.1\r\n\r\n"); // raw bytes now, not a request
  EXPECT_EQ(s.body, "EARLYGET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(rec_.streams.size(), 1u);
  s.sendRaw("PONG", false);
  EXPECT_EQ(conn_.takeOutput(), "PONG");
  EXPECT_FALSE(conn_.close_after_flush);
  s.sendRaw("", true);
  EXPECT_TRUE(conn_.close_after_flush);
}

TEST_F(Http1ServerCodecTest, UpgradeRefusedClosesAfterResponse) {
  feed("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n");
  ASSERT_EQ(rec_.streams.size(), 1u);
  stream(0).respond(403, "no");
  std::string out = conn_.takeOutput();
  EXPECT_EQ(out.rfind("HTTP/1.1 403 Forbidden\r\n", 0), 0u);
  EXPECT_NE(out.find("connection: close\r\n"), std::string::npos);
  EXPECT_TRUE(conn_.close_after_flush);
}

TEST_F(Http1ServerCodecTest, H2cUpgradeIsServedAsPlainRequest) {
  feed("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
       "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n");
  ASSERT_EQ(rec_.streams.size(), 1u);
  EXPECT_TRUE(stream(0).ended);
  EXPECT_FALSE(stream(0).head.headers.has("upgrade"));
  EXPECT_FALSE(stream(0).head.headers.has("http2-settings"));
  EXPECT_FALSE(stream(0).head.headers.has("connection"));
  stream(0).respond(200, "ok");
  EXPECT_FALSE(conn_.close_after_flush);
}

TEST_F(Http1ServerCodecTest, UpgradeHeaderWithoutConnectionTokenIsDropped) {
  feed("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive, X-Hop\r\n"
       "X-Hop: 1\r\nKeep-Alive: timeout=5\r\nX-Keep: 2\r\n\r\n");
  ASSERT_EQ(rec_.streams.size(), 1u);
  EXPECT_TRUE(stream(0).ended);
  const HeaderMap& h = stream(0).head.headers;
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h.entries()[0].name, "x-keep");
}

TEST_F(Http1ServerCodecTest, DrainWhenIdleCloses) {
  codec_->drain();
  EXPECT_TRUE(conn_.close_after_flush);
}

TEST_F(Http1ServerCodecTest, DrainWithActiveStreamClosesAfterResponse) {
  feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  codec_->drain();
  EXPECT_FALSE(conn_.close_after_flush);
  stream(0).respond(200, "ok");
  EXPECT_NE(conn_.takeOutput().find("connection: close\r\n"), std::string::npos);
  EXPECT_TRUE(conn_.close_after_flush);
}

TEST_F(Http1ServerCodecTest, ConnectionCloseResetsStream) {
  feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab");
  ASSERT_EQ(rec_.streams.size(), 1u);
  codec_->onConnectionClose();
  EXPECT_TRUE(stream(0).reset);
  EXPECT_EQ(codec_->activeStreams(), 0u);
  codec_->onConnectionClose(); // idempotent
}

TEST_F(Http1ServerCodecTest, StreamResetClosesNow) {
  feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  stream(0).stream->reset();
  EXPECT_TRUE(conn_.close_now);
  EXPECT_FALSE(stream(0).reset); // no callback after the app's own reset
}

TEST_F(Http1ServerCodecTest, ByteAtATimeGivesSameResult) {
  const std::string request = "POST /b?q HTTP/1.1\r\nHost: example.com\r\nX-A: 1\r\n"
                              "Transfer-Encoding: chunked\r\n\r\n"
                              "3\r\nabc\r\n4\r\ndefg\r\n0\r\nX-T: end\r\n\r\n";
  feedBytewise(request);
  ASSERT_EQ(rec_.streams.size(), 1u);
  RecordedStream& s = stream(0);
  EXPECT_EQ(s.head.method, "POST");
  EXPECT_EQ(s.head.path, "/b?q");
  EXPECT_EQ(s.head.authority, "example.com");
  ASSERT_EQ(s.head.headers.size(), 1u);
  EXPECT_EQ(*s.head.headers.get("x-a"), "1");
  EXPECT_EQ(s.body, "abcdefg");
  ASSERT_TRUE(s.got_trailers);
  EXPECT_EQ(*s.trailers.get("x-t"), "end");
  EXPECT_TRUE(rec_.errors.empty());
}

TEST_F(Http1ServerCodecTest, ByteAtATimeObsFoldStillRejected) {
  feedBytewise("GET / HTTP/1.1\r\nHost: h\r\nX-F: a\r\n b\r\n\r\n");
  ASSERT_EQ(rec_.errors.size(), 1u);
  EXPECT_EQ(rec_.errors[0].first, 400);
  EXPECT_TRUE(rec_.streams.empty());
}

TEST_F(Http1ServerCodecTest, AbsoluteFormTarget) {
  feed("GET http://Example.com:8080/p?q=1 HTTP/1.1\r\nHost: other\r\n\r\n");
  ASSERT_EQ(rec_.streams.size(), 1u);
  EXPECT_EQ(stream(0).head.authority, "Example.com:8080");
  EXPECT_EQ(stream(0).head.path, "/p?q=1");
}

TEST_F(Http1ServerCodecTest, OptionsStar) {
  feed("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_EQ(rec_.streams.size(), 1u);
  EXPECT_EQ(stream(0).head.path, "*");
}

TEST_F(Http1ServerCodecTest, WriteBlockedAndWritable) {
  ServerCodecLimits limits;
  limits.high_watermark = 16;
  makeCodec(limits);
  feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  ResponseHead h;
  h.status = 200;
  stream(0).stream->sendHeaders(std::move(h), false);
  stream(0).sendRaw(std::string(64, 'x'), false);
  EXPECT_TRUE(stream(0).stream->writeBlocked());
  codec_->onWritable();
  EXPECT_EQ(stream(0).writable, 0); // still above the watermark
  conn_.takeOutput();
  EXPECT_FALSE(stream(0).stream->writeBlocked());
  codec_->onWritable();
  EXPECT_EQ(stream(0).writable, 1);
  codec_->onWritable();
  EXPECT_EQ(stream(0).writable, 1); // only once per blocked episode
}

TEST_F(Http1ServerCodecTest, AppReadDisableHoldsBody) {
  feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\n");
  ASSERT_EQ(rec_.streams.size(), 1u);
  stream(0).stream->readDisable(true);
  EXPECT_EQ(conn_.read_disabled, 1);
  feed("abcdef");
  EXPECT_EQ(stream(0).body, "");
  stream(0).stream->readDisable(false);
  EXPECT_EQ(conn_.read_disabled, 0);
  flush();
  EXPECT_EQ(stream(0).body, "abcdef");
  EXPECT_TRUE(stream(0).ended);
}

TEST_F(Http1ServerCodecTest, ReadDisableUndoneWhenStreamEnds) {
  feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  stream(0).stream->readDisable(true);
  stream(0).stream->readDisable(true);
  EXPECT_EQ(conn_.read_disabled, 2);
  stream(0).respond(200, "ok");
  EXPECT_EQ(conn_.read_disabled, 0);
}

TEST_F(Http1ServerCodecTest, PipelinedInputAboveLimitStopsReading) {
  feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_EQ(rec_.streams.size(), 1u);
  std::string next = "GET /n HTTP/1.1\r\nHost: h\r\n\r\n";
  std::string lots;
  while (lots.size() <= Http1ServerCodec::kMaxBufferedInput) {
    lots += next;
  }
  feed(lots);
  EXPECT_EQ(conn_.read_disabled, 1);
  size_t pipelined = lots.size() / next.size();
  for (size_t i = 0; i <= pipelined; ++i) {
    ASSERT_EQ(rec_.streams.size(), i + 1);
    rec_.streams.back()->respond(200, "");
    flush();
  }
  EXPECT_EQ(conn_.read_disabled, 0);
  EXPECT_EQ(rec_.streams.size(), pipelined + 1);
  EXPECT_EQ(stream(1).head.path, "/n");
}

} // namespace
} // namespace seawall::proxy
