// The 202-conversion keys: route `async:` and top-level `async_store:`, loaded, validated, dumped.
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "config/units.h"
#include "config/validate.h"
#include "config/yaml_loader.h"

namespace seawall::config {
namespace {

using std::chrono::milliseconds;

// One listener whose only route (cluster c) gets `route_lines` (8 spaces of indent), cluster c,
// then `top_lines` at the top level. Lines 1-6 are the listener, 7.. the route lines.
std::string configWith(const std::string& route_lines, const std::string& top_lines = "") {
  return "listeners:\n  - name: l\n    address: 127.0.0.1:15001\n    routes:\n"
         "      - match: { prefix: / }\n        cluster: c\n" +
         route_lines + "clusters:\n  - name: c\n    endpoints: [127.0.0.1:8081]\n" + top_lines;
}

// Line of the first top-level line after configWith(route_lines).
int topLine(const std::string& route_lines) {
  int lines = 0;
  for (char c : route_lines) {
    lines += c == '\n' ? 1 : 0;
  }
  return 6 + lines + 3 + 1;
}

Config expectConfig(const std::variant<Config, ConfigError>& result) {
  if (const auto* error = std::get_if<ConfigError>(&result)) {
    ADD_FAILURE() << "unexpected error: " << error->toString();
    return Config{};
  }
  return std::get<Config>(result);
}

const AsyncConfig& onlyAsync(const Config& config) {
  static const AsyncConfig none;
  const auto& async = config.listeners.at(0).routes.at(0).async;
  EXPECT_TRUE(async.has_value());
  return async ? *async : none;
}

::testing::AssertionResult failsAt(const std::string& yaml, int line, int column,
                                   const std::string& message) {
  auto result = loadConfigString(yaml, "x.yaml");
  const auto* error = std::get_if<ConfigError>(&result);
  if (error == nullptr) {
    return ::testing::AssertionFailure() << "loaded without error";
  }
  const std::string text = error->toString();
  const std::string prefix = "x.yaml:" + std::to_string(line) + ":" + std::to_string(column) + ": ";
  if (text.rfind(prefix, 0) != 0 || error->message.find(message) == std::string::npos) {
    return ::testing::AssertionFailure()
           << "got \"" << text << "\", want \"" << prefix << "..." << message << "...\"";
  }
  return ::testing::AssertionSuccess();
}

// Dumps and loads back: the routes and the async store are equal, and the dump is stable.
void expectRoundTrip(const Config& config) {
  const std::string dumped = dumpConfig(config);
  const Config again = expectConfig(loadConfigString(dumped, "dumped.yaml"));
  EXPECT_EQ(again, config) << dumped;
  EXPECT_EQ(again.async_store, config.async_store) << dumped;
  EXPECT_EQ(dumpConfig(again), dumped);
}

TEST(AsyncConfigTest, AbsentAsyncStaysAbsentAndStoreHasDefaults) {
  const Config config = expectConfig(loadConfigString(configWith(""), "x.yaml"));
  EXPECT_FALSE(config.listeners[0].routes[0].async.has_value());
  const AsyncStoreConfig& store = config.async_store;
  const AsyncStoreConfig defaults;
  EXPECT_EQ(store, defaults);
  EXPECT_EQ(store.backend, AsyncStoreConfig::Backend::Memory);
  EXPECT_EQ(store.max_jobs, 10000u);
  EXPECT_EQ(store.max_bytes, size_t{256} * 1024 * 1024);
  EXPECT_EQ(store.redis.address, (HostPort{"127.0.0.1", 6379}));
  EXPECT_EQ(store.redis.key_prefix, "seawall:");
  const std::string dumped = dumpConfig(config);
  EXPECT_EQ(dumped.find("async:"), std::string::npos) << dumped;
  for (const char* expected :
       {"async_store:", "backend: memory", "max_jobs: 10000", "max_bytes: 256MiB",
        "redis: {address: 127.0.0.1:6379, key_prefix: \"seawall:\"}"}) {
    EXPECT_NE(dumped.find(expected), std::string::npos) << expected << " in\n" << dumped;
  }
  expectRoundTrip(config);
}

TEST(AsyncConfigTest, OnlyAfterGivenGetsDefaults) {
  const Config config =
      expectConfig(loadConfigString(configWith("        async: { after: 500ms }\n"), "x.yaml"));
  const AsyncConfig& async = onlyAsync(config);
  EXPECT_EQ(async.after, milliseconds(500));
  EXPECT_EQ(async.when, AsyncConfig::When::Always);
  EXPECT_EQ(async.retry_after, milliseconds(1000));
  EXPECT_EQ(async.retention, milliseconds(600000));
  EXPECT_EQ(async.callback_header, "");
  EXPECT_TRUE(async.callback_allow.empty());
  EXPECT_FALSE(async.queue_while_down);
  EXPECT_EQ(async.max_result_bytes, size_t{16} * 1024 * 1024);
  EXPECT_EQ(async.mark.line, 7);
  const std::string dumped = dumpConfig(config);
  for (const char* expected : {"after: 500ms", "when: always", "retry_after: 1s", "retention: 10m",
                               "callback_header: \"\"", "callback_allow: []",
                               "queue_while_down: false", "max_result_bytes: 16MiB"}) {
    EXPECT_NE(dumped.find(expected), std::string::npos) << expected << " in\n" << dumped;
  }
  expectRoundTrip(config);
}

TEST(AsyncConfigTest, EveryKeyLands) {
  const std::string yaml =
      configWith("        async:\n"
                 "          after: 2s\n"
                 "          when: prefer-respond-async\n"
                 "          retry_after: 3s\n"
                 "          retention: 1h\n"
                 "          callback_header: Callback-URL\n"
                 "          callback_allow: [127.0.0.1, \"::1\", Hooks.Local]\n"
                 "          queue_while_down: true\n"
                 "          max_result_bytes: 1MiB\n",
                 "async_store:\n"
                 "  backend: memory\n"
                 "  max_jobs: 7\n"
                 "  max_bytes: 64MiB\n"
                 "  redis: { address: \"[::1]:6390\", key_prefix: sw- }\n");
  const Config config = expectConfig(loadConfigString(yaml, "x.yaml"));
  const AsyncConfig& async = onlyAsync(config);
  EXPECT_EQ(async.after, milliseconds(2000));
  EXPECT_EQ(async.when, AsyncConfig::When::PreferRespondAsync);
  EXPECT_EQ(async.retry_after, milliseconds(3000));
  EXPECT_EQ(async.retention, milliseconds(3600000));
  EXPECT_EQ(async.callback_header, "callback-url"); // names are case-insensitive
  EXPECT_EQ(async.callback_allow, (std::vector<std::string>{"127.0.0.1", "::1", "hooks.local"}));
  EXPECT_TRUE(async.queue_while_down);
  EXPECT_EQ(async.max_result_bytes, size_t{1024} * 1024);
  EXPECT_EQ(config.async_store.max_jobs, 7u);
  EXPECT_EQ(config.async_store.max_bytes, size_t{64} * 1024 * 1024);
  EXPECT_EQ(config.async_store.redis.address, (HostPort{"::1", 6390}));
  EXPECT_EQ(config.async_store.redis.key_prefix, "sw-");
  EXPECT_EQ(config.marks.at("async_store.max_jobs").line, 21);
  EXPECT_EQ(config.marks.at("listeners[0].routes[0].async.callback_allow[2]").line, 13);
  expectRoundTrip(config);
}

TEST(AsyncConfigTest, FullExampleSetsEveryAsyncKey) {
  const Config config =
      expectConfig(loadConfigFile(SEAWALL_SOURCE_DIR "/config/examples/full.yaml"));
  const std::vector<Route>& routes = config.listeners.at(0).routes;
  ASSERT_EQ(routes.size(), 3u);
  ASSERT_TRUE(routes[2].async.has_value());
  const AsyncConfig& async = *routes[2].async;
  EXPECT_EQ(async.after, milliseconds(250));
  EXPECT_EQ(async.when, AsyncConfig::When::PreferRespondAsync);
  EXPECT_EQ(async.retry_after, milliseconds(1500));
  EXPECT_EQ(async.retryAfterSeconds(), 2);
  EXPECT_EQ(async.retention, milliseconds(1800000));
  EXPECT_EQ(async.callback_header, "x-callback-url");
  EXPECT_EQ(async.callback_allow,
            (std::vector<std::string>{"127.0.0.1", "::1", "hooks.example.internal"}));
  EXPECT_TRUE(async.queue_while_down);
  EXPECT_EQ(async.max_result_bytes, size_t{8} * 1024 * 1024);
  ASSERT_TRUE(config.listeners.at(1).routes.at(0).async.has_value());
  EXPECT_EQ(config.listeners[1].routes[0].async->after, milliseconds(2000));
  EXPECT_EQ(config.async_store.backend, AsyncStoreConfig::Backend::Memory);
  EXPECT_EQ(config.async_store.max_jobs, 5000u);
  EXPECT_EQ(config.async_store.max_bytes, size_t{128} * 1024 * 1024);
  EXPECT_EQ(config.async_store.redis.address, (HostPort{"127.0.0.1", 6380}));
  EXPECT_EQ(config.async_store.redis.key_prefix, "seawall-full:");
  expectRoundTrip(config);
}

TEST(AsyncConfigTest, RetryAfterIsSentInWholeSecondsRoundedUp) {
  const std::vector<std::pair<int64_t, int64_t>> cases = {{1000, 1}, {1001, 2},   {1500, 2},
                                                          {2000, 2}, {59999, 60}, {3600000, 3600}};
  for (const auto& [ms, seconds] : cases) {
    AsyncConfig async;
    async.retry_after = milliseconds(ms);
    EXPECT_EQ(async.retryAfterSeconds(), seconds) << ms;
  }
}

struct ErrorCase {
  std::string yaml;
  int line;
  int column;
  std::string message;
};

void expectErrors(const std::vector<ErrorCase>& cases) {
  for (const auto& c : cases) {
    SCOPED_TRACE(c.yaml);
    EXPECT_TRUE(failsAt(c.yaml, c.line, c.column, c.message));
  }
}

TEST(AsyncConfigTest, LoaderErrorsPointAtTheValue) {
  const std::string store_at = "async_store:\n";
  const int top = topLine("");
  expectErrors({
      {configWith("        async: {}\n"), 7, 16, "missing required key 'after' in async"},
      {configWith("        async:\n"), 7, 9, "expected a map for 'async', got nothing"},
      {configWith("        async: { after: 1s, afterr: 2s }\n"), 7, 29,
       "unknown key 'afterr' in async (expected one of: after, when, retry_after, retention, "
       "callback_header, callback_allow, queue_while_down, max_result_bytes)"},
      {configWith("        async: { after: 1s, after: 2s }\n"), 7, 29,
       "duplicate key 'after' in async"},
      {configWith("        async: { after: 5 }\n"), 7, 25, "invalid duration '5'"},
      {configWith("        async: { after: 1s, when: sometimes }\n"), 7, 35,
       "invalid value 'sometimes' for 'when' (expected one of: always, prefer-respond-async)"},
      {configWith("        async: { after: 1s, callback_allow: 127.0.0.1 }\n"), 7, 45,
       "expected a list for 'callback_allow', got '127.0.0.1'"},
      {configWith("        async: { after: 1s, queue_while_down: yes }\n"), 7, 47,
       "invalid value 'yes' for 'queue_while_down' (use true or false)"},
      {configWith("        async: { after: 1s, max_result_bytes: 1MB }\n"), 7, 47,
       "invalid size '1MB'"},
      {configWith("", store_at + "  backend: postgres\n"), top + 1, 12,
       "invalid value 'postgres' for 'backend' (expected one of: memory, redis)"},
      {configWith("", store_at + "  max_jobs: -1\n"), top + 1, 13,
       "invalid number '-1' for 'max_jobs'"},
      {configWith("", store_at + "  ttl: 5m\n"), top + 1, 3,
       "unknown key 'ttl' in async_store (expected one of: backend, max_jobs, max_bytes, redis)"},
      {configWith("", store_at + "  redis: { address: localhost }\n"), top + 1, 21,
       "invalid address 'localhost'"},
      {configWith("", store_at + "  redis: { db: 2 }\n"), top + 1, 12,
       "unknown key 'db' in redis (expected one of: address, key_prefix)"},
      {configWith("", "async_store: memory\n"), top, 14,
       "expected a map for 'async_store', got 'memory'"},
  });
}

TEST(AsyncConfigTest, ValidationErrorsPointAtTheValue) {
  const std::string after_1s = "        async:\n          after: 1s\n";
  const int top = topLine(after_1s);
  expectErrors({
      {configWith("        async: { after: 0s }\n"), 7, 25, "async after must be at least 1ms"},
      {configWith("        timeout: 2s\n        async: { after: 2s }\n"), 8, 25,
       "async after (2s) must be shorter than the route's timeout (2s)"},
      {configWith(after_1s + "          retry_after: 999ms\n"), 9, 24,
       "retry_after must be at least 1s (Retry-After counts whole seconds), got 999ms"},
      {configWith(after_1s + "          retry_after: 5s\n          retention: 4s\n"), 10, 22,
       "retention (4s) must not be shorter than retry_after (5s)"},
      {configWith(after_1s + "          max_result_bytes: 0\n"), 9, 29,
       "max_result_bytes must be between 1B and async_store max_bytes (256MiB), got 0B"},
      {configWith(after_1s + "          max_result_bytes: 2MiB\n",
                  "async_store: { max_bytes: 1MiB }\n"),
       9, 29, "max_result_bytes must be between 1B and async_store max_bytes (1MiB), got 2MiB"},
      {configWith(after_1s + "          callback_header: \"callback url\"\n"
                             "          callback_allow: [a]\n"),
       9, 28, "invalid callback_header 'callback url' (use a lowercase header name)"},
      {configWith(after_1s + "          callback_header: callback-url\n"), 9, 28,
       "callback_header needs a non-empty callback_allow"},
      {configWith(after_1s + "          callback_allow: [127.0.0.1]\n"), 9, 27,
       "callback_allow needs callback_header"},
      {configWith(after_1s + "          callback_header: cb\n"
                             "          callback_allow: [a.local, \"127.0.0.1:80\"]\n"),
       10, 37, "invalid host '127.0.0.1:80' in callback_allow"},
      {configWith(after_1s + "          callback_header: cb\n"
                             "          callback_allow: [\"[::1]\"]\n"),
       10, 28, "invalid host '[::1]' in callback_allow"},
      {configWith(after_1s + "          callback_header: cb\n"
                             "          callback_allow: [Hooks.Local, hooks.local]\n"),
       10, 41, "duplicate host 'hooks.local' in callback_allow"},
      {configWith(after_1s + "          queue_while_down: true\n",
                  "async_store: { backend: redis }\n"),
       9, 29, "queue_while_down needs async_store backend memory"},
      {configWith(after_1s, "async_store: { max_jobs: 0 }\n"), top, 26,
       "async_store max_jobs must be at least 1"},
      {configWith(after_1s, "async_store: { max_bytes: 1023 }\n"), top, 27,
       "async_store max_bytes must be at least 1KiB, got 1023B"},
      {configWith(after_1s, "async_store: { redis: { key_prefix: \"\" } }\n"), top, 37,
       "redis key_prefix must not be empty"},
      {configWith(after_1s, "async_store: { redis: { address: 127.0.0.1:0 } }\n"), top, 34,
       "port 0 is not allowed in '127.0.0.1:0'"},
  });
}

// A config built in code skips the loader's lowercasing: validate() still holds the line.
TEST(AsyncConfigTest, CodeBuiltConfigsAreValidatedToo) {
  Config config =
      expectConfig(loadConfigString(configWith("        async: { after: 1s }\n"), "x.yaml"));
  ASSERT_FALSE(validate(config).has_value());
  AsyncConfig& async = *config.listeners[0].routes[0].async;
  async.callback_header = "Callback-Url";
  async.callback_allow = {"hooks.local"};
  auto error = validate(config);
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->message.find("invalid callback_header 'Callback-Url'"), std::string::npos)
      << error->message;
  async.callback_header = "callback-url";
  async.callback_allow = {"Hooks.local"};
  error = validate(config);
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->message.find("invalid host 'Hooks.local'"), std::string::npos) << error->message;
  async.callback_allow = {"hooks.local", "10.0.0.7", "fd00::1"};
  EXPECT_FALSE(validate(config).has_value());
}

} // namespace
} // namespace seawall::config
