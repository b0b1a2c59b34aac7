#include "tests/harness/prometheus_server.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "tests/harness/curl.h"
#include "tests/harness/ports.h"

namespace seawall::test {
namespace {

double sampleValue(const std::string& text) {
  if (text == "NaN") {
    return std::nan("");
  }
  if (text == "+Inf" || text == "-Inf") {
    return text[0] == '+' ? HUGE_VAL : -HUGE_VAL;
  }
  return std::strtod(text.c_str(), nullptr);
}

std::string prometheusConfig(const PrometheusServer::Options& options) {
  std::ostringstream y;
  y << "global:\n"
    << "  scrape_interval: " << options.interval << "\n"
    << "  scrape_timeout: " << options.interval << "\n"
    << "  evaluation_interval: " << options.interval << "\n";
  if (!options.rule_files.empty()) {
    y << "rule_files:\n";
    for (const std::string& file : options.rule_files) {
      y << "  - \"" << file << "\"\n";
    }
  }
  y << "scrape_configs:\n"
    << "  - job_name: seawall\n"
    << "    metrics_path: /metrics\n"
    << "    static_configs:\n"
    << "      - targets: [";
  for (size_t i = 0; i < options.targets.size(); ++i) {
    y << (i == 0 ? "" : ", ") << "\"" << options.targets[i] << "\"";
  }
  y << "]\n";
  return y.str();
}

} // namespace

std::string findProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    return access(name.c_str(), X_OK) == 0 ? name : std::string();
  }
  const char* path = std::getenv("PATH"); // NOLINT(concurrency-mt-unsafe): tests, one thread
  std::istringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return "";
}

size_t PromQueryResult::count() const {
  if (result_type == "scalar" || result_type == "string") {
    return 1;
  }
  return series.size();
}

std::vector<double> PromQueryResult::values() const {
  std::vector<double> out;
  for (const JsonValue& sample : series) {
    const JsonValue* value = sample.find("value");
    if (value != nullptr && value->isArray() && value->array.size() == 2 &&
        value->array[1].isString()) {
      out.push_back(sampleValue(value->array[1].string));
    }
  }
  return out;
}

::testing::AssertionResult PrometheusServer::start(const Options& options,
                                                   std::chrono::milliseconds timeout) {
  const std::string binary = findProgram("prometheus");
  if (binary.empty()) {
    return ::testing::AssertionFailure() << "prometheus is not installed";
  }
  dir_ = std::make_unique<TempDir>("seawall-prometheus");
  const std::string config = dir_->file("prometheus.yml");
  if (!writeFile(config, prometheusConfig(options))) {
    return ::testing::AssertionFailure() << "cannot write " << config;
  }
  port_ = freeTcpPort();
  target_count_ = options.targets.size();
  if (!process_.start(
          {binary, "--config.file=" + config, "--storage.tsdb.path=" + dir_->file("data"),
           "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=warn"})) {
    return ::testing::AssertionFailure() << "cannot start " << binary;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (int i = 0; i < 10000 && std::chrono::steady_clock::now() < deadline; ++i) {
    if (!process_.running()) {
      return ::testing::AssertionFailure() << "prometheus exited:\n" << output();
    }
    CurlOptions quick;
    quick.timeout = std::chrono::seconds(2);
    if (curl({}, url() + "/-/ready", quick).status == 200) {
      return ::testing::AssertionSuccess();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return ::testing::AssertionFailure() << "prometheus not ready in time:\n" << output();
}

::testing::AssertionResult PrometheusServer::waitForScrapes(int scrapes,
                                                            std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  PromQueryResult last;
  for (int i = 0; i < 10000; ++i) {
    last = query("sum_over_time(up{job=\"seawall\"}[5m])");
    const std::vector<double> counts = last.values();
    if (last.ok && counts.size() == target_count_ &&
        std::all_of(counts.begin(), counts.end(),
                    [scrapes](double n) { return n >= static_cast<double>(scrapes); })) {
      return ::testing::AssertionSuccess();
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return ::testing::AssertionFailure()
         << "fewer than " << scrapes << " successful scrapes per target; last answer: " << last.body
         << last.error << "\n"
         << output();
}

PromQueryResult PrometheusServer::query(const std::string& expr) const {
  PromQueryResult result;
  CurlOptions options;
  options.timeout = std::chrono::seconds(10);
  const CurlResult reply =
      curl({"--data-urlencode", "query=" + expr}, url() + "/api/v1/query", options);
  result.body = reply.body;
  std::string parse_error;
  const std::optional<JsonValue> doc = parseJson(reply.body, &parse_error);
  if (!doc) {
    result.error =
        "HTTP " + std::to_string(reply.status) + ", not JSON (" + parse_error + "): " + reply.err;
    return result;
  }
  if (doc->str("status") != "success") {
    result.error = doc->str("errorType") + ": " + doc->str("error");
    return result;
  }
  const JsonValue* data = doc->find("data");
  const JsonValue* payload = data != nullptr ? data->find("result") : nullptr;
  if (reply.status != 200 || payload == nullptr) {
    result.error = "HTTP " + std::to_string(reply.status) + " without data.result";
    return result;
  }
  result.ok = true;
  result.result_type = data->str("resultType");
  if (payload->isArray() && (result.result_type == "vector" || result.result_type == "matrix")) {
    result.series = payload->array;
  }
  return result;
}

std::optional<JsonValue> PrometheusServer::getJson(const std::string& path_and_query) const {
  CurlOptions options;
  options.timeout = std::chrono::seconds(10);
  const CurlResult reply = curl({"--globoff"}, url() + path_and_query, options);
  if (reply.status != 200) {
    return std::nullopt;
  }
  return parseJson(reply.body);
}

} // namespace seawall::test
