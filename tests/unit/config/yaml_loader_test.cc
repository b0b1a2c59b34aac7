#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <ostream>
#include <string>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "config/units.h"
#include "config/yaml_loader.h"

namespace seawall::config {

// Failed comparisons print the config as YAML instead of bytes. gtest looks this name up.
// NOLINTNEXTLINE(readability-identifier-naming)
void PrintTo(const Config& config, std::ostream* os) { *os << "\n" << dumpConfig(config); }

namespace {

using std::chrono::milliseconds;

// The smallest valid config; cases below change one thing in it.
constexpr const char* kMinimal = R"(listeners:
  - name: l
    address: 127.0.0.1:15001
    routes:
      - match: { prefix: / }
        cluster: c
clusters:
  - name: c
    endpoints: [127.0.0.1:8081]
)";

Config expectConfig(const std::variant<Config, ConfigError>& result) {
  if (const auto* error = std::get_if<ConfigError>(&result)) {
    ADD_FAILURE() << "unexpected error: " << error->toString();
    return Config{};
  }
  return std::get<Config>(result);
}

// Loads `yaml` as "x.yaml" and checks the error's position and message.
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

TEST(YamlLoaderTest, MinimalConfigGetsDefaults) {
  auto result = loadConfigString(kMinimal, "min.yaml");
  const Config config = expectConfig(result);
  EXPECT_EQ(config.source_path, "min.yaml");
  EXPECT_EQ(config.admin.address, (HostPort{"127.0.0.1", 9901}));
  EXPECT_EQ(config.workers, 0u);
  EXPECT_EQ(config.drain_timeout, milliseconds(15000));
  EXPECT_EQ(config.access_log.path, "");
  ASSERT_EQ(config.listeners.size(), 1u);
  const Listener& listener = config.listeners[0];
  EXPECT_EQ(listener.protocols, (std::vector<Protocol>{Protocol::Http1, Protocol::H2c}));
  EXPECT_EQ(listener.limits.max_header_bytes, 65536u);
  EXPECT_EQ(listener.limits.max_concurrent_streams, 256u);
  EXPECT_EQ(listener.limits.idle_timeout, milliseconds(60000));
  EXPECT_EQ(listener.limits.request_buffer, 1048576u);
  EXPECT_EQ(listener.mark.line, 2);
  EXPECT_EQ(listener.mark.column, 5);
  ASSERT_EQ(listener.routes.size(), 1u);
  EXPECT_EQ(listener.routes[0].match.prefix, "/");
  EXPECT_FALSE(listener.routes[0].match.path.has_value());
  EXPECT_EQ(listener.routes[0].mark.line, 5);
  EXPECT_EQ(listener.routes[0].mark.column, 9);
  const Cluster* cluster = config.findCluster("c");
  ASSERT_NE(cluster, nullptr);
  EXPECT_EQ(cluster->protocol, ClusterProtocol::Http1);
  EXPECT_EQ(cluster->connect_timeout, milliseconds(250));
  EXPECT_EQ(cluster->load_balancing, LoadBalancing::LeastRequest);
  EXPECT_EQ(cluster->dns_refresh, milliseconds(30000));
  EXPECT_EQ(cluster->max_idle_connections, 64u);
  EXPECT_EQ(cluster->idle_connection_timeout, milliseconds(60000));
  EXPECT_EQ(cluster->mark.line, 8);
  EXPECT_EQ(config.findCluster("nope"), nullptr);
  EXPECT_EQ(config.marks.at("listeners[0].routes[0].cluster").line, 6);
  EXPECT_EQ(config.marks.at("listeners[0].routes[0].cluster").column, 18);
}

TEST(YamlLoaderTest, FullExampleLoadsEveryKey) {
  auto result = loadConfigFile(SEAWALL_SOURCE_DIR "/config/examples/full.yaml");
  const Config config = expectConfig(result);
  EXPECT_EQ(config.admin.address, (HostPort{"127.0.0.1", 19901}));
  EXPECT_EQ(config.workers, 4u);
  EXPECT_EQ(config.drain_timeout, milliseconds(30000));
  EXPECT_TRUE(config.watch_config);
  EXPECT_EQ(config.access_log.path, "/tmp/seawall-access.log");
  ASSERT_EQ(config.listeners.size(), 2u);
  EXPECT_FALSE(config.listeners[0].transparent);
  EXPECT_TRUE(config.listeners[1].transparent);
  ASSERT_NE(config.findCluster("passthrough"), nullptr);
  EXPECT_EQ(config.findCluster("passthrough")->type, ClusterType::OriginalDst);
  EXPECT_TRUE(config.findCluster("passthrough")->endpoints.empty());
  EXPECT_EQ(config.findCluster("inventory")->type, ClusterType::Static);
  const Listener& out = config.listeners[0];
  EXPECT_EQ(out.protocols, std::vector<Protocol>{Protocol::H2c});
  EXPECT_EQ(out.limits.max_header_bytes, 32u * 1024);
  EXPECT_EQ(out.limits.max_concurrent_streams, 100u);
  EXPECT_EQ(out.limits.idle_timeout, milliseconds(120000));
  EXPECT_EQ(out.limits.request_buffer, 256u * 1024);
  ASSERT_EQ(out.routes.size(), 3u);
  EXPECT_EQ(out.routes[0].match.path, "/inventory/health");
  EXPECT_EQ(out.routes[0].match.methods, (std::vector<std::string>{"GET", "HEAD"}));
  const auto& headers = out.routes[1].match.headers;
  ASSERT_EQ(headers.size(), 3u);
  EXPECT_EQ(headers[0].name, "x-canary");
  EXPECT_EQ(headers[0].exact, "1");
  EXPECT_EQ(headers[1].prefix, "v2");
  EXPECT_FALSE(headers[2].present);
  EXPECT_EQ(out.routes[1].cluster, "inventory-canary");
  EXPECT_EQ(config.listeners[1].address, (HostPort{"::1", 15006}));
  const Cluster* inventory = config.findCluster("inventory");
  ASSERT_NE(inventory, nullptr);
  EXPECT_EQ(inventory->protocol, ClusterProtocol::H2);
  EXPECT_EQ(inventory->endpoints.size(), 3u);
  EXPECT_EQ(inventory->endpoints[1], (HostPort{"::1", 8081}));
  EXPECT_FALSE(inventory->endpoints[2].isIpLiteral());
  EXPECT_EQ(inventory->connect_timeout, milliseconds(1000));
  EXPECT_EQ(inventory->load_balancing, LoadBalancing::RoundRobin);
  EXPECT_EQ(inventory->dns_refresh, milliseconds(300000));
  EXPECT_EQ(inventory->max_idle_connections, 8u);
  EXPECT_EQ(inventory->idle_connection_timeout, milliseconds(90000));
  EXPECT_EQ(config.findCluster("inventory-canary")->max_idle_connections, 0u);
}

TEST(YamlLoaderTest, DemoExampleLoads) {
  auto result = loadConfigFile(SEAWALL_SOURCE_DIR "/config/examples/demo.yaml");
  const Config config = expectConfig(result);
  EXPECT_EQ(config.admin.address.toString(), "127.0.0.1:9901");
  ASSERT_EQ(config.listeners.size(), 1u);
  EXPECT_EQ(config.listeners[0].name, "demo");
  EXPECT_EQ(config.listeners[0].address.toString(), "127.0.0.1:15001");
  ASSERT_EQ(config.listeners[0].routes.size(), 5u);
  EXPECT_EQ(config.listeners[0].routes[0].match.prefix, "/h2/");
  EXPECT_EQ(config.listeners[0].routes[0].cluster, "demo-h2");
  EXPECT_EQ(config.listeners[0].routes[1].match.prefix, "/offline/");
  EXPECT_EQ(config.listeners[0].routes[1].cluster, "offline");
  const Route& flaky = config.listeners[0].routes[2];
  EXPECT_EQ(flaky.match.prefix, "/flaky/");
  EXPECT_EQ(flaky.cluster, "flaky");
  EXPECT_TRUE(flaky.retry.has_value());
  EXPECT_TRUE(flaky.fallback.has_value());
  ASSERT_NE(config.findCluster("flaky"), nullptr);
  EXPECT_TRUE(config.findCluster("flaky")->breaker.has_value());
  const Route& stock = config.listeners[0].routes[3];
  EXPECT_EQ(stock.match.prefix, "/stock/");
  ASSERT_TRUE(stock.async.has_value());
  EXPECT_EQ(stock.async->after, Duration(500));
  EXPECT_EQ(config.listeners[0].routes[4].match.prefix, "/");
  EXPECT_EQ(config.listeners[0].routes[4].cluster, "demo");
  ASSERT_NE(config.findCluster("offline"), nullptr);
  EXPECT_EQ(config.findCluster("offline")->connect_timeout, Duration(100));
  ASSERT_NE(config.findCluster("demo-h2"), nullptr);
  EXPECT_EQ(config.findCluster("demo-h2")->protocol, ClusterProtocol::H2);
  EXPECT_EQ(config.findCluster("demo-h2")->endpoints[0].toString(), "127.0.0.1:18082");
  EXPECT_EQ(config.findCluster("demo")->protocol, ClusterProtocol::Http1);
  EXPECT_EQ(config.findCluster("demo")->endpoints[0].toString(), "127.0.0.1:18081");
  EXPECT_EQ(config.access_log.path, "-");
}

TEST(YamlLoaderTest, ExamplesRoundTripThroughDump) {
  for (const char* name : {"demo.yaml", "full.yaml"}) {
    SCOPED_TRACE(name);
    auto first = loadConfigFile(std::string(SEAWALL_SOURCE_DIR "/config/examples/") + name);
    const Config config = expectConfig(first);
    const std::string dumped = dumpConfig(config);
    auto second = loadConfigString(dumped, "dumped.yaml");
    const Config again = expectConfig(second);
    EXPECT_EQ(again, config) << dumped;
    EXPECT_EQ(dumpConfig(again), dumped);
  }
}

TEST(YamlLoaderTest, DumpFillsDefaults) {
  auto result = loadConfigString(kMinimal, "min.yaml");
  const std::string dumped = dumpConfig(expectConfig(result));
  for (const char* expected :
       {"address: 127.0.0.1:9901", "workers: auto", "drain_timeout: 15s", "protocols: [http1, h2c]",
        "max_header_bytes: 64KiB", "max_concurrent_streams: 256", "idle_timeout: 1m",
        "request_buffer: 1MiB", "protocol: http1", "connect_timeout: 250ms",
        "load_balancing: least_request", "dns_refresh: 30s", "max_idle_connections: 64",
        "idle_connection_timeout: 1m"}) {
    EXPECT_NE(dumped.find(expected), std::string::npos) << expected << " in\n" << dumped;
  }
  EXPECT_EQ(dumped.find("access_log"), std::string::npos) << dumped;
}

TEST(YamlLoaderTest, TrickyStringsRoundTrip) {
  Config config = expectConfig(loadConfigString(kMinimal, "min.yaml"));
  HeaderMatch header;
  header.name = "x-odd";
  header.exact = "null";
  config.listeners[0].routes[0].match.headers.push_back(header);
  header.exact.reset();
  header.prefix = "";
  config.listeners[0].routes[0].match.headers.push_back(header);
  header.prefix = "- #: [x]";
  config.listeners[0].routes[0].match.headers.push_back(header);
  config.listeners[0].routes[0].match.prefix.reset();
  config.listeners[0].routes[0].match.path = "/a:%20[b]*";
  config.access_log.path = "-";
  config.admin.address = HostPort{"::1", 9902};
  auto again = loadConfigString(dumpConfig(config), "dumped.yaml");
  EXPECT_EQ(expectConfig(again), config) << dumpConfig(config);
}

TEST(YamlLoaderTest, EqualityIgnoresMarksAndSource) {
  Config a = expectConfig(loadConfigString(kMinimal, "a.yaml"));
  Config b = expectConfig(loadConfigString(std::string("\n\n") + kMinimal, "b.yaml"));
  EXPECT_NE(a.listeners[0].mark.line, b.listeners[0].mark.line);
  EXPECT_EQ(a, b);
  b.clusters[0].connect_timeout = milliseconds(251);
  EXPECT_NE(a, b);
}

TEST(YamlLoaderTest, HeaderNamesAreLowercased) {
  std::string yaml = kMinimal;
  yaml.replace(yaml.find("{ prefix: / }"), 13, "{ prefix: /, headers: [{name: X-Canary}] }");
  auto result = loadConfigString(yaml, "x.yaml");
  EXPECT_EQ(expectConfig(result).listeners[0].routes[0].match.headers.at(0).name, "x-canary");
}

TEST(YamlLoaderTest, MissingFileIsAnErrorAtLineZero) {
  auto result = loadConfigFile("/nonexistent/seawall.yaml");
  const auto* error = std::get_if<ConfigError>(&result);
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(error->line, 0);
  EXPECT_EQ(error->file, "/nonexistent/seawall.yaml");
  EXPECT_NE(error->message.find("No such file"), std::string::npos) << error->message;

  auto dir = loadConfigFile("/tmp");
  ASSERT_TRUE(std::holds_alternative<ConfigError>(dir));
  EXPECT_EQ(std::get<ConfigError>(dir).line, 0);
}

TEST(YamlLoaderTest, FileErrorsNameTheFile) {
  char path[] = "/tmp/seawall-config-test-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream out(path);
    out << "workers: 2\nlisteners: {}\n";
  }
  auto result = loadConfigFile(path);
  std::remove(path);
  ASSERT_TRUE(std::holds_alternative<ConfigError>(result));
  EXPECT_EQ(std::get<ConfigError>(result).toString(),
            std::string(path) + ":2:12: expected a list for 'listeners', got a map");
}

