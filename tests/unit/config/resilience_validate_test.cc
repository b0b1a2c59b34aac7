// Errors in the resilience keys: each points at the offending value (FILE:LINE:COL).
#include <string>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "config/validate.h"
#include "config/yaml_loader.h"

namespace seawall::config {
namespace {

// One listener whose only route (cluster c) gets `route_lines`, clusters c and d, and
// `cluster_lines` appended to cluster c.
std::string configWith(const std::string& route_lines, const std::string& cluster_lines = "") {
  return "listeners:\n  - name: l\n    address: 127.0.0.1:15001\n    routes:\n"
         "      - match: { prefix: / }\n        cluster: c\n" +
         route_lines + "clusters:\n  - name: c\n    endpoints: [127.0.0.1:8081]\n" + cluster_lines +
         "  - name: d\n    endpoints: [127.0.0.1:8082]\n";
}

std::string route(const std::string& line) { return configWith("        " + line + "\n"); }
std::string cluster(const std::string& line) { return configWith("", "    " + line + "\n"); }

struct Case {
  std::string yaml;
  std::string at;      // the error points at the first occurrence of this text...
  int nth;             // ...or its nth occurrence (1-based)
  std::string message; // ...with this in the message
};

// 1-based line and column of the nth occurrence of `needle` in `text`; {0, 0} when absent.
std::pair<int, int> position(const std::string& text, const std::string& needle, int nth) {
  size_t at = std::string::npos;
  for (int i = 0; i < nth; ++i) {
    at = text.find(needle, at == std::string::npos ? 0 : at + 1);
    if (at == std::string::npos) {
      return {0, 0};
    }
  }
  const size_t line_start = text.rfind('\n', at);
  const int line =
      1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(at), '\n'));
  const size_t column = line_start == std::string::npos ? at + 1 : at - line_start;
  return {line, static_cast<int>(column)};
}

::testing::AssertionResult failsAt(const Case& c) {
  const auto [line, column] = position(c.yaml, c.at, c.nth);
  if (line == 0) {
    return ::testing::AssertionFailure() << "'" << c.at << "' is not in the YAML";
  }
  auto result = loadConfigString(c.yaml, "x.yaml");
  const auto* error = std::get_if<ConfigError>(&result);
  if (error == nullptr) {
    return ::testing::AssertionFailure() << "loaded without error";
  }
  const std::string text = error->toString();
  const std::string prefix = "x.yaml:" + std::to_string(line) + ":" + std::to_string(column) + ": ";
  if (text.rfind(prefix, 0) != 0 || error->message.find(c.message) == std::string::npos) {
    return ::testing::AssertionFailure()
           << "got \"" << text << "\", want \"" << prefix << "..." << c.message << "...\"";
  }
  return ::testing::AssertionSuccess();
}

void runCases(const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    SCOPED_TRACE(c.yaml);
    EXPECT_TRUE(failsAt(c));
  }
}

