// The admin endpoints as a pure function: (method, target) -> response. The admin server (main
// thread) parses the request, calls handle(), and writes the response. It adds content-length =
// body.size() itself, except for HEAD, whose body is always empty (omit content-length there).
// The endpoints are documented in docs/admin.md.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace seawall::proxy {
class ClusterRuntime;
}

namespace seawall::proxy::stats {
class Metrics;
}

namespace seawall::proxy::admin {

// GET /breakers/stream: server-sent events, streamed by AdminServer (proxy/admin/breaker_stream.h).
inline constexpr std::string_view kBreakerStreamPath = "/breakers/stream";

struct AdminResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers; // extra headers, lowercase names
};

// Where the endpoints get their data. Every source is optional: a missing one answers 503.
struct AdminSources {
  std::function<bool()> draining;             // /ready answers 503 while true (unset: ready)
  std::function<std::string()> config_yaml;   // /config body
  std::function<std::string()> clusters_json; // /clusters body
  // GET /breakers and POST /breakers/<cluster>: the clusters' shared runtimes, called on the
  // main thread once per request (the pointers must stay valid until handle() returns).
  std::function<std::vector<ClusterRuntime*>()> cluster_runtimes;
  // Clock for breaker states and window rates (unset: std::chrono::steady_clock::now()).
  std::function<std::chrono::steady_clock::time_point()> now;
  stats::Metrics* metrics = nullptr; // /metrics; /breakers/stream reads request counts from it
};

class AdminHandler {
public:
  explicit AdminHandler(AdminSources s);
  // GET and HEAD only (405 with allow: GET, HEAD otherwise); the query string is ignored; an
  // unknown path answers 404. HEAD answers the same status and headers as GET, with no body.
  // The one exception is POST /breakers/<cluster>?state=<normal|forced_open|disabled|
  // metrics_only|reset>, which sets the breaker's mode: 200 with the cluster's /breakers object,
  // 404 for an unknown cluster or one without a breaker, 400 for a missing or unknown state, 405
  // (allow: POST) for any other method on that path. GET /dashboard answers the live page
  // (text/html). GET and HEAD /breakers/stream answer 503 here: AdminServer streams that path
  // itself (proxy/admin/breaker_stream.h) and never passes it to handle().
  AdminResponse handle(std::string_view method, std::string_view target) const;
  const AdminSources& sources() const { return sources_; }

private:
  AdminResponse get(std::string_view path) const;
  AdminResponse breakers() const;
  AdminResponse setBreaker(std::string_view method, std::string_view cluster,
                           std::string_view query) const;
  std::chrono::steady_clock::time_point now() const;

  AdminSources sources_;
};

} // namespace seawall::proxy::admin
