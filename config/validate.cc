#include "config/validate.h"

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "config/units.h"
#include "filters/circuit_breaker/failure_policy.h"
#include "filters/retry/retry_decision.h"

namespace seawall::config {
namespace {

bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool isValidName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), isNameChar);
}

// RFC 9110 tchar.
bool isTokenChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool isMethod(std::string_view method) {
  return !method.empty() && method.front() >= 'A' && method.front() <= 'Z' &&
         std::all_of(method.begin(), method.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
         });
}

bool isHeaderName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return isTokenChar(c) && !(c >= 'A' && c <= 'Z');
  });
}

bool isPathPattern(std::string_view path) {
  return !path.empty() && path.front() == '/' && std::none_of(path.begin(), path.end(), [](char c) {
    return c == '?' || c == '#' || static_cast<unsigned char>(c) <= ' ' || c == '\x7f';
  });
}

// A host name or IP literal, without port or brackets: what callback_allow lists.
bool isHost(const std::string& host) {
  const bool ipv6 = host.find(':') != std::string::npos;
  return parseHostPort(ipv6 ? "[" + host + "]:1" : host + ":1").has_value();
}

bool isLowercase(std::string_view text) {
  return std::none_of(text.begin(), text.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

bool isWildcard(const std::string& host) { return host == "0.0.0.0" || host == "::"; }

bool overlaps(const HostPort& a, const HostPort& b) {
  return a.port == b.port && (a.host == b.host || isWildcard(a.host) || isWildcard(b.host));
}

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

std::string index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

// "5xx, gateway-error, ..." for error messages.
std::string retryOnTokens() {
  std::string out;
  for (size_t i = 0; i < filters::retry::kRetryOnCount; ++i) {
    out += (i == 0 ? "" : ", ");
    out += filters::retry::retryOnName(static_cast<filters::retry::RetryOn>(i));
  }
  return out;
}

constexpr std::string_view kFailureOnTokens =
    "5xx, gateway-error, reset, timeout, connect-failure, refused-stream, grpc-cancelled, "
    "grpc-unknown, grpc-deadline-exceeded, grpc-resource-exhausted, grpc-internal, "
    "grpc-unavailable, grpc-data-loss";

bool hasHeaderBreak(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

class Validator {
public:
  explicit Validator(const Config& config) : config_(config) {}

  std::optional<ConfigError> run() {
    if (checkTop() && checkAsyncStore() && checkListeners() && checkClusters()) {
      return std::nullopt;
    }
    return std::move(error_);
  }

private:
  Mark at(const std::string& path, Mark fallback = {}) const {
    auto it = config_.marks.find(path);
    return it == config_.marks.end() ? fallback : it->second;
  }

  bool fail(Mark mark, std::string message) {
    error_ = ConfigError{config_.source_path, mark.line, mark.column, std::move(message)};
    return false;
  }

  bool checkPort(const HostPort& address, Mark mark) {
    if (address.port == 0) {
      return fail(mark, "port 0 is not allowed in " + quoted(address.toString()) +
                            " (use a port from 1 to 65535)");
    }
    return true;
  }

  bool checkTop() {
    if (config_.workers > kMaxWorkers) {
      return fail(at("workers"), "workers must be 'auto' or between 1 and " +
                                     std::to_string(kMaxWorkers) + ", got " +
                                     std::to_string(config_.workers));
    }
    if (!checkPort(config_.admin.address, at("admin.address"))) {
      return false;
    }
    if (config_.listeners.empty()) {
      return fail(at("listeners"), "at least one listener is required");
    }
    return true;
  }

  bool checkListeners() {
    for (size_t i = 0; i < config_.listeners.size(); ++i) {
      if (!checkListener(i) || !checkLimits(i)) {
        return false;
      }
      const Listener& listener = config_.listeners[i];
      const std::string path = "listeners[" + std::to_string(i) + "]";
      for (size_t j = 0; j < listener.routes.size(); ++j) {
        if (!checkRoute(listener.routes[j], path + ".routes[" + std::to_string(j) + "]")) {
          return false;
        }
      }
    }
    return true;
  }

  bool checkListener(size_t i) {
    const Listener& listener = config_.listeners[i];
    const std::string path = "listeners[" + std::to_string(i) + "]";
    const Mark address_mark = at(path + ".address", listener.mark);
    if (!isValidName(listener.name)) {
      return fail(at(path + ".name", listener.mark),
                  "invalid listener name " + quoted(listener.name) +
                      " (use lowercase letters, digits, '_' and '-')");
    }
    if (!checkPort(listener.address, address_mark)) {
      return false;
    }
    if (overlaps(listener.address, config_.admin.address)) {
      return fail(address_mark, "listener address " + listener.address.toString() +
                                    " is also the admin address " +
                                    config_.admin.address.toString());
    }
    for (size_t k = 0; k < i; ++k) {
      const Listener& other = config_.listeners[k];
      if (other.name == listener.name) {
        return fail(at(path + ".name", listener.mark),
                    "duplicate listener name " + quoted(listener.name) +
                        " (first defined at line " + std::to_string(other.mark.line) + ")");
      }
      if (overlaps(other.address, listener.address)) {
        return fail(address_mark, "listener address " + listener.address.toString() +
                                      " is already used by listener " + quoted(other.name) + " (" +
                                      other.address.toString() + ")");
      }
    }
    if (listener.routes.empty()) {
      return fail(at(path + ".routes", listener.mark),
                  "listener " + quoted(listener.name) + " needs at least one route");
    }
    return true;
  }

  bool checkLimits(size_t i) {
    const Listener& listener = config_.listeners[i];
    const ListenerLimits& limits = listener.limits;
    const std::string path = "listeners[" + std::to_string(i) + "]";
    const Mark protocols_mark = at(path + ".protocols", listener.mark);
    if (listener.protocols.empty()) {
      return fail(protocols_mark, "protocols must not be empty (use http1, h2c or both)");
    }
    for (size_t k = 1; k < listener.protocols.size(); ++k) {
      if (std::find(listener.protocols.begin(), listener.protocols.begin() + static_cast<long>(k),
                    listener.protocols[k]) != listener.protocols.begin() + static_cast<long>(k)) {
        return fail(at(path + ".protocols[" + std::to_string(k) + "]", protocols_mark),
                    "duplicate protocol in protocols");
      }
    }
    const std::string limits_path = path + ".limits.";
    if (limits.max_header_bytes < kMinHeaderBytes || limits.max_header_bytes > kMaxHeaderBytes) {
      return fail(at(limits_path + "max_header_bytes", listener.mark),
                  "max_header_bytes must be between 1KiB and 1MiB, got " +
                      formatSize(limits.max_header_bytes));
    }
    if (limits.max_concurrent_streams < 1 ||
        limits.max_concurrent_streams > kMaxConcurrentStreams) {
      return fail(at(limits_path + "max_concurrent_streams", listener.mark),
                  "max_concurrent_streams must be between 1 and 65535, got " +
                      std::to_string(limits.max_concurrent_streams));
    }
    if (limits.idle_timeout <= Duration::zero()) {
      return fail(at(limits_path + "idle_timeout", listener.mark),
                  "idle_timeout must be greater than 0s");
    }
    return true;
  }

  bool checkRoute(const Route& route, const std::string& path) {
    const RouteMatch& match = route.match;
    const Mark match_mark = at(path + ".match", route.mark);
    if (match.prefix.has_value() == match.path.has_value()) {
      return fail(match_mark, match.prefix ? "route match takes 'prefix' or 'path', not both"
                                           : "route match needs 'prefix' or 'path' (use "
                                             "'prefix: /' to match every request)");
    }
    const bool is_prefix = match.prefix.has_value();
    const std::string& pattern = is_prefix ? *match.prefix : *match.path;
    if (!isPathPattern(pattern)) {
      return fail(at(path + (is_prefix ? ".match.prefix" : ".match.path"), match_mark),
                  std::string("invalid ") + (is_prefix ? "prefix " : "path ") + quoted(pattern) +
                      " (must start with '/', without '?', '#' or spaces)");
    }
    return checkMethods(match, path) && checkHeaders(match, path) &&
           checkRouteCluster(route, path) && checkRetry(route, path) &&
           checkFallback(route, path) && checkAsync(route, path);
  }

  bool checkMethods(const RouteMatch& match, const std::string& path) {
    for (size_t k = 0; k < match.methods.size(); ++k) {
      const std::string& method = match.methods[k];
      const Mark mark = at(path + ".match.methods[" + std::to_string(k) + "]", at(path + ".match"));
      if (!isMethod(method)) {
        return fail(mark, "invalid method " + quoted(method) +
                              " (methods are uppercase tokens such as GET or POST)");
      }
      if (std::find(match.methods.begin(), match.methods.begin() + static_cast<long>(k), method) !=
          match.methods.begin() + static_cast<long>(k)) {
        return fail(mark, "duplicate method " + quoted(method));
      }
    }
    return true;
  }

  bool checkHeaders(const RouteMatch& match, const std::string& path) {
    for (size_t k = 0; k < match.headers.size(); ++k) {
      const HeaderMatch& header = match.headers[k];
      const std::string header_path = path + ".match.headers[" + std::to_string(k) + "]";
      const Mark mark = at(header_path, at(path + ".match"));
      if (!isHeaderName(header.name)) {
        return fail(at(header_path + ".name", mark),
                    "invalid header name " + quoted(header.name) + " (use a lowercase token)");
      }
      if (header.exact && header.prefix) {
        return fail(mark, "header match takes at most one of 'exact' and 'prefix'");
      }
      if ((header.exact || header.prefix) && !header.present) {
        return fail(mark, "'present: false' cannot be combined with 'exact' or 'prefix'");
      }
    }
    return true;
  }

  bool checkRouteCluster(const Route& route, const std::string& path) {
    if (config_.findCluster(route.cluster) == nullptr) {
      return fail(at(path + ".cluster", route.mark),
                  "route refers to unknown cluster " + quoted(route.cluster));
    }
    return true;
  }

  // ---- route: retry ----

  bool checkRetry(const Route& route, const std::string& path) {
    if (!route.retry) {
      return true;
    }
    const RetryConfig& retry = *route.retry;
    const std::string p = path + ".retry";
    const Mark mark = at(p, retry.mark);
    if (!checkRetryOn(retry, p, mark)) {
      return false;
    }
    if (retry.max_retries > kMaxRetries) {
      return fail(at(p + ".max_retries", mark), "max_retries must be at most " +
                                                    std::to_string(kMaxRetries) + ", got " +
                                                    std::to_string(retry.max_retries));
    }
    const Mark base_mark = at(p + ".backoff.base", at(p + ".backoff", mark));
    if (retry.backoff.base <= Duration::zero()) {
      return fail(base_mark, "backoff base must be greater than 0s");
    }
    if (retry.backoff.base > retry.backoff.max) {
      return fail(at(p + ".backoff.base", at(p + ".backoff.max", base_mark)),
                  "backoff base (" + formatDuration(retry.backoff.base) +
                      ") must not be greater than max (" + formatDuration(retry.backoff.max) + ")");
    }
    if (retry.per_try_timeout < Duration::zero() ||
        (route.timeout > Duration::zero() && retry.per_try_timeout > route.timeout)) {
      return fail(at(p + ".per_try_timeout", mark),
                  "per_try_timeout (" + formatDuration(retry.per_try_timeout) +
                      ") must not be longer than the route's timeout (" +
                      formatDuration(route.timeout) + ")");
    }
    if (!(retry.budget.ratio >= 0.0 && retry.budget.ratio <= 1.0)) {
      return fail(at(p + ".budget.ratio", mark), "budget ratio must be between 0 and 1 (100%)");
    }
    return true;
  }

  bool checkRetryOn(const RetryConfig& retry, const std::string& p, Mark mark) {
    const Mark on_mark = at(p + ".on", mark);
    std::optional<Mark> status_token;
    for (size_t k = 0; k < retry.on.size(); ++k) {
      const std::string& token = retry.on[k];
      const Mark token_mark = at(index(p + ".on", k), on_mark);
      const auto condition = filters::retry::parseRetryOn(token);
      if (!condition) {
        return fail(token_mark, "unknown retry condition " + quoted(token) +
                                    " in 'on' (expected one of: " + retryOnTokens() + ")");
      }
      if (std::find(retry.on.begin(), retry.on.begin() + static_cast<long>(k), token) !=
          retry.on.begin() + static_cast<long>(k)) {
        return fail(token_mark, "duplicate retry condition " + quoted(token) + " in 'on'");
      }
      if (*condition == filters::retry::RetryOn::RetriableStatus) {
        status_token = token_mark;
      }
    }
    for (size_t k = 0; k < retry.retriable_status.size(); ++k) {
      const int status = retry.retriable_status[k];
      if (status < 100 || status > 599) {
        return fail(at(index(p + ".retriable_status", k), at(p + ".retriable_status", mark)),
                    "retriable_status must be between 100 and 599, got " + std::to_string(status));
      }
    }
    if (status_token && retry.retriable_status.empty()) {
      return fail(*status_token,
                  "'retriable-status' in 'on' needs a non-empty retriable_status list");
    }
    return true;
  }

  // ---- route: fallback ----

  bool checkFallback(const Route& route, const std::string& path) {
    if (!route.fallback) {
      return true;
    }
    const FallbackConfig& fallback = *route.fallback;
    const std::string p = path + ".fallback";
    const Mark mark = at(p, fallback.mark);
    switch (fallback.kind) {
    case FallbackConfig::Kind::Static:
      return checkStaticFallback(fallback, p, mark);
    case FallbackConfig::Kind::Cluster:
      if (fallback.cluster == route.cluster) {
        return fail(at(p + ".cluster", mark),
                    "fallback cluster " + quoted(fallback.cluster) +
                        " is the route's own cluster (name another cluster)");
      }
      if (config_.findCluster(fallback.cluster) == nullptr) {
        return fail(at(p + ".cluster", mark),
                    "fallback refers to unknown cluster " + quoted(fallback.cluster));
      }
      return true;
    case FallbackConfig::Kind::LastGood:
      if (fallback.last_good.ttl <= Duration::zero()) {
        return fail(at(p + ".last_good.ttl", mark), "last_good ttl must be greater than 0s");
      }
      if (fallback.last_good.max_bytes == 0) {
        return fail(at(p + ".last_good.max_bytes", mark),
                    "last_good max_bytes must be greater than 0B");
      }
      return true;
    }
    return true;
  }

  bool checkStaticFallback(const FallbackConfig& fallback, const std::string& p, Mark mark) {
    const Mark status_mark = at(p + ".status", mark);
    if (fallback.status < 200 || fallback.status > 599) {
      return fail(status_mark, "fallback status must be between 200 and 599, got " +
                                   std::to_string(fallback.status) +
                                   " (a 1xx is not a final response)");
    }
    if ((fallback.status == 204 || fallback.status == 304) && !fallback.body.empty()) {
      return fail(at(p + ".body", at(p + ".body_file", status_mark)),
                  "a fallback with status " + std::to_string(fallback.status) +
                      " cannot have a body");
    }
    if (!fallback.body_file.empty()) {
      return fail(mark, "fallback body_file is read into body by the config loader; a config "
                        "built in code sets body");
    }
    const Mark body_mark = at(p + ".body", at(p + ".body_file", mark));
    if (fallback.body.size() > kMaxFallbackBodyBytes) {
      return fail(body_mark, "fallback body is larger than " + formatSize(kMaxFallbackBodyBytes));
    }
    if (!isUtf8Text(fallback.body)) {
      return fail(body_mark, "fallback body must be UTF-8 text (/config shows it as YAML text)");
    }
    for (size_t k = 0; k < fallback.headers.size(); ++k) {
      const auto& [name, value] = fallback.headers[k];
      std::string header_path = p + ".headers.";
      header_path += name;
      const Mark header_mark = at(header_path, at(p + ".headers", mark));
      if (!isHeaderName(name)) {
        return fail(header_mark,
                    "invalid fallback header name " + quoted(name) + " (use a lowercase token)");
      }
      for (size_t j = 0; j < k; ++j) {
        if (fallback.headers[j].first == name) {
          return fail(header_mark, "duplicate fallback header " + quoted(name));
        }
      }
      if (hasHeaderBreak(value)) {
        return fail(header_mark,
                    "fallback header " + quoted(name) + " must not contain CR, LF or NUL");
      }
    }
    return true;
  }

  // ---- async_store, route: async ----

  bool checkAsyncStore() {
    const AsyncStoreConfig& store = config_.async_store;
    if (store.max_jobs < 1) {
      return fail(at("async_store.max_jobs", at("async_store")),
                  "async_store max_jobs must be at least 1");
    }
    if (store.max_bytes < kMinAsyncStoreBytes) {
      return fail(at("async_store.max_bytes", at("async_store")),
                  "async_store max_bytes must be at least " + formatSize(kMinAsyncStoreBytes) +
                      ", got " + formatSize(store.max_bytes));
    }
    const Mark redis_mark = at("async_store.redis", at("async_store"));
    if (store.redis.key_prefix.empty()) {
      return fail(at("async_store.redis.key_prefix", redis_mark),
                  "redis key_prefix must not be empty");
    }
    return checkPort(store.redis.address, at("async_store.redis.address", redis_mark));
  }

  bool checkAsync(const Route& route, const std::string& path) {
    if (!route.async) {
      return true;
    }
    const AsyncConfig& async = *route.async;
    const std::string p = path + ".async";
    const Mark mark = at(p, async.mark);
    if (async.after < Duration(1)) {
      return fail(at(p + ".after", mark), "async after must be at least 1ms");
    }
    if (route.timeout > Duration::zero() && async.after >= route.timeout) {
      return fail(at(p + ".after", mark), "async after (" + formatDuration(async.after) +
                                              ") must be shorter than the route's timeout (" +
                                              formatDuration(route.timeout) +
                                              "), or no request is ever converted");
    }
    if (async.retry_after < kMinAsyncRetryAfter) {
      return fail(at(p + ".retry_after", mark),
                  "retry_after must be at least 1s (Retry-After counts whole seconds), got " +
                      formatDuration(async.retry_after));
    }
    if (async.retention < async.retry_after) {
      return fail(at(p + ".retention", mark), "retention (" + formatDuration(async.retention) +
                                                  ") must not be shorter than retry_after (" +
                                                  formatDuration(async.retry_after) + ")");
    }
    if (async.max_result_bytes < 1 || async.max_result_bytes > config_.async_store.max_bytes) {
      return fail(at(p + ".max_result_bytes", mark),
                  "max_result_bytes must be between 1B and async_store max_bytes (" +
                      formatSize(config_.async_store.max_bytes) + "), got " +
                      formatSize(async.max_result_bytes));
    }
    if (async.queue_while_down && config_.async_store.backend == AsyncStoreConfig::Backend::Redis) {
      return fail(at(p + ".queue_while_down", mark),
                  "queue_while_down needs async_store backend memory (a held response cannot wait "
                  "for a networked store's answer)");
    }
    return checkCallbacks(async, p, mark);
  }

  bool checkCallbacks(const AsyncConfig& async, const std::string& p, Mark mark) {
    const Mark header_mark = at(p + ".callback_header", mark);
    const Mark allow_mark = at(p + ".callback_allow", mark);
    if (!async.callback_header.empty() && !isHeaderName(async.callback_header)) {
      return fail(header_mark, "invalid callback_header " + quoted(async.callback_header) +
                                   " (use a lowercase header name)");
    }
    if (!async.callback_header.empty() && async.callback_allow.empty()) {
      return fail(header_mark, "callback_header needs a non-empty callback_allow (the hosts "
                               "that callbacks may be sent to)");
    }
    if (async.callback_header.empty() && !async.callback_allow.empty()) {
      return fail(allow_mark, "callback_allow needs callback_header (the request header that "
                              "carries the callback URL)");
    }
    for (size_t k = 0; k < async.callback_allow.size(); ++k) {
      const std::string& host = async.callback_allow[k];
      const Mark host_mark = at(index(p + ".callback_allow", k), allow_mark);
      if (!isHost(host) || !isLowercase(host)) {
        return fail(host_mark, "invalid host " + quoted(host) +
                                   " in callback_allow (use a lowercase host name or an IP "
                                   "address, without port or brackets)");
      }
      if (std::find(async.callback_allow.begin(),
                    async.callback_allow.begin() + static_cast<long>(k),
                    host) != async.callback_allow.begin() + static_cast<long>(k)) {
        return fail(host_mark, "duplicate host " + quoted(host) + " in callback_allow");
      }
    }
    return true;
  }

  // ---- cluster: limits, breaker, outlier ----

  bool checkClusterResilience(size_t i) {
    const Cluster& cluster = config_.clusters[i];
    const std::string path = index("clusters", i);
    const Mark limits_mark = at(path + ".limits", cluster.mark);
    // max_pending 0 would refuse every request that has to wait for a connection, the first
    // one of every connection included: the cluster could never be used.
    const std::pair<const char*, uint32_t> at_least_one[] = {
        {"max_connections", cluster.limits.max_connections},
        {"max_pending", cluster.limits.max_pending},
        {"max_requests", cluster.limits.max_requests}};
    for (const auto& [key, value] : at_least_one) {
      if (value < 1) {
        return fail(at(path + ".limits." + key, limits_mark),
                    std::string(key) + " must be at least 1");
      }
    }
    return checkBreaker(cluster, path) && checkOutlier(cluster, path);
  }

  bool checkRate(double rate, Mark mark, const char* key) {
    if (rate > 0.0 && rate <= 1.0) {
      return true;
    }
    return fail(mark, std::string(key) + " must be greater than 0 and at most 1 (100%), got " +
                          formatRatio(rate));
  }

  bool checkBreaker(const Cluster& cluster, const std::string& path) {
    if (!cluster.breaker) {
      return true;
    }
    const BreakerConfig& breaker = *cluster.breaker;
    const std::string p = path + ".breaker";
    const Mark mark = at(p, breaker.mark);
    const Mark size_mark = at(p + ".window.size", at(p + ".window", mark));
    if (breaker.window_type == BreakerConfig::WindowType::Count && breaker.window_calls < 1) {
      return fail(size_mark, "breaker window size must be at least 1 call");
    }
    if (breaker.window_type == BreakerConfig::WindowType::Time &&
        breaker.window_time < kMinWindowTime) {
      return fail(size_mark, "breaker window size must be at least " +
                                 formatDuration(kMinWindowTime) + ", got " +
                                 formatDuration(breaker.window_time));
    }
    if (breaker.minimum_calls < 1) {
      return fail(at(p + ".minimum_calls", mark), "minimum_calls must be at least 1");
    }
    if (!checkRate(breaker.failure_rate, at(p + ".failure_rate", mark), "failure_rate") ||
        !checkRate(breaker.slow_call_rate, at(p + ".slow_call.rate", mark), "slow_call rate")) {
      return false;
    }
    const std::pair<const char*, Duration> positive[] = {
        {"slow_call.duration", breaker.slow_call_duration}, {"open_for", breaker.open_for}};
    for (const auto& [key, value] : positive) {
      if (value <= Duration::zero()) {
        return fail(at(p + "." + key, mark), std::string(key) + " must be greater than 0s");
      }
    }
    if (breaker.half_open_calls < 1) {
      return fail(at(p + ".half_open_calls", mark), "half_open_calls must be at least 1");
    }
    return checkFailureOn(breaker, p, mark);
  }

  bool checkFailureOn(const BreakerConfig& breaker, const std::string& p, Mark mark) {
    const Mark list_mark = at(p + ".failure_on", mark);
    for (size_t k = 0; k < breaker.failure_on.size(); ++k) {
      const std::string& token = breaker.failure_on[k];
      const Mark token_mark = at(index(p + ".failure_on", k), list_mark);
      if (!filters::circuit_breaker::FailurePolicy::isKnownToken(token)) {
        return fail(token_mark, "unknown failure condition " + quoted(token) +
                                    " in 'failure_on' (expected one of: " +
                                    std::string(kFailureOnTokens) + ")");
      }
      if (std::find(breaker.failure_on.begin(), breaker.failure_on.begin() + static_cast<long>(k),
                    token) != breaker.failure_on.begin() + static_cast<long>(k)) {
        return fail(token_mark,
                    "duplicate failure condition " + quoted(token) + " in 'failure_on'");
      }
    }
    return true;
  }

  bool checkOutlier(const Cluster& cluster, const std::string& path) {
    if (!cluster.outlier) {
      return true;
    }
    const OutlierConfig& outlier = *cluster.outlier;
    const Mark mark = at(path + ".outlier", cluster.mark);
    if (outlier.ejection_time <= Duration::zero()) {
      return fail(at(path + ".outlier.ejection_time", mark),
                  "ejection_time must be greater than 0s");
    }
    if (!(outlier.max_ejection >= 0.0 && outlier.max_ejection <= 1.0)) {
      return fail(at(path + ".outlier.max_ejection", mark),
                  "max_ejection must be between 0 and 1 (100%), got " +
                      formatRatio(outlier.max_ejection));
    }
    return true;
  }

  bool checkClusters() {
    for (size_t i = 0; i < config_.clusters.size(); ++i) {
      if (!checkCluster(i) || !checkEndpoints(i) || !checkClusterResilience(i)) {
        return false;
      }
    }
    return true;
  }

  bool checkCluster(size_t i) {
    const Cluster& cluster = config_.clusters[i];
    const std::string path = "clusters[" + std::to_string(i) + "]";
    if (!isValidName(cluster.name)) {
      return fail(at(path + ".name", cluster.mark),
                  "invalid cluster name " + quoted(cluster.name) +
                      " (use lowercase letters, digits, '_' and '-')");
    }
    for (size_t k = 0; k < i; ++k) {
      if (config_.clusters[k].name == cluster.name) {
        return fail(at(path + ".name", cluster.mark),
                    "duplicate cluster name " + quoted(cluster.name) + " (first defined at line " +
                        std::to_string(config_.clusters[k].mark.line) + ")");
      }
    }
    const std::pair<const char*, Duration> positive[] = {
        {"connect_timeout", cluster.connect_timeout},
        {"dns_refresh", cluster.dns_refresh},
        {"idle_connection_timeout", cluster.idle_connection_timeout}};
    for (const auto& [key, value] : positive) {
      if (value <= Duration::zero()) {
        return fail(at(path + "." + key, cluster.mark),
                    std::string(key) + " must be greater than 0s");
      }
    }
    return true;
  }

  bool checkEndpoints(size_t i) {
    const Cluster& cluster = config_.clusters[i];
    const std::string path = "clusters[" + std::to_string(i) + "]";
    if (cluster.type == ClusterType::OriginalDst) {
      if (!cluster.endpoints.empty()) {
        return fail(at(path + ".endpoints", cluster.mark),
                    "cluster " + quoted(cluster.name) +
                        " is type original_dst: it sends to each connection's original "
                        "destination and takes no endpoints");
      }
      if (cluster.outlier) {
        return fail(at(path + ".outlier", cluster.mark),
                    "cluster " + quoted(cluster.name) +
                        " is type original_dst: outlier ejection needs a list of endpoints");
      }
      return true;
    }
    if (cluster.endpoints.empty()) {
      return fail(at(path + ".endpoints", cluster.mark),
                  "cluster " + quoted(cluster.name) + " needs at least one endpoint");
    }
    for (size_t k = 0; k < cluster.endpoints.size(); ++k) {
      const HostPort& endpoint = cluster.endpoints[k];
      const Mark mark =
          at(path + ".endpoints[" + std::to_string(k) + "]", at(path + ".endpoints", cluster.mark));
      if (!checkPort(endpoint, mark)) {
        return false;
      }
      if (std::find(cluster.endpoints.begin(), cluster.endpoints.begin() + static_cast<long>(k),
                    endpoint) != cluster.endpoints.begin() + static_cast<long>(k)) {
        return fail(mark, "duplicate endpoint " + endpoint.toString());
      }
    }
    return true;
  }

  const Config& config_;
  std::optional<ConfigError> error_;
};

} // namespace

std::optional<ConfigError> validate(const Config& config) { return Validator(config).run(); }

} // namespace seawall::config
