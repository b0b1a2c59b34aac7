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

namespace seawall::config {
namespace {

template <typename E> struct EnumName {
  std::string_view name;
  E value;
};

constexpr std::array<EnumName<Protocol>, 2> kProtocols{
    {{"http1", Protocol::Http1}, {"h2c", Protocol::H2c}}};
constexpr std::array<EnumName<ClusterProtocol>, 2> kClusterProtocols{
    {{"http1", ClusterProtocol::Http1}, {"h2", ClusterProtocol::H2}}};
constexpr std::array<EnumName<LoadBalancing>, 2> kLoadBalancing{
    {{"least_request", LoadBalancing::LeastRequest}, {"round_robin", LoadBalancing::RoundRobin}}};

template <typename E, size_t N>
std::string_view nameOf(const std::array<EnumName<E>, N>& table, E value) {
  for (const auto& entry : table) {
    if (entry.value == value) {
      return entry.name;
    }
  }
  return "?";
}

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
             {"access_log", [&](const Value& v) { readAccessLog(v); }},
             {"listeners", [&](const Value& v) { readListeners(v); }},
             {"clusters", [&](const Value& v) { readClusters(v); }}},
            {}, {"async_store"});
    return std::move(config_);
  }

private:
  [[noreturn]] void fail(Mark mark, std::string message) const {
    throw LoadFailure{ConfigError{config_.source_path, mark.line, mark.column, std::move(message)}};
  }

  // Checks that `map` is a map whose keys are all known, each given once, and that every
  // `required` key is there; then runs the handlers in file order.
  void readMap(const Value& map, std::string_view what, const Handlers& handlers,
               std::initializer_list<std::string_view> required = {},
               std::initializer_list<std::string_view> not_yet = {}) {
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
      if (std::find(not_yet.begin(), not_yet.end(), name) != not_yet.end()) {
        fail(toMark(key.Mark()), "'" + name + "' is not supported yet in this version of Seawall");
      }
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
               {"limits", [&](const Value& x) { readLimits(x, listener.limits); }},
               {"routes", [&](const Value& x) { readRoutes(x, listener); }}},
              {"name", "address"});
    });
  }

  void readProtocols(const Value& v, Listener& listener) {
    listener.protocols.clear();
    readList(v,
             [&](const Value& item) { listener.protocols.push_back(readEnum(item, kProtocols)); });
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
               {"cluster", [&](const Value& x) { route.cluster = readString(x); }}},
              {"match", "cluster"}, {"timeout", "retry", "fallback", "async"});
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
           {"protocol", [&](const Value& x) { cluster.protocol = readEnum(x, kClusterProtocols); }},
           {"endpoints",
            [&](const Value& x) {
              readList(x, [&](const Value& e) { cluster.endpoints.push_back(readAddress(e)); });
            }},
           {"connect_timeout", [&](const Value& x) { cluster.connect_timeout = readDuration(x); }},
           {"load_balancing",
            [&](const Value& x) { cluster.load_balancing = readEnum(x, kLoadBalancing); }},
           {"dns_refresh", [&](const Value& x) { cluster.dns_refresh = readDuration(x); }},
           {"max_idle_connections",
            [&](const Value& x) { cluster.max_idle_connections = readUnsigned<size_t>(x); }},
           {"idle_connection_timeout",
            [&](const Value& x) { cluster.idle_connection_timeout = readDuration(x); }}},
          {"name", "endpoints"}, {"limits", "breaker", "outlier"});
    });
  }

  Config config_;
};

// ---- dumpConfig ----