TEST(ResilienceValidateTest, SchemaErrors) {
  runCases({
      {route("retry: { retries: 3 }"), "retries", 1,
       "unknown key 'retries' in retry (expected one of: max_retries, on, retriable_status, "
       "per_try_timeout, backoff, honor_retry_after, budget, retry_non_idempotent, "
       "retry_idempotency_key)"},
      {route("retry: { backoff: { min: 1s } }"), "min", 1,
       "unknown key 'min' in backoff (expected one of: base, max)"},
      {route("retry: { budget: { percent: 1 } }"), "percent", 1, "unknown key 'percent' in budget"},
      {route("retry: { per_try_timeout: 77 }"), "77", 1,
       "invalid duration '77' (use a number and a unit"},
      {route("timeout: 42"), "42", 1, "invalid duration '42'"},
      {route("idle_timeout: soon"), "soon", 1, "invalid duration 'soon'"},
      {route("retry: { max_retries: -1 }"), "-1", 1, "invalid number '-1' for 'max_retries'"},
      {route("retry: { on: 5xx }"), "5xx", 1, "expected a list for 'on', got '5xx'"},
      {route("retry: { retriable_status: [503, abc] }"), "abc", 1,
       "invalid number 'abc' for an item of 'retriable_status'"},
      {route("retry: { honor_retry_after: yes }"), "yes", 1,
       "invalid value 'yes' for 'honor_retry_after' (use true or false)"},
      {route("retry: { budget: { ratio: 120% } }"), "120%", 1,
       "invalid ratio '120%' (use a number from 0 to 1 or a percentage: 0.5, 50%)"},
      {route("retry: { budget: { ratio: 1.5 } }"), "1.5", 1, "invalid ratio '1.5'"},
      {route("fallback: { on_upstream_5xx: true }"), "{ on_upstream_5xx", 1,
       "fallback needs one kind: a static response (status, headers, body or body_file), "
       "cluster or last_good"},
      {route("fallback: {}"), "{}", 1, "fallback needs one kind"},
      {route("fallback: { status: 503, cluster: d }"), "d }", 1,
       "fallback takes exactly one kind: 'cluster' cannot be combined with 'status'"},
      {route("fallback: { last_good: {}, body: x }"), "x }", 1,
       "'body' cannot be combined with 'last_good'"},
      {route("fallback: { body: x, body_file: y }"), "y }", 1,
       "fallback takes 'body' or 'body_file', not both"},
      {route("fallback: { headers: { A: 1, a: 2 } }"), "a:", 1,
       "duplicate header 'a' in 'headers'"},
      {route("fallback: { headers: [a] }"), "[a]", 1, "expected a map for 'headers', got a list"},
      {route("fallback: { headers: { a: [b] } }"), "[b]", 1,
       "expected a string for header 'a', got a list"},
      {route("fallback: { last_good: { size: 1MiB } }"), "size", 1,
       "unknown key 'size' in last_good (expected one of: ttl, max_bytes)"},
      {route("fallback: { last_good: { max_bytes: 1MB } }"), "1MB", 1, "invalid size '1MB'"},
      {route("fallback: { static: { status: 200 } }"), "static", 1,
       "unknown key 'static' in fallback (expected one of: status, headers, body, body_file, "
       "cluster, last_good, on_upstream_5xx)"},
      {cluster("limits: { max_conns: 1 }"), "max_conns", 1,
       "unknown key 'max_conns' in limits (expected one of: max_connections, max_pending, "
       "max_requests, max_retries)"},
      {cluster("limits: { max_requests: 99999999999 }"), "9999", 1,
       "number '99999999999' is too large for 'max_requests'"},
      {cluster("breaker: { threshold: 1 }"), "threshold", 1,
       "unknown key 'threshold' in breaker (expected one of: window, minimum_calls, failure_rate, "
       "slow_call, open_for, half_open_calls, failure_on, open_on_retry_after, mode)"},
      {cluster("breaker: { window: { type: sliding } }"), "sliding", 1,
       "invalid value 'sliding' for 'type' (expected one of: count, time)"},
      {cluster("breaker: { window: { size: 10s } }"), "10s", 1,
       "invalid window size '10s' for a count window (use a number of calls, or type: time"},
      {cluster("breaker: { window: { type: time, size: 100 } }"), "100", 1,
       "invalid duration '100'"},
      {cluster("breaker: { window: { calls: 100 } }"), "calls", 1,
       "unknown key 'calls' in window (expected one of: type, size)"},
      {cluster("breaker: { failure_rate: 70 }"), "70", 1, "invalid ratio '70'"},
      {cluster("breaker: { slow_call: { duration: 1 } }"), "1 }", 1, "invalid duration '1'"},
      {cluster("breaker: { slow_call: { ratio: 1 } }"), "ratio", 1,
       "unknown key 'ratio' in slow_call (expected one of: duration, rate)"},
      {cluster("breaker: { mode: half_open }"), "half_open", 1,
       "invalid value 'half_open' for 'mode' (expected one of: normal, forced_open, disabled, "
       "metrics_only)"},
      {cluster("outlier: { interval: 1s }"), "interval", 1,
       "unknown key 'interval' in outlier (expected one of: consecutive_failures, ejection_time, "
       "max_ejection)"},
      {cluster("outlier: { max_ejection: 2 }"), "2 }", 1, "invalid ratio '2'"},
      {cluster("breaker:"), "breaker", 1, "expected a map for 'breaker', got nothing"},
  });
}

