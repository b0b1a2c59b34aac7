// Loading and dumping the resilience keys: route timeout / idle_timeout / retry / fallback and
// cluster limits / breaker / outlier (values land in the structs, defaults, round trip).
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "config/units.h"
#include "config/yaml_loader.h"

namespace seawall::config {
namespace {

using std::chrono::milliseconds;

Config expectConfig(const std::variant<Config, ConfigError>& result) {
  if (const auto* error = std::get_if<ConfigError>(&result)) {
    ADD_FAILURE() << "unexpected error: " << error->toString();
    return Config{};
  }
  return std::get<Config>(result);
}

// One listener whose only route (cluster c) gets `route_lines` (8 spaces of indent), clusters c
// and d, and `cluster_lines` (4 spaces) appended to cluster c.
std::string configWith(const std::string& route_lines, const std::string& cluster_lines = "") {
  return "listeners:\n  - name: l\n    address: 127.0.0.1:15001\n    routes:\n"
         "      - match: { prefix: / }\n        cluster: c\n" +
         route_lines + "clusters:\n  - name: c\n    endpoints: [127.0.0.1:8081]\n" + cluster_lines +
         "  - name: d\n    endpoints: [127.0.0.1:8082]\n";
}

const Route& onlyRoute(const Config& config) { return config.listeners.at(0).routes.at(0); }

// Loads, dumps, loads the dump: both loads must be equal.
void expectRoundTrip(const Config& config) {
  const std::string dumped = dumpConfig(config);
  auto again = loadConfigString(dumped, "dumped.yaml");
  EXPECT_EQ(expectConfig(again), config) << dumped;
}

TEST(ResilienceLoadTest, AbsentBlocksStayAbsent) {
  const Config config = expectConfig(loadConfigString(configWith(""), "x.yaml"));
  const Route& route = onlyRoute(config);
  EXPECT_EQ(route.timeout, milliseconds(0));
  EXPECT_EQ(route.idle_timeout, milliseconds(0));
  EXPECT_FALSE(route.retry.has_value());
  EXPECT_FALSE(route.fallback.has_value());
  const Cluster& cluster = config.clusters.at(0);
  EXPECT_EQ(cluster.limits, ClusterLimits{}); // always enforced, with Envoy's defaults
  EXPECT_EQ(cluster.limits.max_connections, 1024u);
  EXPECT_EQ(cluster.limits.max_pending, 1024u);
  EXPECT_EQ(cluster.limits.max_requests, 1024u);
  EXPECT_EQ(cluster.limits.max_retries, 3u);
  EXPECT_FALSE(cluster.breaker.has_value());
  EXPECT_FALSE(cluster.outlier.has_value());
  const std::string dumped = dumpConfig(config);
  EXPECT_NE(dumped.find("limits: {max_connections: 1024, max_pending: 1024, max_requests: 1024, "
                        "max_retries: 3}"),
            std::string::npos)
      << dumped;
  for (const char* absent : {"retry", "fallback", "breaker", "outlier"}) {
    EXPECT_EQ(dumped.find(absent), std::string::npos) << absent << " in\n" << dumped;
  }
}

TEST(ResilienceLoadTest, EmptyBlocksGetDefaults) {
  const Config config = expectConfig(
      loadConfigString(configWith("        retry: {}\n        fallback: { last_good: {} }\n",
                                  "    limits: {}\n    breaker: {}\n    outlier: {}\n"),
                       "x.yaml"));
  const Route& route = onlyRoute(config);
  ASSERT_TRUE(route.retry.has_value());
  const RetryConfig& retry = *route.retry;
  EXPECT_EQ(retry, RetryConfig{});
  EXPECT_EQ(retry.max_retries, 1u);
  EXPECT_EQ(retry.on,
            (std::vector<std::string>{"connect-failure", "refused-stream", "gateway-error"}));
  EXPECT_TRUE(retry.retriable_status.empty());
  EXPECT_EQ(retry.per_try_timeout, milliseconds(0));
  EXPECT_EQ(retry.backoff.base, milliseconds(25));
  EXPECT_EQ(retry.backoff.max, milliseconds(1000));
  EXPECT_TRUE(retry.honor_retry_after);
  EXPECT_DOUBLE_EQ(retry.budget.ratio, 0.2);
  EXPECT_EQ(retry.budget.min_per_second, 10u);
  EXPECT_FALSE(retry.retry_non_idempotent);
  EXPECT_FALSE(retry.retry_idempotency_key);
  EXPECT_EQ(retry.mark.line, 7);
  EXPECT_EQ(retry.mark.column, 16);
  ASSERT_TRUE(route.fallback.has_value());
  EXPECT_EQ(route.fallback->kind, FallbackConfig::Kind::LastGood);
  EXPECT_EQ(route.fallback->last_good.ttl, milliseconds(300000));
  EXPECT_EQ(route.fallback->last_good.max_bytes, 16u * 1024 * 1024);
  EXPECT_TRUE(route.fallback->on_upstream_5xx);
  const Cluster& cluster = config.clusters.at(0);
  EXPECT_EQ(cluster.limits, ClusterLimits{});
  ASSERT_TRUE(cluster.breaker.has_value());
  const BreakerConfig& breaker = *cluster.breaker;
  EXPECT_EQ(breaker, BreakerConfig{});
  EXPECT_EQ(breaker.window_type, BreakerConfig::WindowType::Count);
  EXPECT_EQ(breaker.window_calls, 100u);
  EXPECT_EQ(breaker.minimum_calls, 20u);
  EXPECT_DOUBLE_EQ(breaker.failure_rate, 0.5);
  EXPECT_EQ(breaker.slow_call_duration, milliseconds(1000));
  EXPECT_DOUBLE_EQ(breaker.slow_call_rate, 1.0);
  EXPECT_EQ(breaker.open_for, milliseconds(5000));
  EXPECT_EQ(breaker.half_open_calls, 5u);
  EXPECT_EQ(breaker.failure_on,
            (std::vector<std::string>{"5xx", "reset", "timeout", "connect-failure"}));
  EXPECT_FALSE(breaker.open_on_retry_after);
  EXPECT_EQ(breaker.mode, BreakerConfig::Mode::Normal);
  EXPECT_EQ(breaker.mark.line, 13);
  ASSERT_TRUE(cluster.outlier.has_value());
  EXPECT_EQ(*cluster.outlier, OutlierConfig{});
  EXPECT_EQ(cluster.outlier->consecutive_failures, 5u);
  EXPECT_EQ(cluster.outlier->ejection_time, milliseconds(30000));
  EXPECT_DOUBLE_EQ(cluster.outlier->max_ejection, 0.5);
  expectRoundTrip(config);
}

TEST(ResilienceLoadTest, RouteKeysLand) {
  const Config config = expectConfig(loadConfigString(configWith(R"(        timeout: 3s
        idle_timeout: 1500ms
        retry:
          max_retries: 7
          on: [5xx, retriable-status, grpc-unavailable]
          retriable_status: [409, 503]
          per_try_timeout: 1s
          backoff: { base: 50ms, max: 2s }
          honor_retry_after: false
          budget: { ratio: 30%, min_per_second: 0 }
          retry_non_idempotent: true
          retry_idempotency_key: true
        fallback:
          status: 503
          headers: { Content-Type: application/json, X-Why: "upstream down" }
          body: '{"items":[]}'
          on_upstream_5xx: false
)"),
                                                      "x.yaml"));
  const Route& route = onlyRoute(config);
  EXPECT_EQ(route.timeout, milliseconds(3000));
  EXPECT_EQ(route.idle_timeout, milliseconds(1500));
  ASSERT_TRUE(route.retry.has_value());
  const RetryConfig& retry = *route.retry;
  EXPECT_EQ(retry.max_retries, 7u);
  EXPECT_EQ(retry.on, (std::vector<std::string>{"5xx", "retriable-status", "grpc-unavailable"}));
  EXPECT_EQ(retry.retriable_status, (std::vector<int>{409, 503}));
  EXPECT_EQ(retry.per_try_timeout, milliseconds(1000));
  EXPECT_EQ(retry.backoff.base, milliseconds(50));
  EXPECT_EQ(retry.backoff.max, milliseconds(2000));
  EXPECT_FALSE(retry.honor_retry_after);
  EXPECT_DOUBLE_EQ(retry.budget.ratio, 0.3);
  EXPECT_EQ(retry.budget.min_per_second, 0u);
  EXPECT_TRUE(retry.retry_non_idempotent);
  EXPECT_TRUE(retry.retry_idempotency_key);
  ASSERT_TRUE(route.fallback.has_value());
  const FallbackConfig& fallback = *route.fallback;
  EXPECT_EQ(fallback.kind, FallbackConfig::Kind::Static);
  EXPECT_EQ(fallback.status, 503);
  using Headers = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(fallback.headers,
            (Headers{{"content-type", "application/json"}, {"x-why", "upstream down"}}));
  EXPECT_EQ(fallback.body, R"({"items":[]})");
  EXPECT_TRUE(fallback.body_file.empty());
  EXPECT_FALSE(fallback.on_upstream_5xx);
  EXPECT_EQ(fallback.mark.line, 20);
  EXPECT_EQ(config.marks.at("listeners[0].routes[0].retry.on[2]").line, 11);
  EXPECT_EQ(config.marks.at("listeners[0].routes[0].retry.on[2]").column, 39);
  EXPECT_EQ(config.marks.at("listeners[0].routes[0].fallback.headers.x-why").column, 61);
  expectRoundTrip(config);
}

TEST(ResilienceLoadTest, FallbackKinds) {
  struct Case {
    std::string fallback;
    FallbackConfig::Kind kind;
  };
  const std::vector<Case> cases = {
      {"{ status: 200 }", FallbackConfig::Kind::Static},
      {"{ body: hi }", FallbackConfig::Kind::Static},
      {"{ headers: { a: b } }", FallbackConfig::Kind::Static},
      {"{ cluster: d }", FallbackConfig::Kind::Cluster},
      {"{ last_good: { ttl: 1m, max_bytes: 64KiB }, on_upstream_5xx: false }",
       FallbackConfig::Kind::LastGood},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.fallback);
    const Config config =
        expectConfig(loadConfigString(configWith("        fallback: " + c.fallback + "\n"), "x"));
    ASSERT_TRUE(onlyRoute(config).fallback.has_value());
    EXPECT_EQ(onlyRoute(config).fallback->kind, c.kind);
    expectRoundTrip(config);
  }
  const Config config = expectConfig(loadConfigString(
      configWith("        fallback: { last_good: { ttl: 1m, max_bytes: 64KiB } }\n"), "x"));
  EXPECT_EQ(onlyRoute(config).fallback->last_good.ttl, milliseconds(60000));
  EXPECT_EQ(onlyRoute(config).fallback->last_good.max_bytes, 64u * 1024);
  const Config other =
      expectConfig(loadConfigString(configWith("        fallback: { cluster: d }\n"), "x"));
  EXPECT_EQ(onlyRoute(other).fallback->cluster, "d");
}

TEST(ResilienceLoadTest, ClusterKeysLand) {
  const Config config = expectConfig(loadConfigString(
      configWith(
          "",
          R"(    limits: { max_connections: 10, max_pending: 1, max_requests: 20, max_retries: 0 }
    breaker:
      window: { size: 30s, type: time }
      minimum_calls: 4
      failure_rate: 0.25
      slow_call: { duration: 2s, rate: 40% }
      open_for: 1m
      half_open_calls: 1
      failure_on: [gateway-error, grpc-unavailable]
      open_on_retry_after: true
      mode: disabled
    outlier: { consecutive_failures: 0, ejection_time: 5s, max_ejection: 100% }
)"),
      "x.yaml"));
  const Cluster& cluster = config.clusters.at(0);
  EXPECT_EQ(cluster.limits.max_connections, 10u);
  EXPECT_EQ(cluster.limits.max_pending, 1u);
  EXPECT_EQ(cluster.limits.max_requests, 20u);
  EXPECT_EQ(cluster.limits.max_retries, 0u);
  ASSERT_TRUE(cluster.breaker.has_value());
  const BreakerConfig& breaker = *cluster.breaker;
  EXPECT_EQ(breaker.window_type, BreakerConfig::WindowType::Time);
  EXPECT_EQ(breaker.window_time, milliseconds(30000));
  EXPECT_EQ(breaker.window_calls, 100u);
  EXPECT_EQ(breaker.minimum_calls, 4u);
  EXPECT_DOUBLE_EQ(breaker.failure_rate, 0.25);
  EXPECT_EQ(breaker.slow_call_duration, milliseconds(2000));
  EXPECT_DOUBLE_EQ(breaker.slow_call_rate, 0.4);
  EXPECT_EQ(breaker.open_for, milliseconds(60000));
  EXPECT_EQ(breaker.half_open_calls, 1u);
  EXPECT_EQ(breaker.failure_on, (std::vector<std::string>{"gateway-error", "grpc-unavailable"}));
  EXPECT_TRUE(breaker.open_on_retry_after);
  EXPECT_EQ(breaker.mode, BreakerConfig::Mode::Disabled);
  ASSERT_TRUE(cluster.outlier.has_value());
  EXPECT_EQ(cluster.outlier->consecutive_failures, 0u);
  EXPECT_EQ(cluster.outlier->ejection_time, milliseconds(5000));
  EXPECT_DOUBLE_EQ(cluster.outlier->max_ejection, 1.0);
  expectRoundTrip(config);
}

TEST(ResilienceLoadTest, WindowSizeFollowsType) {
  struct Case {
    std::string window;
    BreakerConfig::WindowType type;
    uint64_t calls;
    milliseconds time;
  };
  const std::vector<Case> cases = {
      {"{ type: count, size: 7 }", BreakerConfig::WindowType::Count, 7, milliseconds(10000)},
      {"{ size: 7 }", BreakerConfig::WindowType::Count, 7, milliseconds(10000)},
      {"{ type: time }", BreakerConfig::WindowType::Time, 100, milliseconds(10000)},
      {"{ type: time, size: 10ms }", BreakerConfig::WindowType::Time, 100, milliseconds(10)},
      {"{ size: 2m, type: time }", BreakerConfig::WindowType::Time, 100, milliseconds(120000)},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.window);
    const Config config = expectConfig(
        loadConfigString(configWith("", "    breaker: { window: " + c.window + " }\n"), "x"));
    ASSERT_TRUE(config.clusters.at(0).breaker.has_value());
    const BreakerConfig& breaker = *config.clusters.at(0).breaker;
    EXPECT_EQ(breaker.window_type, c.type);
    EXPECT_EQ(breaker.window_calls, c.calls);
    EXPECT_EQ(breaker.window_time, c.time);
    expectRoundTrip(config);
  }
}

