// Typed, validated configuration: what config/yaml_loader.cc produces from seawall.yaml.
// Every field here is documented in docs/config.md (type, default, meaning).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
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

// `retry.backoff`: exponential with full jitter, uniform in [0, min(max, base * 2^(n-1))].
struct BackoffConfig {
  Duration base{25};
  Duration max{1000};
  bool operator==(const BackoffConfig&) const = default;
};

// `retry.budget`: retries in flight <= ratio x requests in flight to the cluster, plus a floor of
// min_per_second retries per second.
struct RetryBudgetConfig {
  double ratio = 0.2;
  uint32_t min_per_second = 10;
  bool operator==(const RetryBudgetConfig&) const = default;
};

// A route's `retry:` block.
struct RetryConfig {
  uint32_t max_retries = 1;
  // Condition tokens (filters/retry/retry_decision.h, RetryOn): 5xx, gateway-error, reset,
  // connect-failure, refused-stream, retriable-status, grpc-cancelled, grpc-deadline-exceeded,
  // grpc-resource-exhausted, grpc-internal, grpc-unavailable.
  std::vector<std::string> on{"connect-failure", "refused-stream", "gateway-error"};
  std::vector<int> retriable_status; // for retriable-status
  Duration per_try_timeout{0};       // 0: none (each try runs until the request timeout)
  BackoffConfig backoff;
  bool honor_retry_after = true; // a 429/503 Retry-After sets the delay (capped at max)
  RetryBudgetConfig budget;
  bool retry_non_idempotent = false;  // retry POST, PATCH, ... like GET
  bool retry_idempotency_key = false; // retry non-idempotent requests carrying Idempotency-Key
  Mark mark;
  bool operator==(const RetryConfig&) const = default;
};

// `fallback.last_good`: the last good (2xx) response per method+path+query.
struct LastGoodConfig {
  Duration ttl{300000};
  size_t max_bytes = size_t{16} * 1024 * 1024;
  bool operator==(const LastGoodConfig&) const = default;
};

// A route's `fallback:` block: exactly one kind.
struct FallbackConfig {
  enum class Kind { Static, Cluster, LastGood };
  Kind kind = Kind::Static;
  // Static: status, headers and body (or body_file, read at load time into body).
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers; // names lowercase
  std::string body;
  std::string body_file;
  // Cluster: the request is sent to this cluster instead.
  std::string cluster;
  // LastGood.
  LastGoodConfig last_good;
  // Besides local failures (breaker open, overflow, connect failure, reset, timeout), a 5xx
  // response of the upstream (after retries) also triggers the fallback.
  bool on_upstream_5xx = true;
  Mark mark;
  bool operator==(const FallbackConfig&) const = default;
};

// A route's `async:` block: 202 conversion (filters/async_202). A request whose full response has
// not arrived within `after` gets `202 Accepted` and becomes a job that the client polls.
struct AsyncConfig {
  enum class When { Always, PreferRespondAsync };
  Duration after{0};           // required, >= 1ms; `Prefer: wait=N` lowers it per request
  When when = When::Always;    // PreferRespondAsync: only requests with `Prefer: respond-async`
  Duration retry_after{1000};  // >= 1s; sent as whole seconds, rounded up (retryAfterSeconds)
  Duration retention{600000};  // a job (and its result) is kept this long after it was accepted
  std::string callback_header; // lowercase; empty: no callbacks
  std::vector<std::string> callback_allow; // hosts or IP literals callbacks may go to; lowercase
  bool queue_while_down = false;           // accept as a job when the cluster is down or open
  size_t max_result_bytes = size_t{16} * 1024 * 1024; // larger: FAILED result-too-large
  Mark mark;
  // The Retry-After header's value: whole seconds, rounded up (1500ms -> 2).
  int64_t retryAfterSeconds() const { return (retry_after.count() + 999) / 1000; }
  bool operator==(const AsyncConfig&) const = default;
};

struct Route {
  RouteMatch match;
  std::string cluster;
  Duration timeout{0};      // whole request, all tries included; 0: none
  Duration idle_timeout{0}; // no byte either way on the stream for this long; 0: none
  std::optional<RetryConfig> retry;
  std::optional<FallbackConfig> fallback;
  std::optional<AsyncConfig> async;
  Mark mark;
  bool operator==(const Route&) const = default;
};

