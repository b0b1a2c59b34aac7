// Drives seawall-test-upstream directly (no proxy) with curl, nghttp and raw sockets, and checks
// the harness helpers it is built on.
// GCC 12 reports a false -Wmaybe-uninitialized inside libstdc++'s std::regex compiler under
// -fsanitize=address at -O2; the location is in the system headers included below.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <signal.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/harness/command.h"
#include "tests/harness/curl.h"
#include "tests/harness/json_lite.h"
#include "tests/harness/ports.h"
#include "tests/harness/process.h"
#include "tests/harness/raw_client.h"
#include "tests/harness/temp_files.h"
#include "tests/harness/test_upstream.h"

namespace seawall::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

uint32_t crc32(std::string_view data) {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) {
      c = (c & 1U) != 0 ? 0xEDB88320U ^ (c >> 1U) : c >> 1U;
    }
    table[i] = c;
  }
  uint32_t c = 0xFFFFFFFFU;
  for (const char ch : data) {
    c = table[(c ^ static_cast<uint8_t>(ch)) & 0xFFU] ^ (c >> 8U);
  }
  return c ^ 0xFFFFFFFFU;
}

std::string hex8(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%08x", v);
  return buf;
}

// The upstream's documented body pattern: byte i is 'a' + i % 26.
bool isPattern(const std::string& body) {
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] != static_cast<char>('a' + i % 26)) {
      return false;
    }
  }
  return true;
}

CurlResult fetch(std::vector<std::string> args, std::string url, bool h2) {
  return h2 ? curlH2(std::move(args), std::move(url)) : curl(std::move(args), std::move(url));
}

class TestUpstreamTest : public ::testing::Test {
protected:
  void SetUp() override { ASSERT_TRUE(upstream_.start({"--name", "up-a"})); }

  TestUpstream upstream_;
};

