// Shared set-up for tests that run the real seawall binary in front of real test upstreams:
// one HTTP/1.1 upstream (cluster "h1", routes /up/ and /), one h2c upstream (cluster "h2",
// route /h2/), and a cluster whose endpoint refuses connections (cluster "dead", route /dead/).
#pragma once

#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "tests/harness/curl.h"
#include "tests/harness/ports.h"
#include "tests/harness/raw_client.h"
#include "tests/harness/seawall_process.h"
#include "tests/harness/test_upstream.h"

namespace seawall::test {

struct ProxyOptions {
  std::string listener_extra; // YAML lines inside the listener (4-space indent)
  std::string clusters_extra; // YAML list items appended to clusters (2-space indent)
  std::string top_extra;      // top-level YAML lines
  int workers = 2;
};

inline std::string proxyConfig(uint16_t admin_port, uint16_t listen_port, uint16_t h1_port,
                               uint16_t h2_port, const ProxyOptions& o = {}) {
  std::ostringstream y;
  y << "admin: { address: 127.0.0.1:" << admin_port << " }\n"
    << "workers: " << o.workers << "\n"
    << "drain_timeout: 10s\n"
    << o.top_extra << "listeners:\n"
    << "  - name: main\n"
    << "    address: 127.0.0.1:" << listen_port << "\n"
    << o.listener_extra << "    routes:\n"
    << "      - match: { prefix: /h2/ }\n"
    << "        cluster: h2\n"
    << "      - match: { prefix: /dead/ }\n"
    << "        cluster: dead\n"
    << "      - match: { prefix: /only-post/, methods: [POST] }\n"
    << "        cluster: h1\n"
    << "      - match: { prefix: /up/ }\n"
    << "        cluster: h1\n"
    << "      - match: { path: /exact }\n"
    << "        cluster: h1\n"
    << "clusters:\n"
    << "  - name: h1\n"
    << "    protocol: http1\n"
    << "    endpoints: [127.0.0.1:" << h1_port << "]\n"
    << "  - name: h2\n"
    << "    protocol: h2\n"
    << "    endpoints: [127.0.0.1:" << h2_port << "]\n"
    << "  - name: dead\n"
    << "    endpoints: [127.0.0.1:" << freeTcpPort() << "]\n"
    << "    connect_timeout: 200ms\n"
    << o.clusters_extra;
  return y.str();
}

class ProxyTest : public ::testing::Test {
protected:
  void startAll(const ProxyOptions& options = {}) {
    ASSERT_TRUE(h1_.start({"--name", "up-h1"}));
    ASSERT_TRUE(h2_.start({"--name", "up-h2"}));
    admin_port_ = freeTcpPort();
    port_ = freeTcpPort();
    ASSERT_TRUE(
        proxy_.start(proxyConfig(admin_port_, port_, h1_.port(), h2_.port(), options), admin_port_))
        << proxy_.output();
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  // A series value from /metrics, e.g. metric("seawall_requests_total{listener=\"main\",...}").
  std::optional<double> metric(const std::string& series) const {
    auto reply = proxy_.admin("GET", "/metrics");
    if (!reply) {
      return std::nullopt;
    }
    std::istringstream in(reply->body);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(series + " ", 0) == 0) {
        return std::stod(line.substr(series.size() + 1));
      }
    }
    return std::nullopt;
  }

  // Polls /metrics until `series` == want: counters are per-worker shards summed at scrape time,
  // and some are written a moment after the client got its answer.
  ::testing::AssertionResult
  metricBecomes(const std::string& series, double want,
                std::chrono::milliseconds timeout = std::chrono::milliseconds(2000)) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::optional<double> got;
    for (int i = 0; i < 10000; ++i) {
      got = metric(series);
      if (got == want || std::chrono::steady_clock::now() >= deadline) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (got == want) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure()
           << series << " = " << (got ? std::to_string(*got) : "absent") << ", want " << want;
  }

  TestUpstream h1_;
  TestUpstream h2_;
  SeawallProcess proxy_;
  uint16_t admin_port_ = 0;
  uint16_t port_ = 0;
};

// Peak resident memory of a process in bytes (VmHWM), or 0.
inline size_t peakRss(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      return std::stoull(line.substr(6)) * 1024;
    }
  }
  return 0;
}

} // namespace seawall::test
