#include "tests/upstream/server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstdio>

#include <event2/bufferevent.h>
#include <event2/util.h>

namespace seawall::test_upstream {
namespace {

bool isControlPath(const std::string& path) { return path.starts_with("/__"); }

ResponsePlan jsonPlan(int status, std::string body) {
  ResponsePlan plan;
  plan.status = status;
  plan.headers.emplace_back("content-type", "application/json");
  plan.text_body = std::move(body);
  return plan;
}

std::string echoJson(const Request& r) {
  std::string out = "{\"method\":";
  appendJsonString(out, r.method);
  out += ",\"path\":";
  appendJsonString(out, r.target);
  out += ",\"version\":";
  appendJsonString(out, r.version);
  out += ",\"authority\":";
  appendJsonString(out, r.authority);
  out += ",\"headers\":";
  appendJsonHeaders(out, r.headers);
  out += ",\"body_bytes\":" + std::to_string(r.body_bytes) + "}";
  return out;
}

std::string sinkJson(const Request& r) {
  char crc[16];
  std::snprintf(crc, sizeof(crc), "%08x", r.body_crc);
  return "{\"bytes\":" + std::to_string(r.body_bytes) + ",\"crc32\":\"" + crc + "\"}";
}

// "127.0.0.1:0" or "[::1]:8080" (libevent's parser refuses port 0).
bool parseListenAddress(const std::string& text, sockaddr_storage& ss, int& len) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) {
    return false;
  }
  std::string host = text.substr(0, colon);
  const auto port = parseUnsigned(std::string_view(text).substr(colon + 1));
  if (!port || *port > 65535) {
    return false;
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  if (evutil_inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(*port));
    len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (evutil_inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(*port));
    len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

bool statusHasNoBody(int status) { return status < 200 || status == 204 || status == 304; }

} // namespace

UpstreamServer::UpstreamServer(event_base* base, Options options)
    : base_(base), options_(std::move(options)),
      reaper_(event_new(base, -1, 0, &UpstreamServer::reapCb, this)), rng_(options_.seed) {}

UpstreamServer::~UpstreamServer() {
  listener_.reset();
  dying_.clear();
  connections_.clear();
}

bool UpstreamServer::listen(std::string& error) {
  sockaddr_storage ss{};
  int len = 0;
  if (!parseListenAddress(options_.listen, ss, len)) {
    error = "bad --listen address: " + options_.listen;
    return false;
  }
  listener_.reset(evconnlistener_new_bind(base_, &UpstreamServer::acceptCb, this,
                                          LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024,
                                          reinterpret_cast<sockaddr*>(&ss), len));
  if (!listener_) {
    error = "cannot listen on " + options_.listen;
    return false;
  }
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof(bound);
  getsockname(evconnlistener_get_fd(listener_.get()), reinterpret_cast<sockaddr*>(&bound),
              &bound_len);
  if (bound.ss_family == AF_INET6) {
    port_ = ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  } else {
    port_ = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }
  return true;
}

void UpstreamServer::acceptCb(evconnlistener* /*listener*/, evutil_socket_t fd, sockaddr* /*addr*/,
                              int /*len*/, void* arg) noexcept {
  static_cast<UpstreamServer*>(arg)->onAccept(fd);
}

void UpstreamServer::onAccept(evutil_socket_t fd) {
  evutil_make_socket_nonblocking(fd);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  bufferevent* bev = bufferevent_socket_new(base_, fd, BEV_OPT_CLOSE_ON_FREE);
  if (bev == nullptr) {
    evutil_closesocket(fd);
    return;
  }
  const uint64_t id = next_connection_id_++;
  connections_.emplace(id, std::make_unique<Connection>(*this, id, bev));
  if (options_.verbose) {
    std::fprintf(stderr, "[C%llu] accepted\n", static_cast<unsigned long long>(id));
  }
}

void UpstreamServer::connectionClosed(Connection& connection) {
  auto it = connections_.find(connection.id());
  if (it == connections_.end()) {
    return;
  }
  if (connection.counted && counters_.connections_active > 0) {
    --counters_.connections_active;
  }
  if (options_.verbose) {
    std::fprintf(stderr, "[C%llu] closed\n", static_cast<unsigned long long>(connection.id()));
  }
  dying_.push_back(std::move(it->second));
  connections_.erase(it);
  event_active(reaper_.get(), 0, 0);
}

void UpstreamServer::reapCb(evutil_socket_t /*fd*/, short /*what*/, void* arg) noexcept {
  static_cast<UpstreamServer*>(arg)->dying_.clear();
}

void UpstreamServer::countConnection(uint64_t connection_id) {
  auto it = connections_.find(connection_id);
  if (it == connections_.end() || it->second->counted) {
    return;
  }
  it->second->counted = true;
  ++counters_.connections_total;
  ++counters_.connections_active;
}

void UpstreamServer::record(const Request& r) {
  ++counters_.requests_total;
  ++(r.version == "HTTP/2" ? counters_.h2_requests : counters_.h1_requests);
  std::string out = "{\"method\":";
  appendJsonString(out, r.method);
  out += ",\"path\":";
  appendJsonString(out, r.target);
  out += ",\"version\":";
  appendJsonString(out, r.version);
  out += ",\"headers\":";
  appendJsonHeaders(out, r.headers);
  out += ",\"body_bytes\":" + std::to_string(r.body_bytes);
  out += ",\"arrival_ms\":" + std::to_string(r.arrival_ms);
  out += ",\"connection\":" + std::to_string(r.connection_id);
  out += ",\"stream\":" + std::to_string(r.stream_id) + "}";
  log_.push_back(std::move(out));
  while (log_.size() > kMaxLoggedRequests) {
    log_.pop_front();
  }
}

std::string UpstreamServer::statsJson() const {
  return "{\"connections_total\":" + std::to_string(counters_.connections_total) +
         ",\"connections_active\":" + std::to_string(counters_.connections_active) +
         ",\"requests_total\":" + std::to_string(counters_.requests_total) +
         ",\"h1_requests\":" + std::to_string(counters_.h1_requests) +
         ",\"h2_requests\":" + std::to_string(counters_.h2_requests) + "}";
}

std::string UpstreamServer::requestsJson() const {
  std::string out = "[";
  bool first = true;
  for (const auto& entry : log_) {
    if (!first) {
      out.push_back(',');
    }
    first = false;
    out += entry;
  }
  out += "]";
  return out;
}

ResponsePlan UpstreamServer::control(const Request& r) {
  ResponsePlan plan;
  if (r.path == "/__stats" && (r.method == "GET" || r.method == "HEAD")) {
    plan = jsonPlan(200, statsJson());
  } else if (r.path == "/__requests" && (r.method == "GET" || r.method == "HEAD")) {
    plan = jsonPlan(200, requestsJson());
  } else if (r.path == "/__reset" && r.method == "POST") {
    const uint64_t active = counters_.connections_active;
    counters_ = Counters{};
    counters_.connections_active = active;
    log_.clear();
    plan = jsonPlan(200, "{\"reset\":true}");
  } else if (r.path == "/__stats" || r.path == "/__requests" || r.path == "/__reset") {
    plan = jsonPlan(405, "{\"error\":\"method not allowed\"}");
  } else {
    plan = jsonPlan(404, "{\"error\":\"unknown control endpoint\"}");
  }
  plan.headers.emplace_back("x-upstream-name", options_.name);
  plan.no_body = r.method == "HEAD";
  return plan;
}

ResponsePlan UpstreamServer::respond(Request& r) {
  if (isControlPath(r.path)) {
    return control(r);
  }
  countConnection(r.connection_id);
  record(r);
  Knobs k = options_.defaults;
  applyQuery(k, r.query);
  ResponsePlan plan;
  plan.status = k.status;
  if (k.fail_ratio > 0.0 && std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < k.fail_ratio) {
    plan.status = k.fail_status;
  }
  plan.headers.emplace_back("x-upstream-name", options_.name);
  // /echo and /sink match as the last path segment too (/svc/echo), so that they work behind
  // any route prefix.
  auto last_segment = [&](std::string_view name) {
    std::string_view p = r.path;
    return p.size() >= name.size() && p.substr(p.size() - name.size()) == name;
  };
  if (last_segment("/echo")) {
    plan.headers.emplace_back("content-type", "application/json");
    plan.text_body = echoJson(r);
  } else if (last_segment("/sink")) {
    plan.headers.emplace_back("content-type", "application/json");
    plan.text_body = sinkJson(r);
  } else if (k.body_size) {
    plan.headers.emplace_back("content-type", "application/octet-stream");
    plan.pattern_size = k.body_size;
  } else {
    plan.headers.emplace_back("content-type", "text/plain");
    plan.text_body = "ok " + options_.name + " " + r.path + "\n";
  }
  if (k.retry_after) {
    plan.headers.emplace_back("retry-after", std::to_string(*k.retry_after));
  }
  for (const auto& h : k.headers) {
    plan.headers.push_back(h);
  }
  plan.no_body = r.method == "HEAD" || statusHasNoBody(plan.status);
  plan.chunks = k.chunks;
  plan.delay = k.delay;
  plan.chunk_delay = k.chunk_delay;
  plan.reset = k.reset;
  plan.blackhole = k.blackhole;
  plan.trailers = k.trailers;
  plan.close = k.close;
  plan.websocket = r.websocket_upgrade;
  return plan;
}

void UpstreamServer::logVerbose(const Request& r, const ResponsePlan& plan) const {
  if (!options_.verbose) {
    return;
  }
  std::fprintf(stderr, "[C%llu][S%d] %s %s %s -> %d body=%llu\n",
               static_cast<unsigned long long>(r.connection_id), r.stream_id, r.method.c_str(),
               r.target.c_str(), r.version.c_str(), plan.status,
               static_cast<unsigned long long>(plan.no_body ? 0 : plan.bodySize()));
}

} // namespace seawall::test_upstream
