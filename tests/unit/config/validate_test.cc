#include <string>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "config/validate.h"
#include "config/yaml_loader.h"

namespace seawall::config {
namespace {

using std::chrono::milliseconds;

// Loads `yaml` as "x.yaml" (the loader runs validate()) and checks the error's position and
// message; line 0 means "no position" ("x.yaml: message").
::testing::AssertionResult failsAt(const std::string& yaml, int line, int column,
                                   const std::string& message) {
  auto result = loadConfigString(yaml, "x.yaml");
  const auto* error = std::get_if<ConfigError>(&result);
  if (error == nullptr) {
    return ::testing::AssertionFailure() << "loaded without error";
  }
  const std::string text = error->toString();
  const std::string prefix =
      line == 0 ? "x.yaml: "
                : "x.yaml:" + std::to_string(line) + ":" + std::to_string(column) + ": ";
  if (text.rfind(prefix, 0) != 0 || error->message.find(message) == std::string::npos) {
    return ::testing::AssertionFailure()
           << "got \"" << text << "\", want \"" << prefix << "..." << message << "...\"";
  }
  return ::testing::AssertionSuccess();
}

// One listener whose only route (line 5, column 9) is `route`.
std::string withRoute(const std::string& route) {
  return "listeners:\n  - name: l\n    address: 127.0.0.1:15001\n    routes:\n      - " + route +
         "\nclusters:\n  - name: c\n    endpoints: [127.0.0.1:8081]\n";
}

// One listener with `extra` on line 4, column 5.
std::string withListenerLine(const std::string& extra) {
  return "listeners:\n  - name: l\n    address: 127.0.0.1:15001\n    " + extra +
         "\n    routes:\n      - match: { prefix: / }\n        cluster: c\n"
         "clusters:\n  - name: c\n    endpoints: [127.0.0.1:8081]\n";
}

// Two listeners (names and addresses on lines 2/3 and 5/6, columns 11/14) and one cluster.
std::string twoListeners(const std::string& name2, const std::string& address2,
                         const std::string& admin = "") {
  return "listeners:\n  - name: a\n    address: 127.0.0.1:15001\n"
         "    routes: [{ match: { prefix: / }, cluster: c }]\n"
         "  - name: " +
         name2 + "\n    address: " + address2 +
         "\n    routes: [{ match: { prefix: / }, cluster: c }]\n"
         "clusters:\n  - name: c\n    endpoints: [127.0.0.1:8081]\n" +
         admin;
}

// One cluster (name on line 6) with `extra` on line 8, column 5 (endpoints: line 7, column 16).
std::string withClusterLine(const std::string& endpoints, const std::string& extra) {
  return "listeners:\n  - name: l\n    address: 127.0.0.1:15001\n"
         "    routes: [{ match: { prefix: / }, cluster: c }]\nclusters:\n  - name: c\n"
         "    endpoints: " +
         endpoints + "\n    " + extra + "\n";
}

struct Case {
  std::string name;
  std::string yaml;
  int line;
  int column;
  std::string message;
};

TEST(ValidateTest, RulesPointAtTheOffendingValue) {
  const std::vector<Case> cases = {
      {"unknown cluster", withRoute("{ match: { prefix: / }, cluster: invntory }"), 5, 42,
       "route refers to unknown cluster 'invntory'"},
      {"no prefix or path", withRoute("{ match: { methods: [GET] }, cluster: c }"), 5, 18,
       "route match needs 'prefix' or 'path' (use 'prefix: /' to match every request)"},
      {"prefix and path", withRoute("{ match: { prefix: /, path: /a }, cluster: c }"), 5, 18,
       "route match takes 'prefix' or 'path', not both"},
      {"relative prefix", withRoute("{ match: { prefix: inventory/ }, cluster: c }"), 5, 28,
       "invalid prefix 'inventory/' (must start with '/'"},
      {"empty prefix", withRoute("{ match: { prefix: '' }, cluster: c }"), 5, 28,
       "invalid prefix ''"},
      {"path with query", withRoute("{ match: { path: '/a?b=1' }, cluster: c }"), 5, 26,
       "invalid path '/a?b=1'"},
      {"lowercase method", withRoute("{ match: { prefix: /, methods: [GET, post] }, cluster: c }"),
       5, 46, "invalid method 'post' (methods are uppercase tokens"},
      {"duplicate method", withRoute("{ match: { prefix: /, methods: [GET, GET] }, cluster: c }"),
       5, 46, "duplicate method 'GET'"},
      {"bad header name",
       withRoute("{ match: { prefix: /, headers: [{ name: \"x y\" }] }, cluster: c }"), 5, 49,
       "invalid header name 'x y'"},
      {"exact and prefix",
       withRoute(
           "{ match: { prefix: /, headers: [{ name: a, exact: b, prefix: c }] }, cluster: c }"),
       5, 41, "header match takes at most one of 'exact' and 'prefix'"},
      {"header bytes too small", withListenerLine("limits: { max_header_bytes: 512 }"), 4, 33,
       "max_header_bytes must be between 1KiB and 1MiB, got 512B"},
      {"header bytes too large", withListenerLine("limits: { max_header_bytes: 2MiB }"), 4, 33,
       "max_header_bytes must be between 1KiB and 1MiB, got 2MiB"},
      {"zero streams", withListenerLine("limits: { max_concurrent_streams: 0 }"), 4, 39,
       "max_concurrent_streams must be between 1 and 65535, got 0"},
      {"too many streams", withListenerLine("limits: { max_concurrent_streams: 70000 }"), 4, 39,
       "max_concurrent_streams must be between 1 and 65535, got 70000"},
      {"zero idle timeout", withListenerLine("limits: { idle_timeout: 0s }"), 4, 29,
       "idle_timeout must be greater than 0s"},
      {"no protocols", withListenerLine("protocols: []"), 4, 16, "protocols must not be empty"},
      {"duplicate protocol", withListenerLine("protocols: [http1, http1]"), 4, 24,
       "duplicate protocol"},
      {"listener port 0", twoListeners("b", "127.0.0.1:0"), 6, 14,
       "port 0 is not allowed in '127.0.0.1:0'"},
      {"duplicate listener name", twoListeners("a", "127.0.0.1:15002"), 5, 11,
       "duplicate listener name 'a' (first defined at line 2)"},
      {"bad listener name", twoListeners("Outbound", "127.0.0.1:15002"), 5, 11,
       "invalid listener name 'Outbound' (use lowercase letters, digits, '_' and '-')"},
      {"duplicate address", twoListeners("b", "127.0.0.1:15001"), 6, 14,
       "listener address 127.0.0.1:15001 is already used by listener 'a'"},
      {"wildcard overlap", twoListeners("b", "0.0.0.0:15001"), 6, 14,
       "listener address 0.0.0.0:15001 is already used by listener 'a' (127.0.0.1:15001)"},
      {"admin address taken",
       twoListeners("b", "127.0.0.1:15002", "admin: { address: 127.0.0.1:15002 }\n"), 6, 14,
       "listener address 127.0.0.1:15002 is also the admin address 127.0.0.1:15002"},
      {"admin port 0",
       "admin: { address: 127.0.0.1:0 }\n" + withRoute("{ match: { prefix: / }, cluster: c }"), 1,
       19, "port 0 is not allowed"},
      {"too many workers", "workers: 257\n" + withRoute("{ match: { prefix: / }, cluster: c }"), 1,
       10, "workers must be 'auto' or between 1 and 256, got 257"},
      {"no listeners key", "clusters: []\n", 0, 0, "at least one listener is required"},
      {"empty listeners", "listeners: []\n", 1, 12, "at least one listener is required"},
      {"no routes", "listeners:\n  - name: l\n    address: 127.0.0.1:1\n", 2, 5,
       "listener 'l' needs at least one route"},
      {"empty routes", "listeners:\n  - name: l\n    address: 127.0.0.1:1\n    routes: []\n", 4, 13,
       "listener 'l' needs at least one route"},
      {"no endpoints", withClusterLine("[]", "protocol: h2"), 7, 16,
       "cluster 'c' needs at least one endpoint"},
      {"endpoints of original_dst", withClusterLine("[127.0.0.1:1]", "type: original_dst"), 7, 16,
       "cluster 'c' is type original_dst: it sends to each connection's original destination and "
       "takes no endpoints"},
      {"outlier on original_dst", withClusterLine("[]", "type: original_dst\n    outlier: {}"), 9,
       14, "cluster 'c' is type original_dst: outlier ejection needs a list of endpoints"},
      {"endpoint port 0", withClusterLine("[127.0.0.1:1, 127.0.0.1:0]", "protocol: h2"), 7, 30,
       "port 0 is not allowed in '127.0.0.1:0'"},
      {"duplicate endpoint", withClusterLine("[h:1, h:2, h:1]", "protocol: h2"), 7, 27,
       "duplicate endpoint h:1"},
      {"zero connect timeout", withClusterLine("[h:1]", "connect_timeout: 0ms"), 8, 22,
       "connect_timeout must be greater than 0s"},
      {"zero dns refresh", withClusterLine("[h:1]", "dns_refresh: 0s"), 8, 18,
       "dns_refresh must be greater than 0s"},
      {"zero idle connection timeout", withClusterLine("[h:1]", "idle_connection_timeout: 0s"), 8,
       30, "idle_connection_timeout must be greater than 0s"},
      {"duplicate cluster",
       withClusterLine("[h:1]", "protocol: h2\n  - name: c\n    endpoints: [h:2]"), 9, 11,
       "duplicate cluster name 'c' (first defined at line 6)"},
      {"bad cluster name",
       withClusterLine("[h:1]", "protocol: h2\n  - name: c.d\n    endpoints: [h:2]"), 9, 11,
       "invalid cluster name 'c.d'"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name + ":\n" + c.yaml);
    EXPECT_TRUE(failsAt(c.yaml, c.line, c.column, c.message));
  }
}

TEST(ValidateTest, TheBuildersMakeValidConfigs) {
  for (const std::string& yaml :
       {withRoute("{ match: { prefix: / }, cluster: c }"), withListenerLine("protocols: [h2c]"),
        twoListeners("b", "127.0.0.1:15002"), withClusterLine("[h:1]", "protocol: h2")}) {
    auto result = loadConfigString(yaml, "x.yaml");
    EXPECT_TRUE(std::holds_alternative<Config>(result))
        << std::get<ConfigError>(result).toString() << "\n"
        << yaml;
  }
}

Config validInCode() {
  Config config;
  config.source_path = "built-in";
  Listener& listener = config.listeners.emplace_back();
  listener.name = "l";
  listener.address = HostPort{"127.0.0.1", 15001};
  listener.mark = Mark{7, 3};
  Route& route = listener.routes.emplace_back();
  route.match.prefix = "/";
  route.cluster = "c";
  route.mark = Mark{9, 5};
  Cluster& cluster = config.clusters.emplace_back();
  cluster.name = "c";
  cluster.endpoints.push_back(HostPort{"127.0.0.1", 8081});
  return config;
}

TEST(ValidateTest, ConfigsBuiltInCodeFallBackToObjectMarks) {
  EXPECT_EQ(validate(validInCode()), std::nullopt);

  Config config = validInCode();
  config.listeners[0].routes[0].cluster = "missing";
  auto error = validate(config);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->toString(), "built-in:9:5: route refers to unknown cluster 'missing'");

  config = validInCode();
  config.listeners[0].limits.max_header_bytes = 100;
  error = validate(config);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->toString(),
            "built-in:7:3: max_header_bytes must be between 1KiB and 1MiB, got 100B");

  config = validInCode();
  config.workers = kMaxWorkers + 1;
  error = validate(config);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->line, 0);

  config = validInCode();
  config.workers = kMaxWorkers;
  config.listeners[0].routes[0].match.headers.push_back(HeaderMatch{"x", "1", std::nullopt, false});
  error = validate(config);
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->message.find("'present: false' cannot be combined"), std::string::npos);
}

TEST(ValidateTest, IpV6WildcardOverlapsToo) {
  Config config = validInCode();
  Listener second = config.listeners[0];
  second.name = "v6";
  second.address = HostPort{"::", 15001};
  config.listeners.push_back(second);
  auto error = validate(config);
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->message.find("is already used by listener 'l'"), std::string::npos);
  config.listeners[1].address.port = 15002;
  EXPECT_EQ(validate(config), std::nullopt);
}

} // namespace
} // namespace seawall::config