void emitMatch(YAML::Emitter& out, const RouteMatch& match) {
  out << YAML::Key << "match" << YAML::Value << YAML::BeginMap;
  if (match.prefix) {
    out << YAML::Key << "prefix" << YAML::Value << *match.prefix;
  }
  if (match.path) {
    out << YAML::Key << "path" << YAML::Value << *match.path;
  }
  if (!match.methods.empty()) {
    out << YAML::Key << "methods" << YAML::Value << YAML::Flow << match.methods;
  }
  if (!match.headers.empty()) {
    out << YAML::Key << "headers" << YAML::Value << YAML::BeginSeq;
    for (const HeaderMatch& header : match.headers) {
      out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << header.name;
      if (header.exact) {
        out << YAML::Key << "exact" << YAML::Value << YAML::DoubleQuoted << *header.exact;
      } else if (header.prefix) {
        out << YAML::Key << "prefix" << YAML::Value << YAML::DoubleQuoted << *header.prefix;
      } else {
        out << YAML::Key << "present" << YAML::Value << (header.present ? "true" : "false");
      }
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  out << YAML::EndMap;
}

void emitListener(YAML::Emitter& out, const Listener& listener) {
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << listener.name;
  out << YAML::Key << "address" << YAML::Value << listener.address.toString();
  out << YAML::Key << "protocols" << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (Protocol protocol : listener.protocols) {
    out << std::string(nameOf(kProtocols, protocol));
  }
  out << YAML::EndSeq;
  const ListenerLimits& limits = listener.limits;
  out << YAML::Key << "limits" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "max_header_bytes" << YAML::Value << formatSize(limits.max_header_bytes);
  out << YAML::Key << "max_concurrent_streams" << YAML::Value << limits.max_concurrent_streams;
  out << YAML::Key << "idle_timeout" << YAML::Value << formatDuration(limits.idle_timeout);
  out << YAML::Key << "request_buffer" << YAML::Value << formatSize(limits.request_buffer);
  out << YAML::EndMap;
  out << YAML::Key << "routes" << YAML::Value << YAML::BeginSeq;
  for (const Route& route : listener.routes) {
    out << YAML::BeginMap;
    emitMatch(out, route.match);
    out << YAML::Key << "cluster" << YAML::Value << route.cluster << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap;
}

void emitCluster(YAML::Emitter& out, const Cluster& cluster) {
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << cluster.name;
  out << YAML::Key << "protocol" << YAML::Value
      << std::string(nameOf(kClusterProtocols, cluster.protocol));
  out << YAML::Key << "endpoints" << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const HostPort& endpoint : cluster.endpoints) {
    out << endpoint.toString();
  }
  out << YAML::EndSeq;
  out << YAML::Key << "connect_timeout" << YAML::Value << formatDuration(cluster.connect_timeout);
  out << YAML::Key << "load_balancing" << YAML::Value
      << std::string(nameOf(kLoadBalancing, cluster.load_balancing));
  out << YAML::Key << "dns_refresh" << YAML::Value << formatDuration(cluster.dns_refresh);
  out << YAML::Key << "max_idle_connections" << YAML::Value << cluster.max_idle_connections;
  out << YAML::Key << "idle_connection_timeout" << YAML::Value
      << formatDuration(cluster.idle_connection_timeout);
  out << YAML::EndMap;
}

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

std::string dumpConfig(const Config& config) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "admin" << YAML::Value << YAML::BeginMap << YAML::Key << "address"
      << YAML::Value << config.admin.address.toString() << YAML::EndMap;
  out << YAML::Key << "workers" << YAML::Value;
  if (config.workers == 0) {
    out << "auto";
  } else {
    out << config.workers;
  }
  out << YAML::Key << "drain_timeout" << YAML::Value << formatDuration(config.drain_timeout);
  if (!config.access_log.path.empty()) {
    out << YAML::Key << "access_log" << YAML::Value << YAML::BeginMap << YAML::Key << "path"
        << YAML::Value << config.access_log.path << YAML::EndMap;
  }
  out << YAML::Key << "listeners" << YAML::Value << YAML::BeginSeq;
  for (const Listener& listener : config.listeners) {
    emitListener(out, listener);
  }
  out << YAML::EndSeq;
  out << YAML::Key << "clusters" << YAML::Value << YAML::BeginSeq;
  for (const Cluster& cluster : config.clusters) {
    emitCluster(out, cluster);
  }
  out << YAML::EndSeq << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

} // namespace seawall::config
