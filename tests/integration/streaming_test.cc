// Large bodies stream through with bounded proxy memory, and one HTTP/2 connection carries many
// concurrent streams.
#include <memory>

#include <gtest/gtest.h>

#include "tests/harness/json_lite.h"
#include "tests/harness/process.h"
#include "tests/integration/proxy_test_base.h"

namespace seawall::test {
namespace {

constexpr size_t kHundredMiB = 100 * 1024 * 1024;
// Far below the 100 MiB moved: the proxy must not hold a body, only windows and watermarks.
constexpr size_t kRssBound = 64 * 1024 * 1024;

class Streaming : public ProxyTest {
protected:
  void SetUp() override {
    ProxyOptions o;
    o.listener_extra = "    limits: { max_concurrent_streams: 1000 }\n";
    startAll(o);
  }
};

TEST_F(Streaming, HundredMiBDownloadAndUploadWithBoundedRss) {
  int pid = proxy_.process().pid();
  // Download through h1 -> h1 and h2 -> h2, with a client that reads slowly at first.
  for (bool h2 : {false, true}) {
    std::string u =
        url(std::string(h2 ? "/h2/big" : "/up/big") + "?body_size=" + std::to_string(kHundredMiB));
    std::vector<std::string> argv = {
        "curl", "-s", "-S", "-o", "/dev/null", "-w", "%{size_download}", "--max-time", "60"};
    if (h2) {
      argv.push_back("--http2-prior-knowledge");
    }
    argv.push_back(u);
    auto r = runCommand(argv, std::chrono::seconds(90));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, std::to_string(kHundredMiB));
  }
  // Upload: curl streams 100 MiB from a pipe to the sink, which counts it.
  for (bool h2 : {false, true}) {
    std::string cmd = "head -c " + std::to_string(kHundredMiB) +
                      " /dev/zero | curl -s -S --max-time 60 -X POST -H 'content-type: "
                      "application/octet-stream' --data-binary @- " +
                      (h2 ? std::string("--http2-prior-knowledge ") : std::string()) +
                      url(h2 ? "/h2/sink" : "/up/sink");
    auto r = runCommand({"sh", "-c", cmd}, std::chrono::seconds(90));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(jsonNumber(r.out, "bytes"), static_cast<int64_t>(kHundredMiB)) << r.out;
  }
  size_t peak = peakRss(pid);
  RecordProperty("peak_rss_bytes", std::to_string(peak));
  std::printf("proxy peak RSS over 4 x 100 MiB transfers: %.1f MiB\n", peak / 1048576.0);
  EXPECT_GT(peak, 0U);
#ifdef SEAWALL_SANITIZED
  // ASan keeps freed memory in quarantine and adds shadow memory: RSS says nothing there.
  std::printf("sanitizer build: RSS bound NOT CHECKED\n");
#else
  EXPECT_LT(peak, kRssBound);
#endif
}

TEST_F(Streaming, SlowReaderDoesNotMakeTheProxyBuffer) {
  // The upstream can send 48 MiB at once; the client reads 4 MiB/s. Without back-pressure the
  // proxy would hold most of the body.
  constexpr size_t kBody = 48 * 1024 * 1024;
  std::vector<std::unique_ptr<ChildProcess>> clients;
  for (const char* path : {"/up/slow-reader", "/h2/slow-reader"}) {
    for (bool h2 : {false, true}) {
      auto c = std::make_unique<ChildProcess>();
      std::vector<std::string> argv = {
          "curl",         "-s", "-S",         "-o", "/dev/null", "-w", "%{size_download}",
          "--limit-rate", "4M", "--max-time", "60"};
      if (h2) {
        argv.push_back("--http2-prior-knowledge");
      }
      argv.push_back(url(std::string(path) + "?body_size=" + std::to_string(kBody / 4)));
      ASSERT_TRUE(c->start(argv));
      clients.push_back(std::move(c));
    }
  }
  for (auto& c : clients) {
    auto status = c->waitExit(std::chrono::seconds(60));
    ASSERT_TRUE(status);
    EXPECT_EQ(*status, 0) << c->allOutput();
    EXPECT_EQ(c->output(), std::to_string(kBody / 4));
  }
  size_t peak = peakRss(proxy_.process().pid());
  std::printf("proxy peak RSS with four slow readers of 12 MiB each: %.1f MiB\n", peak / 1048576.0);
#ifndef SEAWALL_SANITIZED
  EXPECT_LT(peak, size_t{32} * 1024 * 1024);
#endif
}

TEST_F(Streaming, ThousandConcurrentStreamsOnOneConnection) {
  if (runCommand({"sh", "-c", "command -v h2load"}).exit_code != 0) {
    GTEST_SKIP() << "h2load (Debian nghttp2-client) is not installed: NOT CHECKED";
  }
  // One connection, 1,000 streams in flight at once, each held 300 ms by the upstream.
  auto r = runCommand({"h2load", "-n", "1000", "-c", "1", "-m", "1000", url("/h2/c?delay=300")},
                      std::chrono::seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("1000 succeeded, 0 failed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("status codes: 1000 2xx"), std::string::npos) << r.out;
  auto r1 = runCommand({"h2load", "-n", "1000", "-c", "1", "-m", "1000", url("/up/c?delay=300")},
                       std::chrono::seconds(60));
  ASSERT_EQ(r1.exit_code, 0) << r1.out << r1.err;
  EXPECT_NE(r1.out.find("1000 succeeded, 0 failed"), std::string::npos) << r1.out;
}

} // namespace
} // namespace seawall::test
