#include "config/yaml_loader.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <sstream>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/units.h"
#include "config/validate.h"
#include "config/yaml_names.h"

namespace seawall::config {
namespace {

// Thrown only inside this file and caught by loadConfigString: it keeps each reader below a
// straight line of "read this key, then that one".
struct LoadFailure {
  ConfigError error;
};

// One node being read, with what errors need to talk about it.
struct Value {
  YAML::Node node;
  Mark mark;         // of the value; of its key when the value is empty ("key:" alone)
  std::string path;  // "listeners[0].limits.idle_timeout": the key in Config::marks
  std::string label; // "'idle_timeout'", "an item of 'endpoints'"
};

using Handler = std::function<void(const Value&)>;
using Handlers = std::vector<std::pair<std::string_view, Handler>>;

Mark toMark(const YAML::Mark& mark) {
  if (mark.is_null()) {
    return Mark{};
  }
  return Mark{mark.line + 1, mark.column + 1};
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
  case YAML::NodeType::Map:
    return "a map";
  case YAML::NodeType::Sequence:
    return "a list";
  case YAML::NodeType::Scalar:
    return "'" + node.Scalar() + "'";
  default:
    return "nothing";
  }
}

std::string joined(const Handlers& handlers) {
  std::string out;
  for (const auto& [key, handler] : handlers) {
    out += out.empty() ? "" : ", ";
    out += key;
  }
  return out;
}

class Loader {
public:
  explicit Loader(const std::string& file) { config_.source_path = file; }

  Config load(const YAML::Node& root) {
    if (!root.IsDefined() || root.IsNull()) {
      fail(Mark{}, "the config file is empty");
    }
    readMap(Value{root, toMark(root.Mark()), "", "the top level"}, "top level",
            {{"admin", [&](const Value& v) { readAdmin(v); }},
             {"workers", [&](const Value& v) { readWorkers(v); }},
             {"drain_timeout", [&](const Value& v) { config_.drain_timeout = readDuration(v); }},
             {"watch_config", [&](const Value& v) { config_.watch_config = readBool(v); }},
             {"access_log", [&](const Value& v) { readAccessLog(v); }},
             {"listeners", [&](const Value& v) { readListeners(v); }},
             {"clusters", [&](const Value& v) { readClusters(v); }},
             {"async_store", [&](const Value& v) { readAsyncStore(v); }}});
    return std::move(config_);
  }

private:
  [[noreturn]] void fail(Mark mark, std::string message) const {
    throw LoadFailure{ConfigError{config_.source_path, mark.line, mark.column, std::move(message)}};
  }

  // Checks that `map` is a map whose keys are all known, each given once, and that every
  // `required` key is there; then runs the handlers in file order.
  void readMap(const Value& map, std::string_view what, const Handlers& handlers,
               std::initializer_list<std::string_view> required = {}) {
    if (!map.node.IsMap()) {
      fail(map.mark, "expected a map for " + map.label + ", got " + describe(map.node));
    }
    std::vector<std::string> seen;
    for (const auto& entry : map.node) {
      const YAML::Node& key = entry.first;
      if (!key.IsScalar()) {
        fail(toMark(key.Mark()), "keys must be plain names in " + std::string(what));
      }
      const std::string& name = key.Scalar();
      auto handler = std::find_if(handlers.begin(), handlers.end(),
                                  [&](const auto& h) { return h.first == name; });
      if (handler == handlers.end()) {
        fail(toMark(key.Mark()), "unknown key '" + name + "' in " + std::string(what) +
                                     " (expected one of: " + joined(handlers) + ")");
      }
      if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
        fail(toMark(key.Mark()), "duplicate key '" + name + "' in " + std::string(what));
      }
      seen.push_back(name);
      const YAML::Node& node = entry.second;
      Value value{node, toMark(node.IsNull() ? key.Mark() : node.Mark()),
                  map.path.empty() ? name : map.path + "." + name, "'" + name + "'"};
      config_.marks[value.path] = value.mark;
      handler->second(value);
    }
    for (std::string_view name : required) {
      if (std::find(seen.begin(), seen.end(), name) == seen.end()) {
        fail(map.mark, "missing required key '" + std::string(name) + "' in " + std::string(what));
      }
    }
  }