TEST_F(TestUpstreamTest, Http1StatusNameAndDefaultBody) {
  const CurlResult r = curl({}, upstream_.url("/hello?status=418"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.status, 418);
  EXPECT_EQ(r.http_version, "1.1");
  EXPECT_EQ(r.header("x-upstream-name"), "up-a");
  EXPECT_EQ(r.body, "ok up-a /hello\n");
}

TEST_F(TestUpstreamTest, Http2StatusNameAndHeaders) {
  const CurlResult r =
      curlH2({}, upstream_.url("/h2?status=503&retry_after=7&header=x-one:1&header=x-two:%202"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.http_version, "2");
  EXPECT_EQ(r.header("x-upstream-name"), "up-a");
  EXPECT_EQ(r.header("retry-after"), "7");
  EXPECT_EQ(r.header("x-one"), "1");
  EXPECT_EQ(r.header("x-two"), "2");
  EXPECT_EQ(r.body, "ok up-a /h2\n");
}

TEST_F(TestUpstreamTest, DelayHoldsTheResponseHeaders) {
  for (const bool h2 : {false, true}) {
    const CurlResult r = fetch({}, upstream_.url("/slow?delay=300"), h2);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.status, 200);
    EXPECT_GE(r.elapsed, milliseconds(300)) << "h2=" << h2;
    EXPECT_LT(r.elapsed, seconds(5)) << "h2=" << h2;
  }
}

TEST_F(TestUpstreamTest, BodySizeAndChunksBothProtocols) {
  for (const bool h2 : {false, true}) {
    const CurlResult big = fetch({}, upstream_.url("/big?body_size=3000000"), h2);
    ASSERT_EQ(big.exit_code, 0) << big.err;
    EXPECT_EQ(big.body.size(), 3000000U) << "h2=" << h2;
    EXPECT_TRUE(isPattern(big.body)) << "h2=" << h2;
    EXPECT_EQ(big.header("content-length"), "3000000");

    const CurlResult chunked =
        fetch({}, upstream_.url("/c?body_size=1000&chunks=4&chunk_delay=60"), h2);
    ASSERT_EQ(chunked.exit_code, 0) << chunked.err;
    EXPECT_EQ(chunked.body.size(), 1000U);
    EXPECT_TRUE(isPattern(chunked.body));
    EXPECT_GE(chunked.elapsed, milliseconds(180)) << "three gaps of 60 ms, h2=" << h2;
  }
}

TEST_F(TestUpstreamTest, ResetsMakeCurlFail) {
  const CurlResult before = curl({}, upstream_.url("/r?reset=before_headers"));
  EXPECT_EQ(before.exit_code, 52) << before.err; // empty reply
  const CurlResult after = curl({}, upstream_.url("/r?reset=after_headers&body_size=1000"));
  EXPECT_EQ(after.exit_code, 18) << after.err; // partial file
  EXPECT_EQ(after.status, 200);
  EXPECT_TRUE(after.body.empty());
  const CurlResult mid = curl({}, upstream_.url("/r?reset=mid_body&body_size=100000"));
  EXPECT_EQ(mid.exit_code, 18) << mid.err;
  EXPECT_EQ(mid.body.size(), 50000U);

  for (const char* mode : {"before_headers", "after_headers", "mid_body"}) {
    const CurlResult h2 =
        curlH2({}, upstream_.url(std::string("/r?body_size=100000&reset=") + mode));
    EXPECT_EQ(h2.exit_code, 92) << mode << ": " << h2.err; // HTTP/2 stream error
    EXPECT_NE(h2.err.find("INTERNAL_ERROR"), std::string::npos) << h2.err;
  }
  // The connection-level state survives: the next request works.
  EXPECT_EQ(curlH2({}, upstream_.url("/ok")).status, 200);
}

TEST_F(TestUpstreamTest, TrailersOverHttp2ShownByNghttp) {
  const CommandResult r =
      runCommand({"nghttp", "-v", upstream_.url("/t?trailers=1&body_size=10")}, seconds(10));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const size_t data = r.out.find("recv DATA frame");
  const size_t grpc = r.out.find("grpc-status: 0");
  const size_t trailer = r.out.find("x-trailer: yes");
  ASSERT_NE(data, std::string::npos) << r.out;
  ASSERT_NE(grpc, std::string::npos) << r.out;
  ASSERT_NE(trailer, std::string::npos) << r.out;
  EXPECT_GT(grpc, data) << "trailers come after the body";
}

TEST_F(TestUpstreamTest, TrailersOverHttp1AreChunked) {
  const CurlResult r = curl({}, upstream_.url("/t?trailers=1&body_size=10"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.header("transfer-encoding"), "chunked");
  EXPECT_EQ(r.header("grpc-status"), "0");
  EXPECT_EQ(r.header("x-trailer"), "yes");
  EXPECT_EQ(r.body, "abcdefghij");
}

TEST_F(TestUpstreamTest, EchoDescribesTheRequest) {
  const CurlResult h1 = curl({"-X", "POST", "-H", "X-Test: one", "--data-binary", "hello"},
                             upstream_.url("/echo?q=1"));
  ASSERT_EQ(h1.exit_code, 0) << h1.err;
  EXPECT_EQ(h1.header("content-type"), "application/json");
  EXPECT_EQ(jsonString(h1.body, "method"), "POST");
  EXPECT_EQ(jsonString(h1.body, "path"), "/echo?q=1");
  EXPECT_EQ(jsonString(h1.body, "version"), "HTTP/1.1");
  EXPECT_EQ(jsonNumber(h1.body, "body_bytes"), 5);
  EXPECT_NE(h1.body.find(R"(["x-test","one"])"), std::string::npos) << h1.body;

  const CurlResult h2 = curlH2({"--data-binary", "hello!"}, upstream_.url("/echo"));
  ASSERT_EQ(h2.exit_code, 0) << h2.err;
  EXPECT_EQ(jsonString(h2.body, "version"), "HTTP/2");
  EXPECT_EQ(jsonNumber(h2.body, "body_bytes"), 6);
  EXPECT_EQ(jsonString(h2.body, "authority"), upstream_.address());
}

TEST_F(TestUpstreamTest, SinkCountsATenMebibyteUpload) {
  TempDir dir;
  std::string data(size_t{10} * 1024 * 1024, '\0');
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<char>((i * 7919U + (i >> 13U)) & 0xFFU);
  }
  const std::string file = dir.file("upload.bin");
  ASSERT_TRUE(writeFile(file, data));
  const std::string want_crc = hex8(crc32(data));
  const std::vector<std::vector<std::string>> variants = {
      {"--data-binary", "@" + file},
      {"-H", "Transfer-Encoding: chunked", "--data-binary", "@" + file}};
  for (const auto& args : variants) {
    for (const bool h2 : {false, true}) {
      const CurlResult r = fetch(args, upstream_.url("/sink"), h2);
      ASSERT_EQ(r.exit_code, 0) << r.err;
      EXPECT_EQ(jsonNumber(r.body, "bytes"), int64_t{10} * 1024 * 1024) << r.body;
      EXPECT_EQ(jsonString(r.body, "crc32"), want_crc) << "h2=" << h2;
    }
  }
}

TEST_F(TestUpstreamTest, StatsCountConnectionsWithKeepAliveReuse) {
  ASSERT_TRUE(upstream_.reset());
  // One curl invocation, three URLs: one reused HTTP/1.1 connection.
  const CurlResult h1 = curl({}, upstream_.url("/a"));
  ASSERT_EQ(h1.exit_code, 0);
  const CommandResult three = runCommand(
      {"curl", "-s", "-S", upstream_.url("/b"), upstream_.url("/b"), upstream_.url("/b")});
  ASSERT_EQ(three.exit_code, 0) << three.err;
  // nghttp, not curl: curl 7.88 fails to reuse a prior-knowledge h2 connection for a second
  // URL ("Error in the HTTP2 framing layer", curl/curl#10634, fixed in 8.0).
  const CommandResult two =
      runCommand({"nghttp", upstream_.url("/c?n=1"), upstream_.url("/c?n=2")});
  ASSERT_EQ(two.exit_code, 0) << two.err;

  auto stats = upstream_.stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->connections_total, 3);
  EXPECT_EQ(stats->requests_total, 6);
  EXPECT_EQ(stats->h1_requests, 4);
  EXPECT_EQ(stats->h2_requests, 2);
  EXPECT_EQ(upstream_.requestCount("/b"), 3U);
  EXPECT_EQ(upstream_.requestCount("/c"), 2U);
  EXPECT_EQ(upstream_.requestCount(), 6U);
  const std::string log = upstream_.requests();
  EXPECT_NE(log.find("\"version\":\"HTTP/2\""), std::string::npos);
  EXPECT_NE(log.find("\"arrival_ms\":"), std::string::npos);

  // Every client has closed: the active count drops to zero (bounded wait).
  for (int i = 0; i < 200 && stats && stats->connections_active != 0; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
    stats = upstream_.stats();
  }
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->connections_active, 0);

  ASSERT_TRUE(upstream_.reset());
  stats = upstream_.stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->requests_total, 0);
  EXPECT_EQ(upstream_.requestCount(), 0U);
}