TEST(ResilienceValidateTest, RetryRules) {
  runCases({
      {route("retry: { on: [5xx, bogus] }"), "bogus", 1,
       "unknown retry condition 'bogus' in 'on' (expected one of: 5xx, gateway-error, reset, "
       "connect-failure, refused-stream, retriable-status, grpc-cancelled, "
       "grpc-deadline-exceeded, grpc-resource-exhausted, grpc-internal, grpc-unavailable)"},
      {route("retry: { on: [timeout] }"), "timeout", 1, "unknown retry condition 'timeout'"},
      {route("retry: { on: [reset, reset] }"), "reset", 2, "duplicate retry condition 'reset'"},
      {route("retry: { on: [5xx, retriable-status] }"), "retriable-status", 1,
       "'retriable-status' in 'on' needs a non-empty retriable_status list"},
      {route("retry: { on: [retriable-status], retriable_status: [] }"), "retriable-status", 1,
       "needs a non-empty retriable_status list"},
      {route("retry: { retriable_status: [503, 600] }"), "600", 1,
       "retriable_status must be between 100 and 599, got 600"},
      {route("retry: { retriable_status: [99] }"), "99", 1,
       "retriable_status must be between 100 and 599, got 99"},
      {route("retry: { max_retries: 101 }"), "101", 1, "max_retries must be at most 100, got 101"},
      {route("retry: { backoff: { base: 0s } }"), "0s", 1, "backoff base must be greater than 0s"},
      {route("retry: { backoff: { base: 2s } }"), "2s", 1,
       "backoff base (2s) must not be greater than max (1s)"},
      {route("retry: { backoff: { max: 10ms } }"), "10ms", 1,
       "backoff base (25ms) must not be greater than max (10ms)"},
      {route("timeout: 1s\n        retry: { per_try_timeout: 2s }"), "2s", 1,
       "per_try_timeout (2s) must not be longer than the route's timeout (1s)"},
  });
}

TEST(ResilienceValidateTest, FallbackRules) {
  runCases({
      {route("fallback: { status: 600 }"), "600", 1,
       "fallback status must be between 200 and 599, got 600"},
      {route("fallback: { status: 100 }"), "100", 1, "a 1xx is not a final response"},
      {route("fallback: { status: 204, body: x }"), "x }", 1,
       "a fallback with status 204 cannot have a body"},
      {route("fallback: { cluster: nope }"), "nope", 1,
       "fallback refers to unknown cluster 'nope'"},
      {route("fallback: { cluster: c }"), "c }", 1,
       "fallback cluster 'c' is the route's own cluster (name another cluster)"},
      {route("fallback: { headers: { \"x y\": v } }"), "v }", 1,
       "invalid fallback header name 'x y' (use a lowercase token)"},
      {route("fallback: { headers: { x-a: \"1\\r\\nx-b: 2\" } }"), "\"1", 1,
       "fallback header 'x-a' must not contain CR, LF or NUL"},
      {route("fallback: { headers: { x-a: \"\\n\" } }"), "\"\\n", 1, "must not contain CR, LF"},
      {route("fallback: { last_good: { ttl: 0s } }"), "0s", 1,
       "last_good ttl must be greater than 0s"},
      {route("fallback: { last_good: { max_bytes: 0 } }"), "0 }", 1,
       "last_good max_bytes must be greater than 0B"},
  });
}

TEST(ResilienceValidateTest, ClusterRules) {
  runCases({
      {cluster("limits: { max_connections: 0 }"), "0 }", 1, "max_connections must be at least 1"},
      {cluster("limits: { max_requests: 0 }"), "0 }", 1, "max_requests must be at least 1"},
      {cluster("breaker: { window: { size: 0 } }"), "0 }", 1,
       "breaker window size must be at least 1 call"},
      {cluster("breaker: { window: { type: time, size: 9ms } }"), "9ms", 1,
       "breaker window size must be at least 10ms, got 9ms"},
      {cluster("breaker: { minimum_calls: 0 }"), "0 }", 1, "minimum_calls must be at least 1"},
      {cluster("breaker: { failure_rate: 0% }"), "0%", 1,
       "failure_rate must be greater than 0 and at most 1 (100%), got 0"},
      {cluster("breaker: { slow_call: { rate: 0 } }"), "0 }", 1,
       "slow_call rate must be greater than 0 and at most 1 (100%), got 0"},
      {cluster("breaker: { slow_call: { duration: 0s } }"), "0s", 1,
       "slow_call.duration must be greater than 0s"},
      {cluster("breaker: { open_for: 0ms }"), "0ms", 1, "open_for must be greater than 0s"},
      {cluster("breaker: { half_open_calls: 0 }"), "0 }", 1, "half_open_calls must be at least 1"},
      {cluster("breaker: { failure_on: [5xx, slow] }"), "slow", 1,
       "unknown failure condition 'slow' in 'failure_on' (expected one of: 5xx, gateway-error, "
       "reset, timeout, connect-failure, refused-stream, grpc-cancelled"},
      {cluster("breaker: { failure_on: [grpc-ok] }"), "grpc-ok", 1,
       "unknown failure condition 'grpc-ok'"},
      {cluster("breaker: { failure_on: [timeout, timeout] }"), "timeout", 2,
       "duplicate failure condition 'timeout' in 'failure_on'"},
      {cluster("outlier: { ejection_time: 0s }"), "0s", 1, "ejection_time must be greater than 0s"},
  });
}