  void readList(const Value& list, const std::function<void(const Value&)>& read_item) {
    if (!list.node.IsSequence()) {
      fail(list.mark, "expected a list for " + list.label + ", got " + describe(list.node));
    }
    for (size_t i = 0; i < list.node.size(); ++i) {
      const YAML::Node& node = list.node[i];
      Value item{node, toMark(node.IsNull() ? list.node.Mark() : node.Mark()),
                 list.path + "[" + std::to_string(i) + "]", "an item of " + list.label};
      config_.marks[item.path] = item.mark;
      read_item(item);
    }
  }

  std::string readString(const Value& v) const {
    if (!v.node.IsScalar()) {
      fail(v.mark, "expected a string for " + v.label + ", got " + describe(v.node));
    }
    return v.node.Scalar();
  }

  template <typename T> T readParsed(const Value& v, const char* kind, const char* hint) const {
    const std::string text = readString(v);
    std::optional<T> parsed;
    if constexpr (std::is_same_v<T, Duration>) {
      parsed = parseDuration(text);
    } else if constexpr (std::is_same_v<T, HostPort>) {
      parsed = parseHostPort(text);
    } else if constexpr (std::is_same_v<T, double>) {
      parsed = parseRatio(text);
    } else {
      parsed = parseSize(text);
    }
    if (!parsed) {
      fail(v.mark, std::string("invalid ") + kind + " '" + text + "' (" + hint + ")");
    }
    return *parsed;
  }

  Duration readDuration(const Value& v) const {
    return readParsed<Duration>(v, "duration", "use a number and a unit: 250ms, 3s, 5m");
  }

  size_t readSize(const Value& v) const {
    return readParsed<size_t>(v, "size", "use bytes or a unit: 512B, 64KiB, 1MiB, 2GiB");
  }

  double readRatio(const Value& v) const {
    return readParsed<double>(v, "ratio", "use a number from 0 to 1 or a percentage: 0.5, 50%");
  }

  HostPort readAddress(const Value& v) const {
    return readParsed<HostPort>(v, "address",
                                "use host:port or [ipv6]:port, with a port from 1 to 65535");
  }

  template <typename T> T readUnsigned(const Value& v) const {
    const std::string text = readString(v);
    uint64_t value = 0;
    for (char c : text) {
      if (c < '0' || c > '9') {
        fail(v.mark, "invalid number '" + text + "' for " + v.label + " (use a whole number)");
      }
      if (__builtin_mul_overflow(value, uint64_t{10}, &value) ||
          __builtin_add_overflow(value, static_cast<uint64_t>(c - '0'), &value) ||
          value > std::numeric_limits<T>::max()) {
        fail(v.mark, "number '" + text + "' is too large for " + v.label);
      }
    }
    if (text.empty()) {
      fail(v.mark, "invalid number '' for " + v.label + " (use a whole number)");
    }
    return static_cast<T>(value);
  }

  bool readBool(const Value& v) const {
    const std::string text = readString(v);
    if (text != "true" && text != "false") {
      fail(v.mark, "invalid value '" + text + "' for " + v.label + " (use true or false)");
    }
    return text == "true";
  }

  std::vector<std::string> readStrings(const Value& v) {
    std::vector<std::string> out;
    readList(v, [&](const Value& item) { out.push_back(readString(item)); });
    return out;
  }

  template <typename E, size_t N>
  E readEnum(const Value& v, const std::array<EnumName<E>, N>& table) const {
    const std::string text = readString(v);
    std::string names;
    for (const auto& entry : table) {
      if (entry.name == text) {
        return entry.value;
      }
      names += (names.empty() ? "" : ", ") + std::string(entry.name);
    }
    fail(v.mark,
         "invalid value '" + text + "' for " + v.label + " (expected one of: " + names + ")");
  }

  void readAdmin(const Value& v) {
    readMap(v, "admin",
            {{"address", [&](const Value& a) { config_.admin.address = readAddress(a); }}});
  }

  void readWorkers(const Value& v) {
    if (v.node.IsScalar() && v.node.Scalar() == "auto") {
      config_.workers = 0;
      return;
    }
    config_.workers = readUnsigned<unsigned>(v);
    if (config_.workers == 0) {
      fail(v.mark,
           "workers must be 'auto' or between 1 and " + std::to_string(kMaxWorkers) + ", got 0");
    }
  }

  void readAccessLog(const Value& v) {
    readMap(v, "access_log",
            {{"path",
              [&](const Value& p) {
                config_.access_log.path = readString(p);
                if (config_.access_log.path.empty()) {
                  fail(p.mark, "access_log path must not be empty (use \"-\" for stdout)");
                }
              }}},
            {"path"});
  }

