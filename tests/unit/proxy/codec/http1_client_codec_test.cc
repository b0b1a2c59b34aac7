#include <memory>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "proxy/codec/http1_client_codec.h"

namespace seawall::proxy {
namespace {

std::string drainToString(evbuffer* buf) {
  std::string s(evbuffer_get_length(buf), '\0');
  evbuffer_remove(buf, s.data(), s.size());
  return s;
}

class FakeUpstreamConnection : public CodecConnection {
public:
  FakeUpstreamConnection()
      : base_(event_base_new()), dispatcher_(base_.get()), out_(makeEvBuffer()) {}
  evbuffer* output() override { return out_.get(); }
  void closeAfterFlush() override { close_after_flush = true; }
  void closeNow() override {
    if (close_now) {
      return;
    }
    close_now = true;
    if (codec != nullptr) {
      codec->onConnectionClose(UpstreamFailure::Reset);
    }
  }
  void readDisable(bool disable) override { read_disabled += disable ? 1 : -1; }
  Dispatcher& dispatcher() override { return dispatcher_; }
  uint64_t id() const override { return 9; }
  std::string takeOutput() { return drainToString(out_.get()); }

  ClientCodec* codec = nullptr;
  bool close_after_flush = false;
  bool close_now = false;
  int read_disabled = 0;

private:
  EventBasePtr base_;
  Dispatcher dispatcher_;
  EvBufferPtr out_;
};

struct RecordedResponse : ClientStreamCallbacks {
  void onResponseHeaders(ResponseHead&& h, bool end_stream) override {
    head = std::move(h);
    ++headers_calls;
    ended = end_stream;
  }
  void onResponseData(evbuffer* data, bool end_stream) override {
    body += drainToString(data);
    ended = ended || end_stream;
  }
  void onResponseTrailers(HeaderMap&& t) override {
    trailers = std::move(t);
    got_trailers = true;
    ended = true;
  }
  void onUpstreamReset(UpstreamFailure why) override { reset = why; }
  void onUpstreamWritable() override { ++writable; }

  ResponseHead head;
  int headers_calls = 0;
  bool ended = false;
  std::string body;
  HeaderMap trailers;
  bool got_trailers = false;
  std::optional<UpstreamFailure> reset;
  int writable = 0;
};

struct PoolRecorder : ClientCodecCallbacks {
  void onCapacityChanged() override { ++capacity_changed; }
  int capacity_changed = 0;
};

class Http1ClientCodecTest : public ::testing::Test {
protected:
  Http1ClientCodecTest() : codec_(std::make_unique<Http1ClientCodec>(conn_, pool_)) {
    conn_.codec = codec_.get();
  }

  static RequestHead get(std::string path = "/") {
    RequestHead head;
    head.method = "GET";
    head.scheme = "http";
    head.authority = "svc:8080";
    head.path = std::move(path);
    return head;
  }
  ClientStream& start(const RequestHead& head, bool end_stream = true) {
    EXPECT_TRUE(codec_->canTakeStream());
    ClientStream& s = codec_->newStream(resp_);
    s.sendHeaders(head, end_stream);
    return s;
  }
  void send(ClientStream& s, const std::string& text, bool end) {
    EvBufferPtr b = makeEvBuffer();
    evbuffer_add(b.get(), text.data(), text.size());
    s.sendData(b.get(), end);
    EXPECT_EQ(evbuffer_get_length(b.get()), 0u);
  }
  void feed(std::string_view bytes) {
    EvBufferPtr in = makeEvBuffer();
    evbuffer_add(in.get(), bytes.data(), bytes.size());
    codec_->onRead(in.get());
    EXPECT_EQ(evbuffer_get_length(in.get()), 0u);
  }
  void flush() { conn_.dispatcher().flush(); }