TEST_F(TestUpstreamTest, WebsocketUpgradeEchoesRawBytes) {
  const std::string upgrade = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\n\r\n";
  const RawResult r = rawExchange(upstream_.port(), upgrade + "ping-1\x01\x02", milliseconds(500));
  ASSERT_TRUE(r.connected);
  EXPECT_FALSE(r.closed_by_peer);
  EXPECT_TRUE(r.data.starts_with("HTTP/1.1 101 Switching Protocols\r\n")) << r.data;
  EXPECT_NE(r.data.find("upgrade: websocket"), std::string::npos);
  EXPECT_TRUE(r.data.ends_with("\r\n\r\nping-1\x01\x02")) << r.data;

  RawConnection conn;
  ASSERT_TRUE(conn.connect(upstream_.port()));
  ASSERT_TRUE(conn.send(upgrade));
  ASSERT_TRUE(conn.readUntil("\r\n\r\n", seconds(5)));
  ASSERT_TRUE(conn.send("second message"));
  EXPECT_TRUE(conn.readUntil("second message", seconds(5)));
}

TEST_F(TestUpstreamTest, PipelinedRequestsAnsweredInOrderThenClose) {
  const RawResult r = rawExchange(upstream_.port(),
                                  "GET /one?delay=50 HTTP/1.1\r\nHost: x\r\n\r\n"
                                  "POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                  "\r\n5\r\nhello\r\n0\r\n\r\n"
                                  "GET /two?close=1 HTTP/1.1\r\nHost: x\r\n\r\n",
                                  seconds(5));
  ASSERT_TRUE(r.closed_by_peer);
  const size_t one = r.data.find("ok up-a /one\n");
  const size_t sink = r.data.find(R"({"bytes":5,"crc32":"3610a686"})");
  const size_t two = r.data.find("ok up-a /two\n");
  ASSERT_NE(one, std::string::npos) << r.data;
  ASSERT_NE(sink, std::string::npos) << r.data;
  ASSERT_NE(two, std::string::npos) << r.data;
  EXPECT_LT(one, sink);
  EXPECT_LT(sink, two);
  EXPECT_NE(r.data.find("connection: close"), std::string::npos);
}