  void readListeners(const Value& v) {
    readList(v, [&](const Value& item) {
      Listener& listener = config_.listeners.emplace_back();
      listener.mark = item.mark;
      readMap(item, "listener",
              {{"name", [&](const Value& x) { listener.name = readString(x); }},
               {"address", [&](const Value& x) { listener.address = readAddress(x); }},
               {"protocols", [&](const Value& x) { readProtocols(x, listener); }},
               {"transparent", [&](const Value& x) { listener.transparent = readBool(x); }},
               {"limits", [&](const Value& x) { readLimits(x, listener.limits); }},
               {"routes", [&](const Value& x) { readRoutes(x, listener); }}},
              {"name", "address"});
    });
  }

  void readProtocols(const Value& v, Listener& listener) {
    listener.protocols.clear();
    readList(v, [&](const Value& item) {
      listener.protocols.push_back(readEnum(item, kProtocolNames));
    });
  }

  void readLimits(const Value& v, ListenerLimits& limits) {
    readMap(v, "limits",
            {{"max_header_bytes", [&](const Value& x) { limits.max_header_bytes = readSize(x); }},
             {"max_concurrent_streams",
              [&](const Value& x) { limits.max_concurrent_streams = readUnsigned<uint32_t>(x); }},
             {"idle_timeout", [&](const Value& x) { limits.idle_timeout = readDuration(x); }},
             {"request_buffer", [&](const Value& x) { limits.request_buffer = readSize(x); }}});
  }

  void readRoutes(const Value& v, Listener& listener) {
    readList(v, [&](const Value& item) {
      Route& route = listener.routes.emplace_back();
      route.mark = item.mark;
      readMap(item, "route",
              {{"match", [&](const Value& x) { readMatch(x, route.match); }},
               {"cluster", [&](const Value& x) { route.cluster = readString(x); }},
               {"timeout", [&](const Value& x) { route.timeout = readDuration(x); }},
               {"idle_timeout", [&](const Value& x) { route.idle_timeout = readDuration(x); }},
               {"retry", [&](const Value& x) { readRetry(x, route.retry.emplace()); }},
               {"fallback", [&](const Value& x) { readFallback(x, route.fallback.emplace()); }},
               {"async", [&](const Value& x) { readAsync(x, route.async.emplace()); }}},
              {"match", "cluster"});
    });
  }

  void readMatch(const Value& v, RouteMatch& match) {
    readMap(v, "match",
            {{"prefix", [&](const Value& x) { match.prefix = readString(x); }},
             {"path", [&](const Value& x) { match.path = readString(x); }},
             {"methods",
              [&](const Value& x) {
                readList(x, [&](const Value& m) { match.methods.push_back(readString(m)); });
              }},
             {"headers", [&](const Value& x) {
                readList(x, [&](const Value& h) { readHeaderMatch(h, match.headers); });
              }}});
  }

