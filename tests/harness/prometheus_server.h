// Runs a real Prometheus (Debian's `prometheus`) on loopback for integration tests: it scrapes
// the given targets every second, evaluates the given rule files every second, and is queried
// through its HTTP API. Its TSDB lives in a temp directory; stopped by PID when destroyed.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/harness/json_value.h"
#include "tests/harness/process.h"
#include "tests/harness/temp_files.h"

namespace seawall::test {

// The program's path if `name` is an executable file in $PATH (or a path to one), else "".
std::string findProgram(const std::string& name);

// One answer of /api/v1/query.
struct PromQueryResult {
  bool ok = false;         // HTTP 200 and "status": "success"
  std::string result_type; // "vector", "matrix", "scalar", "string"
  // For a vector or matrix: the series' label sets and (vector) values, as Prometheus sent them.
  std::vector<JsonValue> series;
  std::string error; // "errorType: error" from Prometheus, or what went wrong on the way
  std::string body;  // the raw answer

  // Series, or 1 for a scalar or string result.
  size_t count() const;
  // Values of a vector's samples (NaN and ±Inf included), in answer order.
  std::vector<double> values() const;
};

class PrometheusServer {
public:
  struct Options {
    std::vector<std::string> targets;    // "127.0.0.1:PORT", scraped at /metrics, job "seawall"
    std::vector<std::string> rule_files; // absolute paths
    std::string interval = "1s";         // scrape and rule evaluation interval
  };

  PrometheusServer() = default;
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;
  PrometheusServer(PrometheusServer&&) = delete;
  PrometheusServer& operator=(PrometheusServer&&) = delete;
  ~PrometheusServer() = default; // ChildProcess kills it by PID if still running

  // Writes prometheus.yml, starts `prometheus` on 127.0.0.1:<free port> and waits for
  // GET /-/ready == 200.
  ::testing::AssertionResult start(const Options& options,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Until every target has been scraped successfully at least `scrapes` times.
  ::testing::AssertionResult
  waitForScrapes(int scrapes, std::chrono::milliseconds timeout = std::chrono::seconds(20));

  // An instant query at the current time.
  PromQueryResult query(const std::string& expr) const;
  // GET on the API (e.g. "/api/v1/rules"); the parsed answer, or nullopt.
  std::optional<JsonValue> getJson(const std::string& path_and_query) const;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string output() const { return process_.allOutput(); }
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(5)) {
    return process_.stop(grace);
  }

private:
  std::unique_ptr<TempDir> dir_;
  uint16_t port_ = 0;
  size_t target_count_ = 0;
  ChildProcess process_;
};

} // namespace seawall::test