TEST_F(TestUpstreamTest, BlackholeNeverAnswers) {
  const CurlResult r = curl({"--max-time", "0.5"}, upstream_.url("/void?blackhole=1"));
  EXPECT_EQ(r.exit_code, 28) << r.err; // operation timed out
  EXPECT_EQ(r.status, 0);
  const CurlResult h2 = curlH2({"--max-time", "0.5"}, upstream_.url("/void?blackhole=1"));
  EXPECT_EQ(h2.exit_code, 28) << h2.err;
}

TEST_F(TestUpstreamTest, HeadHasNoBody) {
  const RawResult r = rawExchange(
      upstream_.port(), "HEAD /h?body_size=100 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      seconds(5));
  ASSERT_TRUE(r.closed_by_peer);
  EXPECT_TRUE(r.data.starts_with("HTTP/1.1 200 OK\r\n")) << r.data;
  EXPECT_NE(r.data.find("content-length: 100\r\n"), std::string::npos) << r.data;
  EXPECT_TRUE(r.data.ends_with("\r\n\r\n")) << "no body after the head: " << r.data;
  const CommandResult h2 = runCommand(
      {"nghttp", "-v", "-H", ":method: HEAD", upstream_.url("/h?body_size=100")}, seconds(10));
  ASSERT_EQ(h2.exit_code, 0) << h2.err;
  EXPECT_NE(h2.out.find("content-length: 100"), std::string::npos) << h2.out;
  EXPECT_EQ(h2.out.find("recv DATA frame"), std::string::npos) << h2.out;
}

TEST(TestUpstreamFlags, RunWideDefaultsAndQueryOverrides) {
  TestUpstream up;
  ASSERT_TRUE(up.start({"--status", "201", "--header", "x-default:yes", "--delay", "100ms",
                        "--max-concurrent-streams", "7"}));
  const CurlResult def = curl({}, up.url("/d"));
  EXPECT_EQ(def.status, 201);
  EXPECT_EQ(def.header("x-default"), "yes");
  EXPECT_GE(def.elapsed, milliseconds(100));
  const CurlResult over = curl({}, up.url("/d?status=202&delay=0"));
  EXPECT_EQ(over.status, 202);
  const CommandResult nghttp = runCommand({"nghttp", "-v", up.url("/d")}, seconds(10));
  EXPECT_NE(nghttp.out.find("SETTINGS_MAX_CONCURRENT_STREAMS(0x03):7]"), std::string::npos)
      << nghttp.out;
  EXPECT_EQ(up.stop(), 0) << "SIGTERM exits 0";
}

TEST(TestUpstreamFlags, SeededFailRatioIsDeterministic) {
  auto sample = [](std::vector<std::string> args) {
    TestUpstream up;
    EXPECT_TRUE(up.start(std::move(args)));
    std::string codes;
    for (int i = 0; i < 30; ++i) {
      codes += curl({}, up.url("/f")).status == 503 ? 'F' : '.';
    }
    return codes;
  };
  const std::string a = sample({"--fail-ratio", "0.5", "--fail-status", "503", "--seed", "42"});
  const std::string b = sample({"--fail-ratio", "0.5", "--fail-status", "503", "--seed", "42"});
  EXPECT_EQ(a, b);
  EXPECT_NE(a.find('F'), std::string::npos) << a;
  EXPECT_NE(a.find('.'), std::string::npos) << a;
  // The query overrides the run-wide ratio.
  TestUpstream up;
  ASSERT_TRUE(up.start({"--fail-ratio", "1", "--fail-status", "502"}));
  EXPECT_EQ(curl({}, up.url("/f")).status, 502);
  EXPECT_EQ(curl({}, up.url("/f?fail_ratio=0")).status, 200);
}

TEST(TestUpstreamFlags, BadFlagExitsNonZero) {
  const CommandResult r = runCommand({testUpstreamBinary(), "--no-such-flag", "1"}, seconds(10));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("usage:"), std::string::npos);
}