  void readHeaderMatch(const Value& v, std::vector<HeaderMatch>& headers) {
    HeaderMatch& header = headers.emplace_back();
    std::optional<Mark> present_mark;
    readMap(v, "header match",
            {{"name",
              [&](const Value& x) {
                header.name = readString(x);
                std::transform(header.name.begin(), header.name.end(), header.name.begin(),
                               [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
              }},
             {"exact", [&](const Value& x) { header.exact = readString(x); }},
             {"prefix", [&](const Value& x) { header.prefix = readString(x); }},
             {"present",
              [&](const Value& x) {
                header.present = readBool(x);
                present_mark = x.mark;
              }}},
            {"name"});
    if (present_mark && (header.exact || header.prefix)) {
      fail(*present_mark, "'present' cannot be combined with 'exact' or 'prefix'");
    }
  }

  void readClusters(const Value& v) {
    readList(v, [&](const Value& item) {
      Cluster& cluster = config_.clusters.emplace_back();
      cluster.mark = item.mark;
      readMap(
          item, "cluster",
          {{"name", [&](const Value& x) { cluster.name = readString(x); }},
           {"type", [&](const Value& x) { cluster.type = readEnum(x, kClusterTypeNames); }},
           {"protocol",
            [&](const Value& x) { cluster.protocol = readEnum(x, kClusterProtocolNames); }},
           {"endpoints",
            [&](const Value& x) {
              readList(x, [&](const Value& e) { cluster.endpoints.push_back(readAddress(e)); });
            }},
           {"connect_timeout", [&](const Value& x) { cluster.connect_timeout = readDuration(x); }},
           {"load_balancing",
            [&](const Value& x) { cluster.load_balancing = readEnum(x, kLoadBalancingNames); }},
           {"dns_refresh", [&](const Value& x) { cluster.dns_refresh = readDuration(x); }},
           {"max_idle_connections",
            [&](const Value& x) { cluster.max_idle_connections = readUnsigned<size_t>(x); }},
           {"idle_connection_timeout",
            [&](const Value& x) { cluster.idle_connection_timeout = readDuration(x); }},
           {"limits", [&](const Value& x) { readClusterLimits(x, cluster.limits); }},
           {"breaker", [&](const Value& x) { readBreaker(x, cluster.breaker.emplace()); }},
           {"outlier", [&](const Value& x) { readOutlier(x, cluster.outlier.emplace()); }}},
          {"name"});
    });
  }

  void readRetry(const Value& v, RetryConfig& retry) {
    retry.mark = v.mark;
    readMap(
        v, "retry",
        {{"max_retries", [&](const Value& x) { retry.max_retries = readUnsigned<uint32_t>(x); }},
         {"on", [&](const Value& x) { retry.on = readStrings(x); }},
         {"retriable_status",
          [&](const Value& x) {
            readList(x, [&](const Value& s) {
              retry.retriable_status.push_back(readUnsigned<uint16_t>(s));
            });
          }},
         {"per_try_timeout", [&](const Value& x) { retry.per_try_timeout = readDuration(x); }},
         {"backoff",
          [&](const Value& x) {
            readMap(x, "backoff",
                    {{"base", [&](const Value& y) { retry.backoff.base = readDuration(y); }},
                     {"max", [&](const Value& y) { retry.backoff.max = readDuration(y); }}});
          }},
         {"honor_retry_after", [&](const Value& x) { retry.honor_retry_after = readBool(x); }},
         {"budget",
          [&](const Value& x) {
            readMap(x, "budget",
                    {{"ratio", [&](const Value& y) { retry.budget.ratio = readRatio(y); }},
                     {"min_per_second", [&](const Value& y) {
                        retry.budget.min_per_second = readUnsigned<uint32_t>(y);
                      }}});
          }},
         {"retry_non_idempotent",
          [&](const Value& x) { retry.retry_non_idempotent = readBool(x); }},
         {"retry_idempotency_key",
          [&](const Value& x) { retry.retry_idempotency_key = readBool(x); }}});
  }

  // The keys that chose a kind, in file order: exactly one kind may be chosen.
  struct KindKey {
    FallbackConfig::Kind kind;
    Value key;
  };

  void readFallback(const Value& v, FallbackConfig& fallback) {
    using Kind = FallbackConfig::Kind;
    fallback.mark = v.mark;
    std::vector<KindKey> kinds;
    const auto choose = [&](Kind kind, const Value& x) {
      if (std::none_of(kinds.begin(), kinds.end(),
                       [&](const KindKey& k) { return k.kind == kind; })) {
        kinds.push_back(KindKey{kind, x});
      }
    };
    std::optional<Value> body;
    std::optional<Value> body_file;
    readMap(v, "fallback",
            {{"status",
              [&](const Value& x) {
                choose(Kind::Static, x);
                fallback.status = readUnsigned<uint16_t>(x);
              }},
             {"headers",
              [&](const Value& x) {
                choose(Kind::Static, x);
                readFallbackHeaders(x, fallback.headers);
              }},
             {"body",
              [&](const Value& x) {
                choose(Kind::Static, x);
                fallback.body = readString(x);
                body = x;
              }},
             {"body_file",
              [&](const Value& x) {
                choose(Kind::Static, x);
                body_file = x;
              }},
             {"cluster",
              [&](const Value& x) {
                choose(Kind::Cluster, x);
                fallback.cluster = readString(x);
              }},
             {"last_good",
              [&](const Value& x) {
                choose(Kind::LastGood, x);
                readLastGood(x, fallback.last_good);
              }},
             {"on_upstream_5xx", [&](const Value& x) { fallback.on_upstream_5xx = readBool(x); }}});
    if (kinds.empty()) {
      fail(v.mark, "fallback needs one kind: a static response (status, headers, body or "
                   "body_file), cluster or last_good");
    }
    if (kinds.size() > 1) {
      fail(kinds[1].key.mark, "fallback takes exactly one kind: " + kinds[1].key.label +
                                  " cannot be combined with " + kinds[0].key.label +
                                  " (static response, cluster or last_good)");
    }
    fallback.kind = kinds[0].kind;
    if (body && body_file) {
      fail(body_file->mark, "fallback takes 'body' or 'body_file', not both");
    }
    if (body_file) {
      fallback.body = readBodyFile(*body_file);
    }
  }

  void readFallbackHeaders(const Value& v,
                           std::vector<std::pair<std::string, std::string>>& headers) {
    if (!v.node.IsMap()) {
      fail(v.mark, "expected a map for " + v.label + ", got " + describe(v.node));
    }
    for (const auto& entry : v.node) {
      const Mark key_mark = toMark(entry.first.Mark());
      if (!entry.first.IsScalar()) {
        fail(key_mark, "header names must be plain names in 'headers'");
      }
      std::string name = entry.first.Scalar();
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (std::any_of(headers.begin(), headers.end(),
                      [&](const auto& h) { return h.first == name; })) {
        fail(key_mark, "duplicate header '" + name + "' in 'headers'");
      }
      const YAML::Node& node = entry.second;
      const Value value{node, toMark(node.IsNull() ? entry.first.Mark() : node.Mark()),
                        v.path + "." + name, "header '" + name + "'"};
      config_.marks[value.path] = value.mark;
      headers.emplace_back(std::move(name), readString(value));
    }
  }

  // The file's content; relative paths are relative to the config file's directory.
  std::string readBodyFile(const Value& v) const {
    const std::string text = readString(v);
    if (text.empty()) {
      fail(v.mark, "body_file must not be empty");
    }
    std::filesystem::path path(text);
    if (path.is_relative()) {
      path = std::filesystem::path(config_.source_path).parent_path() / path;
    }
    const std::string shown = "fallback body_file '" + path.string() + "'";
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      fail(v.mark, "cannot read " + shown + ": it is a directory");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      const int err = errno;
      fail(v.mark, "cannot read " + shown + ": " + std::generic_category().message(err));
    }
    std::string body(kMaxFallbackBodyBytes + 1, '\0');
    in.read(body.data(), static_cast<std::streamsize>(body.size()));
    if (in.bad()) {
      fail(v.mark, "cannot read " + shown + ": read error");
    }
    body.resize(static_cast<size_t>(in.gcount()));
    if (body.size() > kMaxFallbackBodyBytes) {
      fail(v.mark, shown + " is larger than " + formatSize(kMaxFallbackBodyBytes));
    }
    return body;
  }

  void readLastGood(const Value& v, LastGoodConfig& last_good) {
    readMap(v, "last_good",
            {{"ttl", [&](const Value& x) { last_good.ttl = readDuration(x); }},
             {"max_bytes", [&](const Value& x) { last_good.max_bytes = readSize(x); }}});
  }

  void readClusterLimits(const Value& v, ClusterLimits& limits) {
    readMap(
        v, "limits",
        {{"max_connections",
          [&](const Value& x) { limits.max_connections = readUnsigned<uint32_t>(x); }},
         {"max_pending", [&](const Value& x) { limits.max_pending = readUnsigned<uint32_t>(x); }},
         {"max_requests", [&](const Value& x) { limits.max_requests = readUnsigned<uint32_t>(x); }},
         {"max_retries", [&](const Value& x) { limits.max_retries = readUnsigned<uint32_t>(x); }}});
  }

  void readBreaker(const Value& v, BreakerConfig& breaker) {
    breaker.mark = v.mark;
    readMap(v, "breaker",
            {{"window", [&](const Value& x) { readWindow(x, breaker); }},
             {"minimum_calls",
              [&](const Value& x) { breaker.minimum_calls = readUnsigned<uint64_t>(x); }},
             {"failure_rate", [&](const Value& x) { breaker.failure_rate = readRatio(x); }},
             {"slow_call",
              [&](const Value& x) {
                readMap(x, "slow_call",
                        {{"duration",
                          [&](const Value& y) { breaker.slow_call_duration = readDuration(y); }},
                         {"rate", [&](const Value& y) { breaker.slow_call_rate = readRatio(y); }}});
              }},
             {"open_for", [&](const Value& x) { breaker.open_for = readDuration(x); }},
             {"half_open_calls",
              [&](const Value& x) { breaker.half_open_calls = readUnsigned<uint32_t>(x); }},
             {"failure_on", [&](const Value& x) { breaker.failure_on = readStrings(x); }},
             {"open_on_retry_after",
              [&](const Value& x) { breaker.open_on_retry_after = readBool(x); }},
             {"mode", [&](const Value& x) { breaker.mode = readEnum(x, kBreakerModeNames); }}});
  }

  // `size` is a number of calls or a duration depending on `type`, which may come after it.
  void readWindow(const Value& v, BreakerConfig& breaker) {
    std::optional<Value> size;
    readMap(v, "window",
            {{"type", [&](const Value& x) { breaker.window_type = readEnum(x, kWindowTypeNames); }},
             {"size", [&](const Value& x) { size = x; }}});
    if (!size) {
      return;
    }
    if (breaker.window_type == BreakerConfig::WindowType::Time) {
      breaker.window_time = readDuration(*size);
      return;
    }
    const std::string text = readString(*size);
    if (text.empty() ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      fail(size->mark, "invalid window size '" + text +
                           "' for a count window (use a number of calls, or type: time with a "
                           "duration)");
    }
    breaker.window_calls = readUnsigned<uint64_t>(*size);
  }

  void readOutlier(const Value& v, OutlierConfig& outlier) {
    readMap(v, "outlier",
            {{"consecutive_failures",
              [&](const Value& x) { outlier.consecutive_failures = readUnsigned<uint32_t>(x); }},
             {"ejection_time", [&](const Value& x) { outlier.ejection_time = readDuration(x); }},
             {"max_ejection", [&](const Value& x) { outlier.max_ejection = readRatio(x); }}});
  }

  // Case-insensitive names (header names, hosts), stored lowercase.
  std::string readLowercase(const Value& v) const {
    std::string text = readString(v);
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
  }

  void readAsync(const Value& v, AsyncConfig& async) {
    async.mark = v.mark;
    readMap(v, "async",
            {{"after", [&](const Value& x) { async.after = readDuration(x); }},
             {"when", [&](const Value& x) { async.when = readEnum(x, kAsyncWhenNames); }},
             {"retry_after", [&](const Value& x) { async.retry_after = readDuration(x); }},
             {"retention", [&](const Value& x) { async.retention = readDuration(x); }},
             {"callback_header", [&](const Value& x) { async.callback_header = readLowercase(x); }},
             {"callback_allow",
              [&](const Value& x) {
                readList(x,
                         [&](const Value& h) { async.callback_allow.push_back(readLowercase(h)); });
              }},
             {"queue_while_down", [&](const Value& x) { async.queue_while_down = readBool(x); }},
             {"max_result_bytes", [&](const Value& x) { async.max_result_bytes = readSize(x); }}},
            {"after"});
  }

  void readAsyncStore(const Value& v) {
    AsyncStoreConfig& store = config_.async_store;
    readMap(v, "async_store",
            {{"backend", [&](const Value& x) { store.backend = readEnum(x, kAsyncBackendNames); }},
             {"max_jobs", [&](const Value& x) { store.max_jobs = readUnsigned<size_t>(x); }},
             {"max_bytes", [&](const Value& x) { store.max_bytes = readSize(x); }},
             {"redis", [&](const Value& x) {
                readMap(x, "redis",
                        {{"address", [&](const Value& y) { store.redis.address = readAddress(y); }},
                         {"key_prefix",
                          [&](const Value& y) { store.redis.key_prefix = readString(y); }}});
              }}});
  }

  Config config_;
};

} // namespace

