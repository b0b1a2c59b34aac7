#include "proxy/admin/admin_handler.h"

#include <array>

#include "proxy/stats/metrics.h"

namespace seawall::proxy::admin {
namespace {

constexpr std::string_view kMetricsType = "text/plain; version=0.0.4; charset=utf-8";
constexpr size_t kMaxEchoedPath = 200;

struct Endpoint {
  std::string_view path;
  std::string_view description;
};

constexpr std::array<Endpoint, 7> kEndpoints = {{
    {"/", "this index"},
    {"/healthz", "liveness: 200 while the process runs"},
    {"/ready", "readiness: 200, or 503 while draining"},
    {"/metrics", "Prometheus metrics (text format 0.0.4)"},
    {"/config", "the running configuration (YAML)"},
    {"/clusters", "clusters, endpoints and their health (JSON)"},
    {"/breakers", "circuit breaker states (JSON)"},
}};

bool isKnownPath(std::string_view path) {
  for (const auto& e : kEndpoints) {
    if (e.path == path) {
      return true;
    }
  }
  return false;
}

// Origin-form target without its query string (and fragment, should a client send one).
std::string_view pathOf(std::string_view target) {
  const size_t end = target.find_first_of("?#");
  return end == std::string_view::npos ? target : target.substr(0, end);
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

std::string indexBody() {
  std::string body = "seawall admin\n\n";
  for (const auto& e : kEndpoints) {
    body.append(e.path).append(12 - e.path.size(), ' ').append(e.description).append("\n");
  }
  return body;
}

} // namespace

AdminHandler::AdminHandler(AdminSources s) : sources_(std::move(s)) {}

AdminResponse AdminHandler::handle(std::string_view method, std::string_view target) const {
  const std::string_view path = pathOf(target);
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
    return fromSource(sources_.breakers_json, "breakers", "application/json");
  }
  return text(200, indexBody()); // "/"
}

} // namespace seawall::proxy::admin