TEST(YamlLoaderTest, SyntaxErrorsCarryYamlCppPosition) {
  EXPECT_TRUE(failsAt("listeners: [1, 2\nclusters: 3\n", 2, 9, "invalid YAML: end of sequence"));
  EXPECT_TRUE(failsAt("workers: 1\n\tlisteners: []\n", 2, 1, "invalid YAML"));
  EXPECT_TRUE(failsAt("access_log:\n  path: -\n", 2, 9, "invalid YAML: illegal block entry"));
}

TEST(YamlLoaderTest, SecondDocumentIsAnError) {
  EXPECT_TRUE(failsAt(std::string(kMinimal) + "---\nworkers: 2\n", 11, 1,
                      "a config file holds one YAML document"));
}

TEST(YamlLoaderTest, EmptyFileIsAnError) {
  auto result = loadConfigString("# only a comment\n", "x.yaml");
  ASSERT_TRUE(std::holds_alternative<ConfigError>(result));
  EXPECT_EQ(std::get<ConfigError>(result).toString(), "x.yaml: the config file is empty");
}

struct ErrorCase {
  std::string yaml;
  int line;
  int column;
  std::string message;
};

TEST(YamlLoaderTest, ErrorsPointAtTheOffendingNode) {
  const std::vector<ErrorCase> cases = {
      {R"(listeners:
  - name: l
    address: 127.0.0.1:15001
    routes:
      - match: { prefix: / }
        timout: 3s
        cluster: c
)",
       6, 9,
       "unknown key 'timout' in route (expected one of: match, cluster, timeout, idle_timeout, "
       "retry, fallback, async)"},
      {"listeners: []\nclusters:\n  - name: c\n    connect_timeout: 5 seconds\n", 4, 22,
       "invalid duration '5 seconds' (use a number and a unit: 250ms, 3s, 5m)"},
      {"drain_timeout: 15\n", 1, 16, "invalid duration '15'"},
      {"workers: 2\nworker: 3\n", 2, 1,
       "unknown key 'worker' in top level (expected one of: admin, workers, drain_timeout, "
       "watch_config, "
       "access_log, listeners, clusters, async_store)"},
      {"workers: 2\nworkers: 3\n", 2, 1, "duplicate key 'workers' in top level"},
      {"workers: 0\n", 1, 10, "workers must be 'auto' or between 1 and 256, got 0"},
      {"workers: many\n", 1, 10, "invalid number 'many' for 'workers'"},
      {"workers: -1\n", 1, 10, "invalid number '-1' for 'workers'"},
      {"workers: 99999999999\n", 1, 10, "number '99999999999' is too large for 'workers'"},
      {"- a\n- b\n", 1, 1, "expected a map for the top level, got a list"},
      {"admin: 127.0.0.1:9901\n", 1, 8, "expected a map for 'admin', got '127.0.0.1:9901'"},
      {"admin: { address: localhost }\n", 1, 19,
       "invalid address 'localhost' (use host:port or [ipv6]:port"},
      {"admin: { adress: 127.0.0.1:1 }\n", 1, 10,
       "unknown key 'adress' in admin (expected one of: address)"},
      {"access_log: {}\n", 1, 13, "missing required key 'path' in access_log"},
      {"access_log: { path: '' }\n", 1, 21, "access_log path must not be empty"},
      {"listeners:\n  name: l\n", 2, 3, "expected a list for 'listeners', got a map"},
      {"listeners:\n  - address: 127.0.0.1:1\n", 2, 5, "missing required key 'name' in listener"},
      {"listeners:\n  - name: [l]\n", 2, 11, "expected a string for 'name', got a list"},
      {"listeners:\n  - name:\n    address: 127.0.0.1:1\n", 2, 5,
       "expected a string for 'name', got nothing"},
      {"listeners:\n  - name: l\n    address: 127.0.0.1:1\n    protocols: http1\n", 4, 16,
       "expected a list for 'protocols', got 'http1'"},
      {"listeners:\n  - name: l\n    address: 127.0.0.1:1\n    protocols: [http1, h3]\n", 4, 24,
       "invalid value 'h3' for an item of 'protocols' (expected one of: http1, h2c)"},
      {"listeners:\n  - name: l\n    address: 127.0.0.1:1\n    limits: { max_header_bytes: 64KB "
       "}\n",
       4, 33, "invalid size '64KB' (use bytes or a unit: 512B, 64KiB, 1MiB, 2GiB)"},
      {"listeners:\n  - name: l\n    address: 127.0.0.1:1\n    limits: { max_streams: 1 }\n", 4, 15,
       "unknown key 'max_streams' in limits (expected one of: max_header_bytes, "
       "max_concurrent_streams, idle_timeout, request_buffer)"},
      {"listeners:\n  - name: l\n    address: 127.0.0.1:1\n    routes:\n      - cluster: c\n", 5, 9,
       "missing required key 'match' in route"},
      {"listeners:\n  - name: l\n    address: 127.0.0.1:1\n    routes:\n      - match: /\n"
       "        cluster: c\n",
       5, 16, "expected a map for 'match', got '/'"},
      {"listeners:\n  - name: l\n    address: 127.0.0.1:1\n    routes:\n"
       "      - match: { prefix: /, method: [GET] }\n        cluster: c\n",
       5, 29, "unknown key 'method' in match (expected one of: prefix, path, methods, headers)"},
      {"listeners:\n  - name: l\n    address: 127.0.0.1:1\n    routes:\n"
       "      - match: { prefix: /, headers: [{ exact: a }] }\n        cluster: c\n",
       5, 39, "missing required key 'name' in header match"},
      {"listeners:\n  - name: l\n    address: 127.0.0.1:1\n    routes:\n"
       "      - match: { prefix: /, headers: [{ name: a, exact: b, present: true }] }\n"
       "        cluster: c\n",
       5, 69, "'present' cannot be combined with 'exact' or 'prefix'"},
      {"listeners:\n  - name: l\n    address: 127.0.0.1:1\n    routes:\n"
       "      - match: { prefix: /, headers: [{ name: a, present: no }] }\n        cluster: c\n",
       5, 59, "invalid value 'no' for 'present' (use true or false)"},
      {"clusters:\n  - name: c\n    endpoints: 127.0.0.1:1\n", 3, 16,
       "expected a list for 'endpoints', got '127.0.0.1:1'"},
      {"clusters:\n  - name: c\n    endpoints: { a: 1 }\n", 3, 16,
       "expected a list for 'endpoints', got a map"},
      {"clusters:\n  - name: c\n    endpoints: [127.0.0.1:1, ::1:80]\n", 3, 30,
       "invalid address '::1:80'"},
      {"clusters:\n  - name: c\n    endpoints: [127.0.0.1:1]\n    protocol: h2c\n", 4, 15,
       "invalid value 'h2c' for 'protocol' (expected one of: http1, h2)"},
      {"clusters:\n  - name: c\n    endpoints: [127.0.0.1:1]\n    load_balancing: random\n", 4, 21,
       "invalid value 'random' for 'load_balancing' (expected one of: least_request, "
       "round_robin)"},
      {"clusters:\n  - name: c\n    endpoints: [127.0.0.1:1]\n    max_idle_connections: 1.5\n", 4,
       27, "invalid number '1.5' for 'max_idle_connections'"},
      {"clusters:\n  - name: c\n    type: dynamic\n", 3, 11,
       "invalid value 'dynamic' for 'type' (expected one of: static, original_dst)"},
      {"clusters:\n  - { name: c, endpoints: [127.0.0.1:1], ? [a] : b }\n", 2, 44,
       "keys must be plain names in cluster"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.yaml);
    EXPECT_TRUE(failsAt(c.yaml, c.line, c.column, c.message));
  }
}

// 202 conversion is configurable: `async` on a route and `async_store` at the top level load
// (async_config_test.cc has the details).
TEST(YamlLoaderTest, AsyncKeysAreAccepted) {
  const std::string minimal = kMinimal;
  const size_t clusters = minimal.find("clusters:");
  const std::string yaml =
      std::string(minimal).insert(clusters, "        async: { after: 500ms }\n") +
      "async_store: { backend: memory, max_jobs: 10 }\n";
  const Config config = expectConfig(loadConfigString(yaml, "x.yaml"));
  ASSERT_TRUE(config.listeners[0].routes[0].async.has_value());
  EXPECT_EQ(config.listeners[0].routes[0].async->after, milliseconds(500));
  EXPECT_EQ(config.async_store.max_jobs, 10u);
  EXPECT_TRUE(failsAt(std::string(minimal).insert(clusters, "        asynch: { after: 500ms }\n"),
                      7, 9,
                      "unknown key 'asynch' in route (expected one of: match, cluster, timeout, "
                      "idle_timeout, retry, fallback, async)"));
}

} // namespace
} // namespace seawall::config
