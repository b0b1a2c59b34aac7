#include "config/validate.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>

#include "config/units.h"

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

bool isWildcard(const std::string& host) { return host == "0.0.0.0" || host == "::"; }

bool overlaps(const HostPort& a, const HostPort& b) {
  return a.port == b.port && (a.host == b.host || isWildcard(a.host) || isWildcard(b.host));
}

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

class Validator {
public:
  explicit Validator(const Config& config) : config_(config) {}

  std::optional<ConfigError> run() {
    if (checkTop() && checkListeners() && checkClusters()) {
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
    return checkMethods(match, path) && checkHeaders(match, path) && checkRouteCluster(route, path);
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

  bool checkClusters() {
    for (size_t i = 0; i < config_.clusters.size(); ++i) {
      if (!checkCluster(i) || !checkEndpoints(i)) {
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