std::variant<Config, ConfigError> loadConfigString(std::string_view yaml,
                                                   const std::string& file_name) {
  try {
    const std::vector<YAML::Node> documents = YAML::LoadAll(std::string(yaml));
    if (documents.size() > 1) {
      const Mark mark = toMark(documents[1].Mark());
      return ConfigError{file_name, mark.line, mark.column,
                         "a config file holds one YAML document, found another one here"};
    }
    Config config = Loader(file_name).load(documents.empty() ? YAML::Node() : documents[0]);
    if (auto error = validate(config)) {
      return *std::move(error);
    }
    return config;
  } catch (const LoadFailure& failure) {
    return failure.error;
  } catch (const YAML::Exception& e) {
    const Mark mark = toMark(e.mark);
    return ConfigError{file_name, mark.line, mark.column, "invalid YAML: " + e.msg};
  } catch (const std::exception& e) {
    return ConfigError{file_name, 0, 0, std::string("cannot load config: ") + e.what()};
  }
}

std::variant<Config, ConfigError> loadConfigFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return ConfigError{path, 0, 0, "cannot read config file: it is a directory"};
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    return ConfigError{path, 0, 0,
                       "cannot read config file: " + std::generic_category().message(err)};
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return ConfigError{path, 0, 0, "cannot read config file: read error"};
  }
  return loadConfigString(text.str(), path);
}

} // namespace seawall::config
