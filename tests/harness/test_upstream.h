// Runs seawall-test-upstream (SEAWALL_TEST_UPSTREAM) for an integration test and reads its
// control endpoints. Stopped by PID when destroyed.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "tests/harness/process.h"

namespace seawall::test {

struct UpstreamStats {
  int64_t connections_total = 0;
  int64_t connections_active = 0;
  int64_t requests_total = 0;
  int64_t h1_requests = 0;
  int64_t h2_requests = 0;
};

// Path of the test upstream binary (SEAWALL_TEST_UPSTREAM, or $SEAWALL_TEST_UPSTREAM).
std::string testUpstreamBinary();

class TestUpstream {
public:
  TestUpstream() = default;
  TestUpstream(const TestUpstream&) = delete;
  TestUpstream& operator=(const TestUpstream&) = delete;
  TestUpstream(TestUpstream&&) = delete;
  TestUpstream& operator=(TestUpstream&&) = delete;
  ~TestUpstream() = default; // ChildProcess stops it

  // Starts the binary with `args` (plus "--listen 127.0.0.1:0" unless given) and waits for
  // "LISTENING <port>".
  ::testing::AssertionResult start(std::vector<std::string> args = {},
                                   std::chrono::milliseconds timeout = std::chrono::seconds(10));
  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string url(std::string_view path_and_query = "/") const;

  // GET /__stats; nullopt if it did not answer.
  std::optional<UpstreamStats> stats() const;
  // GET /__requests: the raw JSON array (empty string if it did not answer).
  std::string requests() const;
  // Logged requests whose target starts with `path_prefix` ("" counts them all).
  size_t requestCount(std::string_view path_prefix = "") const;
  // POST /__reset.
  bool reset() const;
  // Until requests_total >= n.
  ::testing::AssertionResult
  waitForRequests(int64_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;

  int stop(std::chrono::milliseconds grace = std::chrono::seconds(5)) {
    return process_.stop(grace);
  }
  ChildProcess& process() { return process_; }

private:
  mutable ChildProcess process_;
  uint16_t port_ = 0;
};

} // namespace seawall::test
