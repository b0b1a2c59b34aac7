// Typed, validated configuration: what config/yaml_loader.cc produces from seawall.yaml.
// Every field here is documented in docs/config.md (type, default, meaning).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace seawall::config {

using Duration = std::chrono::milliseconds;

// A listen or endpoint address: "127.0.0.1:8080", "[::1]:8080", "name.svc:8080".
struct HostPort {
  std::string host; // IP literal or DNS name, without brackets
  uint16_t port = 0;
  bool isIpLiteral() const;
  std::string toString() const; // "host:port", IPv6 in brackets
  bool operator==(const HostPort&) const = default;
};

// Where a value came from in the YAML file, for errors found after parsing.
struct Mark {
  int line = 0;   // 1-based
  int column = 0; // 1-based
  // A mark says where a value was written, not what it is: it never makes two configs differ
  // (a reload of the same settings from another file is "no change").
  friend bool operator==(const Mark& /*a*/, const Mark& /*b*/) { return true; }
};

struct AdminConfig {
  HostPort address{"127.0.0.1", 9901};
  bool operator==(const AdminConfig&) const = default;
};

enum class Protocol { Http1, H2c };

struct ListenerLimits {
  size_t max_header_bytes = size_t{64} * 1024;
  uint32_t max_concurrent_streams = 256;
  Duration idle_timeout{60000};
  size_t request_buffer = size_t{1024} * 1024;
  bool operator==(const ListenerLimits&) const = default;
};

struct HeaderMatch {
  std::string name;                  // lowercase
  std::optional<std::string> exact;  // value equals
  std::optional<std::string> prefix; // value starts with
  bool present = true;               // with neither exact nor prefix: must be present (or absent)
  bool operator==(const HeaderMatch&) const = default;
};

struct RouteMatch {
  std::optional<std::string> prefix; // path starts with
  std::optional<std::string> path;   // path (without query) equals
  std::vector<std::string> methods;  // empty: any; uppercase
  std::vector<HeaderMatch> headers;  // all must match
  bool operator==(const RouteMatch&) const = default;
};

struct Route {
  RouteMatch match;
  std::string cluster;
  Mark mark;
  bool operator==(const Route&) const = default;
};

struct Listener {
  std::string name;
  HostPort address;
  std::vector<Protocol> protocols{Protocol::Http1, Protocol::H2c};
  ListenerLimits limits;
  std::vector<Route> routes;
  Mark mark;
  bool operator==(const Listener&) const = default;
};

enum class ClusterProtocol { Http1, H2 };
enum class LoadBalancing { RoundRobin, LeastRequest };

struct Cluster {
  std::string name;
  ClusterProtocol protocol = ClusterProtocol::Http1;
  std::vector<HostPort> endpoints;
  Duration connect_timeout{250};
  LoadBalancing load_balancing = LoadBalancing::LeastRequest;
  Duration dns_refresh{30000};             // how often DNS-named endpoints are resolved again
  size_t max_idle_connections = 64;        // per worker per endpoint, HTTP/1.1 keep-alive pool
  Duration idle_connection_timeout{60000}; // idle pooled upstream connections close after this
  Mark mark;
  bool operator==(const Cluster&) const = default;
};

struct AccessLog {
  std::string path; // empty: no access log; "-": stdout
  bool operator==(const AccessLog&) const = default;
};

struct Config {
  std::string source_path; // the file it was loaded from
  AdminConfig admin;
  unsigned workers = 0; // 0 = auto (number of cores)
  Duration drain_timeout{15000};
  AccessLog access_log;
  std::vector<Listener> listeners;
  std::vector<Cluster> clusters;
  // Where each key was written, by path: "workers", "admin.address", "listeners[0].name",
  // "listeners[0].routes[1].match.prefix", "clusters[2].endpoints[0]", ... Filled by the loader,
  // empty for configs built in code; validate() uses it to point errors at the offending value.
  std::map<std::string, Mark> marks;

  const Cluster* findCluster(const std::string& name) const;
  // Same settings: ignores source_path and marks.
  bool operator==(const Config& other) const;
};

// A problem in a config file, reported as FILE:LINE:COL: message.
struct ConfigError {
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;
  std::string toString() const;
};

} // namespace seawall::config