TEST(ResilienceLoadTest, RatiosTakePercentOrFraction) {
  const std::vector<std::pair<std::string, double>> cases = {
      {"50%", 0.5}, {"0.5", 0.5}, {"100%", 1.0}, {"1", 1.0}, {"12.5%", 0.125}, {"0.001", 0.001}};
  for (const auto& [text, value] : cases) {
    SCOPED_TRACE(text);
    std::string lines = "    breaker: { failure_rate: ";
    lines += text;
    lines += ", slow_call: { rate: ";
    lines += text;
    lines += " } }\n    outlier: { max_ejection: ";
    lines += text;
    lines += " }\n";
    const Config config = expectConfig(loadConfigString(configWith("", lines), "x"));
    EXPECT_DOUBLE_EQ(config.clusters.at(0).breaker->failure_rate, value);
    EXPECT_DOUBLE_EQ(config.clusters.at(0).breaker->slow_call_rate, value);
    EXPECT_DOUBLE_EQ(config.clusters.at(0).outlier->max_ejection, value);
    expectRoundTrip(config);
  }
}

// A scratch directory under /tmp, removed at the end of the test.
class TempDir {
public:
  TempDir() {
    std::string pattern = "/tmp/seawall-config-test-XXXXXX";
    if (mkdtemp(pattern.data()) != nullptr) {
      path_ = pattern;
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir(TempDir&&) = delete;
  TempDir& operator=(TempDir&&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::string write(const std::string& name, const std::string& content) const {
    const std::filesystem::path file = path_ / name;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << content;
    return file.string();
  }

private:
  std::filesystem::path path_;
};

TEST(ResilienceLoadTest, BodyFileIsReadRelativeToTheConfigFile) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string body = "{\"items\":[],\"stale\":true}\n\xc3\xa9";
  dir.write("bodies/inventory.json", body);
  const std::string config_path = dir.write(
      "seawall.yaml",
      configWith("        fallback: { status: 200, body_file: bodies/inventory.json }\n"));
  const Config config = expectConfig(loadConfigFile(config_path));
  ASSERT_TRUE(onlyRoute(config).fallback.has_value());
  EXPECT_EQ(onlyRoute(config).fallback->body, body);
  EXPECT_TRUE(onlyRoute(config).fallback->body_file.empty());

  // Dumped as `body`: the dump loads anywhere, without the file.
  const std::string dumped = dumpConfig(config);
  EXPECT_EQ(dumped.find("body_file"), std::string::npos) << dumped;
  EXPECT_NE(dumped.find("body: \"{\\\"items\\\""), std::string::npos) << dumped;
  expectRoundTrip(config);

  // An absolute path works from anywhere.
  const std::string absolute = (dir.path() / "bodies/inventory.json").string();
  const Config again = expectConfig(loadConfigString(
      configWith("        fallback: { body_file: \"" + absolute + "\" }\n"), "elsewhere.yaml"));
  EXPECT_EQ(onlyRoute(again).fallback->body, body);

  // Exactly 1MiB is allowed.
  dir.write("big.txt", std::string(size_t{1024} * 1024, 'x'));
  const Config big = expectConfig(loadConfigString(
      configWith("        fallback: { body_file: big.txt }\n"), (dir.path() / "c.yaml").string()));
  EXPECT_EQ(onlyRoute(big).fallback->body.size(), size_t{1024} * 1024);
}

TEST(ResilienceLoadTest, BodyFileErrors) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  dir.write("huge.txt", std::string(size_t{1024} * 1024 + 1, 'x'));
  dir.write("binary.bin", std::string("\x89PNG\r\n\x1a\n\xff", 9));
  dir.write("sub/keep", "");
  const std::string config_file = (dir.path() / "seawall.yaml").string();
  const std::string dir_text = dir.path().string();
  struct Case {
    std::string file;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"missing.json",
       "cannot read fallback body_file '" + dir_text + "/missing.json': No such file"},
      {"sub", "cannot read fallback body_file '" + dir_text + "/sub': it is a directory"},
      {"huge.txt", "fallback body_file '" + dir_text + "/huge.txt' is larger than 1MiB"},
      {"binary.bin", "fallback body must be UTF-8 text"},
      {"''", "body_file must not be empty"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    auto result = loadConfigString(
        configWith("        fallback: { status: 503, body_file: " + c.file + " }\n"), config_file);
    const auto* error = std::get_if<ConfigError>(&result);
    ASSERT_NE(error, nullptr);
    EXPECT_EQ(error->file, config_file);
    EXPECT_EQ(error->line, 7);
    EXPECT_EQ(error->column, 45);
    EXPECT_NE(error->message.find(c.message), std::string::npos) << error->message;
  }
}

TEST(ResilienceLoadTest, FullExampleSetsEveryResilienceKey) {
  const Config config =
      expectConfig(loadConfigFile(SEAWALL_SOURCE_DIR "/config/examples/full.yaml"));
  const Listener& out = config.listeners.at(0);
  const Route& health = out.routes.at(0);
  EXPECT_EQ(health.timeout, milliseconds(2000));
  EXPECT_EQ(health.idle_timeout, milliseconds(500));
  ASSERT_TRUE(health.retry.has_value());
  EXPECT_EQ(health.retry->max_retries, 4u);
  EXPECT_EQ(health.retry->on.size(), 11u); // every condition
  EXPECT_EQ(health.retry->retriable_status, (std::vector<int>{409, 429}));
  EXPECT_EQ(health.retry->per_try_timeout, milliseconds(750));
  EXPECT_EQ(health.retry->backoff.base, milliseconds(10));
  EXPECT_EQ(health.retry->backoff.max, milliseconds(400));
  EXPECT_FALSE(health.retry->honor_retry_after);
  EXPECT_DOUBLE_EQ(health.retry->budget.ratio, 0.35);
  EXPECT_EQ(health.retry->budget.min_per_second, 3u);
  EXPECT_TRUE(health.retry->retry_non_idempotent);
  EXPECT_TRUE(health.retry->retry_idempotency_key);
  ASSERT_TRUE(health.fallback.has_value());
  EXPECT_EQ(health.fallback->status, 503);
  EXPECT_EQ(health.fallback->headers.at(0).first, "content-type");
  EXPECT_EQ(health.fallback->body, "{\"items\":[],\"stale\":true}\n"); // from full-fallback.json
  EXPECT_FALSE(health.fallback->on_upstream_5xx);
  EXPECT_EQ(out.routes.at(1).fallback->kind, FallbackConfig::Kind::Cluster);
  EXPECT_EQ(out.routes.at(1).fallback->cluster, "inventory");
  EXPECT_EQ(out.routes.at(2).fallback->kind, FallbackConfig::Kind::LastGood);
  EXPECT_EQ(out.routes.at(2).fallback->last_good.ttl, milliseconds(90000));
  EXPECT_EQ(out.routes.at(2).fallback->last_good.max_bytes, 4u * 1024 * 1024);
  EXPECT_EQ(config.listeners.at(1).routes.at(0).fallback->status, 202);
  const Cluster* inventory = config.findCluster("inventory");
  ASSERT_NE(inventory, nullptr);
  EXPECT_EQ(inventory->limits.max_connections, 512u);
  EXPECT_EQ(inventory->limits.max_pending, 256u);
  EXPECT_EQ(inventory->limits.max_requests, 768u);
  EXPECT_EQ(inventory->limits.max_retries, 5u);
  ASSERT_TRUE(inventory->breaker.has_value());
  EXPECT_EQ(inventory->breaker->window_type, BreakerConfig::WindowType::Time);
  EXPECT_EQ(inventory->breaker->window_time, milliseconds(30000));
  EXPECT_EQ(inventory->breaker->minimum_calls, 10u);
  EXPECT_DOUBLE_EQ(inventory->breaker->failure_rate, 0.25);
  EXPECT_EQ(inventory->breaker->slow_call_duration, milliseconds(800));
  EXPECT_DOUBLE_EQ(inventory->breaker->slow_call_rate, 0.75);
  EXPECT_EQ(inventory->breaker->open_for, milliseconds(12000));
  EXPECT_EQ(inventory->breaker->half_open_calls, 3u);
  EXPECT_EQ(inventory->breaker->failure_on.size(), 13u); // every condition
  EXPECT_TRUE(inventory->breaker->open_on_retry_after);
  EXPECT_EQ(inventory->breaker->mode, BreakerConfig::Mode::MetricsOnly);
  ASSERT_TRUE(inventory->outlier.has_value());
  EXPECT_EQ(inventory->outlier->consecutive_failures, 3u);
  EXPECT_EQ(inventory->outlier->ejection_time, milliseconds(10000));
  EXPECT_DOUBLE_EQ(inventory->outlier->max_ejection, 0.2);
  const Cluster* canary = config.findCluster("inventory-canary");
  ASSERT_NE(canary, nullptr);
  EXPECT_EQ(canary->breaker->window_calls, 50u);
  EXPECT_EQ(canary->breaker->mode, BreakerConfig::Mode::ForcedOpen);
}

// Values a config file rarely holds but code may: they must survive the dump too.
TEST(ResilienceLoadTest, OddValuesRoundTrip) {
  Config config = expectConfig(
      loadConfigString(configWith("        retry: {}\n        fallback: { status: 200 }\n",
                                  "    breaker: {}\n    outlier: {}\n"),
                       "x.yaml"));
  Route& route = config.listeners.at(0).routes.at(0);
  route.retry->budget.ratio = 1.0 / 3.0;
  route.retry->retriable_status.clear();
  route.retry->on = {"reset"};
  route.fallback->headers = {{"x-q", "a \"quoted\" value: [x] # y"}, {"x-empty", ""}};
  route.fallback->body = "line 1\nline 2\t\"q\" \\ null ~ \xe2\x82\xac";
  config.clusters.at(0).breaker->failure_rate = 0.1 + 0.2; // 0.30000000000000004
  config.clusters.at(0).breaker->slow_call_rate = 2.0 / 3.0;
  config.clusters.at(0).breaker->failure_on.clear();
  config.clusters.at(0).outlier->max_ejection = 0.0;
  expectRoundTrip(config);
  EXPECT_EQ(formatRatio(0.5), "0.5");
  EXPECT_EQ(formatRatio(1.0), "1");
  EXPECT_EQ(formatRatio(0.0), "0");
  EXPECT_EQ(parseRatio(formatRatio(1.0 / 3.0)), 1.0 / 3.0);
}

TEST(ResilienceLoadTest, FallbackBodiesMustBeUtf8) {
  const std::vector<std::pair<std::string, bool>> cases = {
      {"", true},
      {"plain ascii\n\t", true},
      {"\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf", true}, // é € 😀 U+10FFFF
      {std::string("nul \0 inside", 12), true},
      {"\xff", false},
      {"\x80", false},             // continuation byte first
      {"\xc0\xaf", false},         // overlong '/'
      {"\xe0\x80\xaf", false},     // overlong, three bytes
      {"\xed\xa0\x80", false},     // UTF-16 surrogate
      {"\xf4\x90\x80\x80", false}, // above U+10FFFF
      {"\xe2\x82", false},         // truncated
      {"ok \xc3", false},          // truncated at the end
  };
  for (const auto& [text, valid] : cases) {
    SCOPED_TRACE(testing::PrintToString(text));
    EXPECT_EQ(isUtf8Text(text), valid);
  }
}

} // namespace
} // namespace seawall::config