TEST(TestUpstreamHarness, RunCommandCapturesAndTimesOut) {
  const CommandResult cat = runCommand({"cat"}, seconds(10), "some input");
  EXPECT_EQ(cat.exit_code, 0);
  EXPECT_EQ(cat.out, "some input");
  const CommandResult fail = runCommand({"sh", "-c", "echo oops >&2; exit 3"});
  EXPECT_EQ(fail.exit_code, 3);
  EXPECT_EQ(fail.err, "oops\n");
  const CommandResult slow = runCommand({"sleep", "10"}, milliseconds(200));
  EXPECT_EQ(slow.exit_code, -1);
  EXPECT_TRUE(slow.timed_out);
}

TEST(TestUpstreamHarness, ChildProcessOutputSignalsAndExit) {
  ChildProcess child;
  ASSERT_TRUE(child.start({"/bin/sh", "-c", "echo ready $MARK; echo warn >&2; exec sleep 30"},
                          {"MARK=m1"}));
  EXPECT_EQ(child.waitForOutput("ready m1", seconds(5)), "ready m1");
  EXPECT_EQ(child.waitForOutput(std::regex("^wa.n$"), seconds(5)), "warn");
  EXPECT_FALSE(child.waitForOutput("never printed", milliseconds(50)));
  EXPECT_TRUE(child.running());
  EXPECT_FALSE(child.waitExit(milliseconds(20)));
  child.signal(SIGKILL);
  EXPECT_EQ(child.waitExit(seconds(5)), 128 + SIGKILL);
  EXPECT_FALSE(child.running());
  EXPECT_EQ(child.stop(), 128 + SIGKILL);

  ChildProcess stubborn;
  ASSERT_TRUE(
      stubborn.start({"/bin/sh", "-c", "trap '' TERM; echo up; while :; do sleep 1; done"}));
  ASSERT_TRUE(stubborn.waitForOutput("up", seconds(5)));
  EXPECT_EQ(stubborn.stop(milliseconds(200)), 128 + SIGKILL);
}

TEST(TestUpstreamHarness, FreePortAndRawExchangeToAClosedPort) {
  const uint16_t port = freeTcpPort();
  ASSERT_NE(port, 0);
  const RawResult r = rawExchange(port, "GET / HTTP/1.1\r\n\r\n", milliseconds(500));
  EXPECT_FALSE(r.connected);
}

} // namespace
} // namespace seawall::test