struct Listener {
  std::string name;
  HostPort address;
  std::vector<Protocol> protocols{Protocol::Http1, Protocol::H2c};
  // Takes connections redirected by iptables REDIRECT: each one's original destination
  // (SO_ORIGINAL_DST) is what `type: original_dst` clusters send to.
  bool transparent = false;
  ListenerLimits limits;
  std::vector<Route> routes;
  Mark mark;
  bool operator==(const Listener&) const = default;
};

enum class ClusterProtocol { Http1, H2 };
// static: the listed endpoints. original_dst: no endpoints; each request goes to its downstream
// connection's original destination (a `transparent` listener's redirected connections).
enum class ClusterType { Static, OriginalDst };
enum class LoadBalancing { RoundRobin, LeastRequest };

// A cluster's `limits:` (Envoy's circuit-breaker thresholds). Always enforced, with these defaults.
struct ClusterLimits {
  uint32_t max_connections = 1024; // upstream connections, all workers
  uint32_t max_pending = 1024;     // requests waiting for a connection or stream
  uint32_t max_requests = 1024;    // attempts in flight
  uint32_t max_retries = 3;        // retries in flight
  bool operator==(const ClusterLimits&) const = default;
};

// A cluster's `breaker:`.
struct BreakerConfig {
  enum class WindowType { Count, Time };
  enum class Mode { Normal, ForcedOpen, Disabled, MetricsOnly };
  WindowType window_type = WindowType::Count;
  uint64_t window_calls = 100; // Count window: the last N calls
  Duration window_time{10000}; // Time window: the calls of the last duration
  uint64_t minimum_calls = 20;
  double failure_rate = 0.5;
  Duration slow_call_duration{1000};
  double slow_call_rate = 1.0;
  Duration open_for{5000};
  uint32_t half_open_calls = 5;
  // Tokens: 5xx, gateway-error, reset, timeout, connect-failure, refused-stream, and grpc codes
  // grpc-cancelled, grpc-unknown, grpc-deadline-exceeded, grpc-resource-exhausted, grpc-internal,
  // grpc-unavailable, grpc-data-loss.
  std::vector<std::string> failure_on{"5xx", "reset", "timeout", "connect-failure"};
  bool open_on_retry_after = false; // a 429/503 with Retry-After opens the breaker for that long
  Mode mode = Mode::Normal;         // `mode: normal | forced_open | disabled | metrics_only`
  Mark mark;
  bool operator==(const BreakerConfig&) const = default;
};

// A cluster's `outlier:` (per-endpoint ejection).
struct OutlierConfig {
  uint32_t consecutive_failures = 5;
  Duration ejection_time{30000};
  double max_ejection = 0.5;
  bool operator==(const OutlierConfig&) const = default;
};

struct Cluster {
  std::string name;
  ClusterType type = ClusterType::Static;
  ClusterProtocol protocol = ClusterProtocol::Http1;
  std::vector<HostPort> endpoints;
  Duration connect_timeout{250};
  LoadBalancing load_balancing = LoadBalancing::LeastRequest;
  Duration dns_refresh{30000};             // how often DNS-named endpoints are resolved again
  size_t max_idle_connections = 64;        // per worker per endpoint, HTTP/1.1 keep-alive pool
  Duration idle_connection_timeout{60000}; // idle pooled upstream connections close after this
  ClusterLimits limits;
  std::optional<BreakerConfig> breaker;
  std::optional<OutlierConfig> outlier;
  Mark mark;
  bool operator==(const Cluster&) const = default;
};

struct AccessLog {
  std::string path; // empty: no access log; "-": stdout
  bool operator==(const AccessLog&) const = default;
};

// Top-level `async_store:`: where 202-converted jobs are kept. Always present, with these defaults.
struct AsyncStoreConfig {
  enum class Backend { Memory, Redis };
  struct Redis {
    HostPort address{"127.0.0.1", 6379};
    std::string key_prefix = "seawall:";
    bool operator==(const Redis&) const = default;
  };
  Backend backend = Backend::Memory;
  size_t max_jobs = 10000;                      // jobs stored at once, any state
  size_t max_bytes = size_t{256} * 1024 * 1024; // jobs plus their results
  Redis redis;                                  // backend redis only
  bool operator==(const AsyncStoreConfig&) const = default;
};

struct Config {
  std::string source_path; // the file it was loaded from
  AdminConfig admin;
  unsigned workers = 0; // 0 = auto (number of cores)
  Duration drain_timeout{15000};
  bool watch_config = false; // reload when the file changes (as well as on SIGHUP)
  AccessLog access_log;
  std::vector<Listener> listeners;
  std::vector<Cluster> clusters;
  AsyncStoreConfig async_store;
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
