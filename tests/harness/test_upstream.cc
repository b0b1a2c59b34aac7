#include "tests/harness/test_upstream.h"

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "tests/harness/json_lite.h"
#include "tests/harness/raw_client.h"

namespace seawall::test {

std::string testUpstreamBinary() {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): tests read the environment on the main thread
  if (const char* env = std::getenv("SEAWALL_TEST_UPSTREAM")) {
    return env;
  }
#ifdef SEAWALL_TEST_UPSTREAM
  return SEAWALL_TEST_UPSTREAM;
#else
  return "seawall-test-upstream";
#endif
}

::testing::AssertionResult TestUpstream::start(std::vector<std::string> args,
                                               std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {testUpstreamBinary()};
  if (std::find(args.begin(), args.end(), "--listen") == args.end()) {
    argv.insert(argv.end(), {"--listen", "127.0.0.1:0"});
  }
  argv.insert(argv.end(), args.begin(), args.end());
  if (!process_.start(argv)) {
    return ::testing::AssertionFailure() << "cannot start " << argv[0];
  }
  const auto line = process_.waitForOutput("LISTENING ", timeout);
  const int port = line && line->starts_with("LISTENING ") ? std::atoi(line->c_str() + 10) : 0;
  if (port <= 0 || port > 65535) {
    return ::testing::AssertionFailure()
           << argv[0] << " did not print LISTENING <port> within " << timeout.count() << " ms\n"
           << process_.allOutput();
  }
  port_ = static_cast<uint16_t>(port);
  return ::testing::AssertionSuccess();
}

std::string TestUpstream::url(std::string_view path_and_query) const {
  return "http://" + address() + std::string(path_and_query);
}

std::optional<UpstreamStats> TestUpstream::stats() const {
  const auto reply = httpRequest(port_, "GET", "/__stats");
  if (!reply || reply->status != 200) {
    return std::nullopt;
  }
  UpstreamStats s;
  const auto field = [&](std::string_view key, int64_t& out) {
    const auto v = jsonNumber(reply->body, key);
    out = v.value_or(-1);
    return v.has_value();
  };
  if (!field("connections_total", s.connections_total) ||
      !field("connections_active", s.connections_active) ||
      !field("requests_total", s.requests_total) || !field("h1_requests", s.h1_requests) ||
      !field("h2_requests", s.h2_requests)) {
    return std::nullopt;
  }
  return s;
}

std::string TestUpstream::requests() const {
  const auto reply = httpRequest(port_, "GET", "/__requests");
  return reply && reply->status == 200 ? reply->body : std::string{};
}

size_t TestUpstream::requestCount(std::string_view path_prefix) const {
  // Header values are JSON-escaped, so `"path":"` only matches the path keys.
  return countOccurrences(requests(), "\"path\":\"" + std::string(path_prefix));
}

bool TestUpstream::reset() const {
  const auto reply = httpRequest(port_, "POST", "/__reset");
  return reply && reply->status == 200;
}

::testing::AssertionResult TestUpstream::waitForRequests(int64_t n,
                                                         std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int64_t seen = -1;
  for (;;) {
    if (const auto s = stats()) {
      seen = s->requests_total;
      if (seen >= n) {
        return ::testing::AssertionSuccess();
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return ::testing::AssertionFailure() << "test upstream saw " << seen << " requests, wanted "
                                           << n << " within " << timeout.count() << " ms";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

} // namespace seawall::test
