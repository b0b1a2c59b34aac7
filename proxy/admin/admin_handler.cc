#include "proxy/admin/admin_handler.h"

#include <algorithm>
#include <array>
#include <optional>

#include "proxy/admin/admin_common.h"
#include "proxy/admin/dashboard_page.h"
#include "proxy/stats/metrics.h"
#include "proxy/upstream/cluster_runtime.h"

namespace seawall::proxy::admin {
namespace {

namespace cb = filters::circuit_breaker;

constexpr std::string_view kMetricsType = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view kJsonType = "application/json";
constexpr size_t kMaxEchoedPath = 200;
constexpr std::string_view kBreakerPrefix = "/breakers/";
constexpr std::string_view kValidStates = "normal, forced_open, disabled, metrics_only, reset";

struct Endpoint {
  std::string_view path;
  std::string_view description;
};

constexpr std::array<Endpoint, 9> kEndpoints = {{
    {"/", "this index"},
    {"/healthz", "liveness: 200 while the process runs"},
    {"/ready", "readiness: 200, or 503 while draining"},
    {"/metrics", "Prometheus metrics (text format 0.0.4)"},
    {"/config", "the running configuration (YAML)"},
    {"/clusters", "clusters, endpoints and their health (JSON)"},
    {"/breakers", "circuit breaker states and limits (JSON); POST /breakers/<cluster>?state=..."},
    {"/breakers/stream", "breaker snapshots as server-sent events (?interval_ms=100..10000)"},
    {"/dashboard", "live breaker dashboard (HTML)"},
}};
constexpr size_t kIndexColumn = 18; // longest path + 2

bool isKnownPath(std::string_view path) {
  for (const auto& e : kEndpoints) {
    if (e.path == path) {
      return true;
    }
  }
  return false;
}

AdminResponse text(int status, std::string body) {
  AdminResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

AdminResponse fromSource(const std::function<std::string()>& source, std::string_view what,
                         std::string_view content_type) {
  if (!source) {
    return text(503, std::string(what) + " not available\n");
  }
  AdminResponse r;
  r.content_type = std::string(content_type);
  r.body = source();
  return r;
}

// What POST /breakers/<cluster>?state= asks for: a mode, a reset, or nothing valid.
struct BreakerAction {
  enum class Kind { Invalid, Reset, SetMode };
  Kind kind = Kind::Invalid;
  cb::Mode mode = cb::Mode::Normal;
};

BreakerAction parseAction(std::string_view state) {
  if (state == "reset") {
    return {BreakerAction::Kind::Reset, cb::Mode::Normal};
  }
  for (size_t i = 0; i < cb::kModeCount; ++i) {
    if (cb::toString(static_cast<cb::Mode>(i)) == state) {
      return {BreakerAction::Kind::SetMode, static_cast<cb::Mode>(i)};
    }
  }
  return {};
}

void appendLimits(std::string& out, ClusterRuntime& rt) {
  const std::array<std::pair<std::string_view, const Resource*>, 4> resources = {{
      {"connections", &rt.connections()},
      {"pending", &rt.pending()},
      {"requests", &rt.requests()},
      {"retries", &rt.retries()},
  }};
  out += "\"limits\":{";
  for (size_t i = 0; i < resources.size(); ++i) {
    out.append(i == 0 ? "\"" : ",\"").append(resources[i].first).append("\":{\"active\":");
    out.append(std::to_string(resources[i].second->count())).append(",\"max\":");
    out.append(std::to_string(resources[i].second->max())).append("}");
  }
  out += "}";
}

// One element of GET /breakers.
void appendCluster(std::string& out, ClusterRuntime& rt,
                   std::chrono::steady_clock::time_point now) {
  out += "{";
  appendBreakerFields(out, rt, now);
  out += ",";
  appendLimits(out, rt);
  out += ",\"ejected\":[";
  const std::vector<std::string> ejected = rt.ejectedEndpoints(now);
  for (size_t i = 0; i < ejected.size(); ++i) {
    out += i == 0 ? "" : ",";
    appendJsonString(out, ejected[i]);
  }
  out += "]}";
}

AdminResponse json(std::string body) {
  AdminResponse r;
  r.content_type = std::string(kJsonType);
  r.body = std::move(body);
  return r;
}

std::string indexBody() {
  std::string body = "seawall admin\n\n";
  for (const auto& e : kEndpoints) {
    body.append(e.path)
        .append(kIndexColumn - std::min(kIndexColumn - 1, e.path.size()), ' ')
        .append(e.description)
        .append("\n");
  }
  return body;
}

} // namespace

AdminHandler::AdminHandler(AdminSources s) : sources_(std::move(s)) {}

AdminResponse AdminHandler::handle(std::string_view method, std::string_view target) const {
  const std::string_view path = pathOf(target);
  if (path == kBreakerStreamPath && (method == "GET" || method == "HEAD")) {
    // The admin server streams it (AdminServer); a bare handler cannot.
    AdminResponse r = text(503, "breaker stream not available\n");
    if (method == "HEAD") {
      r.body.clear();
    }
    return r;
  }
  if (path.size() > kBreakerPrefix.size() && path.starts_with(kBreakerPrefix)) {
    AdminResponse r = setBreaker(method, path.substr(kBreakerPrefix.size()), queryOf(target));
    if (method == "HEAD") {
      r.body.clear();
    }
    return r;
  }
  if (!isKnownPath(path)) {
    std::string echoed(path.substr(0, kMaxEchoedPath));
    AdminResponse r = text(404, "not found: " + echoed + "\nsee / for the admin endpoints\n");
    if (method == "HEAD") {
      r.body.clear();
    }
    return r;
  }
  const bool head = method == "HEAD";
  if (method != "GET" && !head) {
    AdminResponse r = text(405, "method not allowed: use GET or HEAD\n");
    r.headers.emplace_back("allow", "GET, HEAD");
    return r;
  }
  AdminResponse r = get(path);
  if (head) {
    r.body.clear();
  }
  return r;
}

AdminResponse AdminHandler::get(std::string_view path) const {
  if (path == "/healthz") {
    return text(200, "ok\n");
  }
  if (path == "/ready") {
    const bool draining = sources_.draining && sources_.draining();
    return draining ? text(503, "draining\n") : text(200, "ready\n");
  }
  if (path == "/metrics") {
    if (sources_.metrics == nullptr) {
      return text(503, "metrics not available\n");
    }
    AdminResponse r;
    r.content_type = std::string(kMetricsType);
    r.body = sources_.metrics->serialize();
    return r;
  }
  if (path == "/config") {
    return fromSource(sources_.config_yaml, "config", "application/yaml");
  }
  if (path == "/clusters") {
    return fromSource(sources_.clusters_json, "clusters", "application/json");
  }
  if (path == "/breakers") {
    return breakers();
  }
  if (path == "/dashboard") {
    AdminResponse r;
    r.content_type = "text/html; charset=utf-8";
    r.body = std::string(dashboardPage());
    // Self-contained by construction: nothing may load from elsewhere.
    r.headers.emplace_back("content-security-policy", std::string(kDashboardPolicy));
    return r;
  }
  return text(200, indexBody()); // "/"
}

std::chrono::steady_clock::time_point AdminHandler::now() const {
  return sources_.now ? sources_.now() : std::chrono::steady_clock::now();
}

AdminResponse AdminHandler::breakers() const {
  if (!sources_.cluster_runtimes) {
    return text(503, "breakers not available\n");
  }
  std::vector<ClusterRuntime*> runtimes = sources_.cluster_runtimes();
  std::erase(runtimes, nullptr);
  std::sort(runtimes.begin(), runtimes.end(),
            [](ClusterRuntime* a, ClusterRuntime* b) { return a->name() < b->name(); });
  const auto at = now();
  std::string body = "[";
  for (size_t i = 0; i < runtimes.size(); ++i) {
    body += i == 0 ? "" : ",";
    appendCluster(body, *runtimes[i], at);
  }
  body += "]\n";
  return json(std::move(body));
}

AdminResponse AdminHandler::setBreaker(std::string_view method, std::string_view cluster,
                                       std::string_view query) const {
  if (method != "POST") {
    AdminResponse r = text(405, "method not allowed: use POST\n");
    r.headers.emplace_back("allow", "POST");
    return r;
  }
  if (!sources_.cluster_runtimes) {
    return text(503, "breakers not available\n");
  }
  ClusterRuntime* rt = nullptr;
  for (ClusterRuntime* candidate : sources_.cluster_runtimes()) {
    if (candidate != nullptr && candidate->name() == cluster) {
      rt = candidate;
      break;
    }
  }
  const std::string echoed(cluster.substr(0, kMaxEchoedPath));
  if (rt == nullptr || rt->breaker() == nullptr) {
    return text(404,
                (rt == nullptr ? "unknown cluster: " : "cluster has no breaker: ") + echoed + "\n");
  }
  const std::optional<std::string_view> state = queryParam(query, "state");
  if (!state) {
    return text(400,
                "missing state: use ?state=<s> with s one of " + std::string(kValidStates) + "\n");
  }
  const BreakerAction action = parseAction(*state);
  if (action.kind == BreakerAction::Kind::Invalid) {
    return text(400, "unknown state: " + std::string(state->substr(0, kMaxEchoedPath)) +
                         "; valid states: " + std::string(kValidStates) + "\n");
  }
  if (action.kind == BreakerAction::Kind::SetMode) {
    rt->breaker()->setMode(action.mode);
  } else { // reset: through an inert mode, back to Normal with an empty window
    rt->breaker()->setMode(cb::Mode::Disabled);
    rt->breaker()->setMode(cb::Mode::Normal);
  }
  std::string body;
  appendCluster(body, *rt, now());
  body += "\n";
  return json(std::move(body));
}

} // namespace seawall::proxy::admin