  FakeUpstreamConnection conn_;
  PoolRecorder pool_;
  RecordedResponse resp_;
  std::unique_ptr<Http1ClientCodec> codec_;
};

TEST_F(Http1ClientCodecTest, SerialisesRequestWithContentLength) {
  RequestHead head = get("/items?x=1");
  head.method = "POST";
  head.headers.add("content-length", "3");
  head.headers.add("x-a", "b");
  head.headers.add("connection", "keep-alive, x-hop");
  head.headers.add("x-hop", "gone");
  head.headers.add("keep-alive", "timeout=5");
  head.headers.add("transfer-encoding", "chunked");
  head.headers.add("x-bad", "a\r\nx-injected: 1");
  ClientStream& s = start(head, false);
  send(s, "abc", true);
  EXPECT_EQ(conn_.takeOutput(),
            "POST /items?x=1 HTTP/1.1\r\nhost: svc:8080\r\ncontent-length: 3\r\n"
            "x-a: b\r\n\r\nabc");
  EXPECT_EQ(codec_->activeStreams(), 1u);
  EXPECT_FALSE(codec_->canTakeStream());
}

TEST_F(Http1ClientCodecTest, SerialisesChunkedRequestWithTrailers) {
  RequestHead head = get("/up");
  head.method = "PUT";
  ClientStream& s = start(head, false);
  send(s, "hello", false);
  HeaderMap t;
  t.add("x-sum", "1");
  s.sendTrailers(std::move(t));
  EXPECT_EQ(conn_.takeOutput(),
            "PUT /up HTTP/1.1\r\nhost: svc:8080\r\ntransfer-encoding: chunked\r\n"
            "\r\n5\r\nhello\r\n0\r\nx-sum: 1\r\n\r\n");
}

TEST_F(Http1ClientCodecTest, BodylessRequestHasNoFraming) {
  start(get("/"), true);
  EXPECT_EQ(conn_.takeOutput(), "GET / HTTP/1.1\r\nhost: svc:8080\r\n\r\n");
  RequestHead post = get("");
  post.method = "POST";
  Http1ClientCodec other(conn_, pool_);
  RecordedResponse r;
  other.newStream(r).sendHeaders(post, true);
  EXPECT_EQ(conn_.takeOutput(), "POST / HTTP/1.1\r\nhost: svc:8080\r\ncontent-length: 0\r\n\r\n");
}

TEST_F(Http1ClientCodecTest, ContentLengthResponseAndReuse) {
  start(get());
  feed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Up: 1\r\n\r\nhel");
  EXPECT_EQ(resp_.headers_calls, 1);
  EXPECT_EQ(resp_.head.status, 200);
  EXPECT_EQ(*resp_.head.headers.get("content-length"), "5");
  EXPECT_EQ(*resp_.head.headers.get("x-up"), "1");
  EXPECT_EQ(resp_.body, "hel");
  EXPECT_FALSE(resp_.ended);
  EXPECT_EQ(pool_.capacity_changed, 0);
  feed("lo");
  EXPECT_EQ(resp_.body, "hello");
  EXPECT_TRUE(resp_.ended);
  EXPECT_FALSE(resp_.reset.has_value());
  EXPECT_EQ(pool_.capacity_changed, 1);
  EXPECT_TRUE(codec_->canTakeStream());
  EXPECT_EQ(codec_->activeStreams(), 0u);
  EXPECT_FALSE(conn_.close_after_flush);

  // Second exchange on the same connection.
  RecordedResponse second;
  ClientStream& s2 = codec_->newStream(second);
  s2.sendHeaders(get("/2"), true);
  feed("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(second.head.status, 404);
  EXPECT_TRUE(second.ended);
  EXPECT_EQ(pool_.capacity_changed, 2);
}

TEST_F(Http1ClientCodecTest, ChunkedResponseWithTrailers) {
  start(get());
  feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 9\r\n\r\n");
  EXPECT_FALSE(resp_.head.headers.has("transfer-encoding"));
  EXPECT_EQ(resp_.body, "abc");
  ASSERT_TRUE(resp_.got_trailers);
  EXPECT_EQ(*resp_.trailers.get("x-t"), "9");
  EXPECT_EQ(pool_.capacity_changed, 1);
}

TEST_F(Http1ClientCodecTest, CloseDelimitedResponseEndsAtEof) {
  start(get());
  feed("HTTP/1.1 200 OK\r\n\r\nabc");
  feed("def");
  EXPECT_FALSE(resp_.ended);
  codec_->onConnectionClose(UpstreamFailure::Reset);
  EXPECT_EQ(resp_.body, "abcdef");
  EXPECT_TRUE(resp_.ended);
  EXPECT_FALSE(resp_.reset.has_value());
  EXPECT_FALSE(codec_->canTakeStream());
}

TEST_F(Http1ClientCodecTest, InformationalResponsesDropped) {
  start(get());
  feed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_EQ(resp_.headers_calls, 1);
  EXPECT_EQ(resp_.head.status, 200);
  EXPECT_FALSE(resp_.head.headers.has("link"));
  EXPECT_EQ(resp_.body, "ok");
  EXPECT_TRUE(resp_.ended);
}

TEST_F(Http1ClientCodecTest, HeadResponseHasNoBody) {
  RequestHead head = get();
  head.method = "HEAD";
  start(head);
  feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
  EXPECT_TRUE(resp_.ended);
  EXPECT_EQ(resp_.body, "");
  EXPECT_EQ(pool_.capacity_changed, 1);
  EXPECT_TRUE(codec_->canTakeStream());
}

TEST_F(Http1ClientCodecTest, ConnectionCloseIsNotReusable) {
  start(get());
  feed("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx");
  EXPECT_TRUE(resp_.ended);
  EXPECT_FALSE(resp_.head.headers.has("connection"));
  EXPECT_EQ(pool_.capacity_changed, 0);
  EXPECT_TRUE(conn_.close_after_flush);
  EXPECT_FALSE(codec_->canTakeStream());
}

TEST_F(Http1ClientCodecTest, Http10ResponseIsNotReusable) {
  start(get());
  feed("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx");
  EXPECT_TRUE(resp_.ended);
  EXPECT_TRUE(conn_.close_after_flush);
  EXPECT_FALSE(codec_->canTakeStream());
}

TEST_F(Http1ClientCodecTest, MalformedResponseIsProtocolError) {
  start(get());
  feed("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
  ASSERT_TRUE(resp_.reset.has_value());
  EXPECT_EQ(*resp_.reset, UpstreamFailure::ProtocolError);
  EXPECT_TRUE(conn_.close_now);
  EXPECT_EQ(resp_.headers_calls, 0);
}

TEST_F(Http1ClientCodecTest, ObsFoldInResponseIsProtocolError) {
  start(get());
  feed("HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(resp_.reset.has_value());
  EXPECT_EQ(*resp_.reset, UpstreamFailure::ProtocolError);
}

TEST_F(Http1ClientCodecTest, GarbageIsProtocolError) {
  start(get());
  feed("SSH-2.0-OpenSSH\r\n");
  ASSERT_TRUE(resp_.reset.has_value());
  EXPECT_EQ(*resp_.reset, UpstreamFailure::ProtocolError);
}

TEST_F(Http1ClientCodecTest, CloseMidBodyIsReset) {
  start(get());
  feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  codec_->onConnectionClose(UpstreamFailure::Reset);
  ASSERT_TRUE(resp_.reset.has_value());
  EXPECT_EQ(*resp_.reset, UpstreamFailure::Reset);
  EXPECT_EQ(resp_.body, "abc");
}

TEST_F(Http1ClientCodecTest, CloseBeforeAnyByteReportsCause) {
  codec_->newStream(resp_);
  codec_->onConnectionClose(UpstreamFailure::ConnectFailure);
  ASSERT_TRUE(resp_.reset.has_value());
  EXPECT_EQ(*resp_.reset, UpstreamFailure::ConnectFailure);
}

TEST_F(Http1ClientCodecTest, CloseAfterRequestSentIsReset) {
  start(get());
  codec_->onConnectionClose(UpstreamFailure::ConnectFailure);
  ASSERT_TRUE(resp_.reset.has_value());
  EXPECT_EQ(*resp_.reset, UpstreamFailure::Reset);
}

TEST_F(Http1ClientCodecTest, ResponseBeforeRequestCompleteClosesConnection) {
  RequestHead head = get();
  head.method = "POST";
  head.headers.add("content-length", "100");
  start(head, false);
  feed("HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(resp_.head.status, 413);
  EXPECT_TRUE(resp_.ended);
  EXPECT_FALSE(resp_.reset.has_value());
  EXPECT_TRUE(conn_.close_after_flush);
  EXPECT_EQ(pool_.capacity_changed, 0);
}

TEST_F(Http1ClientCodecTest, ExtraBytesAfterResponseNotReusable) {
  start(get());
  feed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n");
  EXPECT_TRUE(resp_.ended);
  EXPECT_TRUE(conn_.close_after_flush);
  EXPECT_EQ(pool_.capacity_changed, 0);
}

TEST_F(Http1ClientCodecTest, StreamResetClosesNowWithoutCallback) {
  ClientStream& s = start(get());
  s.reset();
  EXPECT_TRUE(conn_.close_now);
  EXPECT_FALSE(resp_.reset.has_value());
  EXPECT_FALSE(codec_->canTakeStream());
}

TEST_F(Http1ClientCodecTest, UpgradeTunnel) {
  RequestHead head = get("/ws");
  head.headers.add("connection", "Upgrade");
  head.headers.add("upgrade", "websocket");
  ClientStream& s = start(head, false);
  send(s, "EARLY", false); // held until the 101
  EXPECT_EQ(conn_.takeOutput(), "GET /ws HTTP/1.1\r\nhost: svc:8080\r\nconnection: Upgrade\r\n"
                                "upgrade: websocket\r\n\r\n");
  feed("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\nHI");
  EXPECT_EQ(resp_.head.status, 101);
  EXPECT_EQ(*resp_.head.headers.get("upgrade"), "websocket");
  EXPECT_FALSE(resp_.ended);
  EXPECT_EQ(resp_.body, "HI");
  EXPECT_EQ(conn_.takeOutput(), "EARLY");
  feed("HTTP/1.1 200 OK\r\n\r\n");
  EXPECT_EQ(resp_.body, "HIHTTP/1.1 200 OK\r\n\r\n");
  send(s, "raw", false);
  EXPECT_EQ(conn_.takeOutput(), "raw");
  codec_->onConnectionClose(UpstreamFailure::Reset);
  EXPECT_TRUE(resp_.ended);
  EXPECT_FALSE(resp_.reset.has_value());
}

TEST_F(Http1ClientCodecTest, UpgradeRefusedIsNotReusable) {
  RequestHead head = get("/ws");
  head.headers.add("connection", "upgrade");
  head.headers.add("upgrade", "websocket");
  head.headers.add("content-length", "0");
  ClientStream& s = start(head, false);
  send(s, "EARLY", false);
  EXPECT_EQ(conn_.takeOutput(), "GET /ws HTTP/1.1\r\nhost: svc:8080\r\nconnection: upgrade\r\n"
                                "upgrade: websocket\r\ncontent-length: 0\r\n\r\n");
  feed("HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno");
  EXPECT_EQ(resp_.head.status, 403);
  EXPECT_TRUE(resp_.ended);
  EXPECT_EQ(conn_.takeOutput(), ""); // the held bytes never go out
  EXPECT_TRUE(conn_.close_after_flush);
}

TEST_F(Http1ClientCodecTest, UnexpectedSwitchingProtocolsIsProtocolError) {
  start(get());
  feed("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n");
  ASSERT_TRUE(resp_.reset.has_value());
  EXPECT_EQ(*resp_.reset, UpstreamFailure::ProtocolError);
}

TEST_F(Http1ClientCodecTest, ByteAtATimeResponse) {
  start(get());
  std::string response = "HTTP/1.1 200 OK\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "4\r\nabcd\r\n0\r\nX-T: 2\r\n\r\n";
  for (char c : response) {
    feed(std::string_view(&c, 1));
  }
  EXPECT_EQ(resp_.head.status, 200);
  EXPECT_EQ(*resp_.head.headers.get("x-a"), "1");
  EXPECT_EQ(resp_.body, "abcd");
  ASSERT_TRUE(resp_.got_trailers);
  EXPECT_EQ(*resp_.trailers.get("x-t"), "2");
  EXPECT_EQ(pool_.capacity_changed, 1);
}

TEST_F(Http1ClientCodecTest, ReadDisableHoldsResponseBody) {
  ClientStream& s = start(get());
  feed("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n");
  s.readDisable(true);
  EXPECT_EQ(conn_.read_disabled, 1);
  feed("abcdef");
  EXPECT_EQ(resp_.body, "");
  s.readDisable(false);
  EXPECT_EQ(conn_.read_disabled, 0);
  flush();
  EXPECT_EQ(resp_.body, "abcdef");
  EXPECT_TRUE(resp_.ended);
}

TEST_F(Http1ClientCodecTest, WriteBlockedAndWritable) {
  RequestHead head = get();
  head.method = "POST";
  ClientStream& s = start(head, false);
  send(s, std::string(Http1ClientCodec::kHighWatermark + 1, 'x'), false);
  EXPECT_TRUE(s.writeBlocked());
  conn_.takeOutput();
  codec_->onWritable();
  EXPECT_EQ(resp_.writable, 1);
  EXPECT_FALSE(s.writeBlocked());
}

TEST_F(Http1ClientCodecTest, UnsolicitedBytesWhileIdleClose) {
  feed("HTTP/1.1 200 OK\r\n\r\n");
  EXPECT_TRUE(conn_.close_now);
  EXPECT_FALSE(codec_->canTakeStream());
}

} // namespace
} // namespace seawall::proxy