TEST(ResilienceValidateTest, EdgeValuesAreAccepted) {
  for (const std::string& yaml : {
           route("retry: { max_retries: 100, backoff: { base: 1s, max: 1s } }"),
           route("timeout: 1s\n        retry: { per_try_timeout: 1s }"),
           route("retry: { per_try_timeout: 5s }"), // no route timeout: no ordering
           route("retry: { on: [retriable-status], retriable_status: [100, 599] }"),
           route("retry: { on: [], budget: { ratio: 0 } }"),
           route("fallback: { status: 599, body: \"\" }"),
           route("fallback: { status: 204 }"),
           route("fallback: { cluster: d, on_upstream_5xx: false }"),
           cluster("limits: { max_pending: 1, max_retries: 0 }"),
           cluster("breaker: { window: { size: 1 }, minimum_calls: 1, half_open_calls: 1 }"),
           cluster("breaker: { window: { type: time, size: 10ms }, failure_rate: 100% }"),
           cluster("breaker: { failure_on: [] }"),
           cluster("outlier: { consecutive_failures: 0, max_ejection: 0% }"),
       }) {
    auto result = loadConfigString(yaml, "x.yaml");
    EXPECT_TRUE(std::holds_alternative<Config>(result))
        << std::get<ConfigError>(result).toString() << "\n"
        << yaml;
  }
}

// Configs built in code have no marks: errors fall back to the block's own mark.
TEST(ResilienceValidateTest, ConfigsBuiltInCodeUseBlockMarks) {
  auto loaded = loadConfigString(configWith(""), "x.yaml");
  ASSERT_TRUE(std::holds_alternative<Config>(loaded));
  Config base = std::get<Config>(loaded);
  base.marks.clear();
  base.source_path = "built-in";

  Config config = base;
  RetryConfig& retry = config.listeners[0].routes[0].retry.emplace();
  retry.mark = Mark{20, 3};
  retry.budget.ratio = 2.0;
  auto error = validate(config);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->toString(), "built-in:20:3: budget ratio must be between 0 and 1 (100%)");

  config = base;
  FallbackConfig& fallback = config.listeners[0].routes[0].fallback.emplace();
  fallback.mark = Mark{21, 4};
  fallback.body_file = "body.json";
  error = validate(config);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->line, 21);
  EXPECT_NE(error->message.find("fallback body_file is read into body by the config loader"),
            std::string::npos)
      << error->message;

  config = base;
  FallbackConfig& other = config.listeners[0].routes[0].fallback.emplace();
  other.headers = {{"X-Upper", "v"}};
  EXPECT_TRUE(validate(config).has_value());
  other.headers = {{"x-a", "v"}, {"x-a", "w"}};
  error = validate(config);
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->message.find("duplicate fallback header 'x-a'"), std::string::npos);
  other.headers.clear();
  other.body.assign(kMaxFallbackBodyBytes + 1, 'x');
  error = validate(config);
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->message.find("fallback body is larger than 1MiB"), std::string::npos);

  config = base;
  config.clusters[0].mark = Mark{30, 5};
  config.clusters[0].outlier.emplace().max_ejection = 1.5;
  error = validate(config);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->toString(),
            "built-in:30:5: max_ejection must be between 0 and 1 (100%), got 1.5");

  config = base;
  BreakerConfig& breaker = config.clusters[0].breaker.emplace();
  breaker.mark = Mark{31, 6};
  breaker.failure_rate = 1.5;
  error = validate(config);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->toString(),
            "built-in:31:6: failure_rate must be greater than 0 and at most 1 (100%), got 1.5");

  config = base;
  EXPECT_EQ(validate(config), std::nullopt);
}

} // namespace
} // namespace seawall::config
