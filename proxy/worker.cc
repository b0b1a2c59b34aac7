#include "proxy/worker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstring>
#include <system_error>

#include "filters/async_202/callback_sender.h"
#include "proxy/downstream_connection.h"
#include "proxy/runtime.h"
#include "proxy/stats/worker_stats.h"
#include "proxy/stream.h"

namespace seawall::proxy {

uint64_t nextConnectionId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

namespace {

std::string peerString(const sockaddr* addr) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (addr->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, buf, sizeof(buf));
  } else if (addr->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr, buf, sizeof(buf));
  }
  return buf;
}

} // namespace

Worker::Worker(unsigned index, std::shared_ptr<const config::Config> snapshot,
               stats::WorkerStats& stats, AccessLog* access_log, Runtime& runtime)
    : index_(index), snapshot_(std::move(snapshot)), stats_(stats), access_log_(access_log),
      runtime_(runtime) {
  event_config* cfg = event_config_new();
  event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
  base_.reset(event_base_new_with_config(cfg));
  event_config_free(cfg);
  dispatcher_ = std::make_unique<Dispatcher>(base_.get());
  mailbox_ = std::make_unique<WorkerMailbox>(base_.get());
  callback_sender_ = std::make_unique<filters::async_202::CallbackSender>(*dispatcher_, random_);
  for (const auto& cluster : snapshot_->clusters) {
    auto wc = std::make_unique<WorkerCluster>(*dispatcher_, cluster, stats_.cluster(cluster.name),
                                              runtime_.cluster(cluster.name));
    std::vector<ResolvedEndpoint> literal;
    for (const auto& ep : cluster.endpoints) {
      ResolvedEndpoint r;
      if (resolveLiteral(ep, r)) {
        literal.push_back(std::move(r));
      }
    }
    wc->setEndpoints(literal);
    clusters_.emplace(cluster.name, std::move(wc));
  }
}

RouteRuntime* Worker::routeRuntime(const config::Route* route) { return runtime_.route(route); }

void Worker::bindJob(const std::string& id, Stream& stream) {
  jobs_[id] = &stream;
  runtime_.registerJob(id, this);
}

void Worker::unbindJob(const std::string& id) {
  jobs_.erase(id);
  runtime_.unregisterJob(id);
}

void Worker::cancelJob(const std::string& id) {
  auto it = jobs_.find(id);
  if (it != jobs_.end()) {
    it->second->cancelJob();
  }
}

Worker::~Worker() {
  join();
  connections_.clear();
  streams_.clear();
  clusters_.clear();
  listeners_.clear();
  callback_sender_.reset();
  dispatcher_->flush();
  mailbox_.reset();
  dispatcher_.reset();
}

bool Worker::bindListeners(std::string& error) {
  for (const auto& lc : snapshot_->listeners) {
    std::string text = lc.address.toString();
    sockaddr_storage ss{};
    int len = sizeof(ss);
    if (evutil_parse_sockaddr_port(text.c_str(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
      error = "listener '" + lc.name + "': address " + text + " is not an IP address and port";
      return false;
    }
    ServerCodecLimits limits;
    limits.max_header_bytes = lc.limits.max_header_bytes;
    limits.max_concurrent_streams = lc.limits.max_concurrent_streams;
    auto ctx = std::make_unique<ListenerContext>(*this, lc, limits, stats_.listener(lc.name));
    ctx->listener.reset(evconnlistener_new_bind(base_.get(), &Worker::onAccept, ctx.get(),
                                                LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT |
                                                    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                                                1024, reinterpret_cast<sockaddr*>(&ss), len));
    if (!ctx->listener) {
      error = "listener '" + lc.name + "': cannot listen on " + text + ": " +
              std::error_code(errno, std::generic_category()).message();
      return false;
    }
    listeners_.push_back(std::move(ctx));
  }
  return true;
}

void Worker::start() {
  thread_ = std::thread([this] {
    event_base_loop(base_.get(), EVLOOP_NO_EXIT_ON_EMPTY);
    dispatcher_->flush();
  });
}

void Worker::join() {
  if (thread_.joinable()) {
    thread_.join();
  }
}

void Worker::stop() { event_base_loopexit(base_.get(), nullptr); }

void Worker::onAccept(evconnlistener* /*listener*/, evutil_socket_t fd, sockaddr* addr, int /*len*/,
                      void* arg) noexcept {
  auto* ctx = static_cast<ListenerContext*>(arg);
  Worker& self = ctx->worker;
  if (self.draining_) {
    evutil_closesocket(fd);
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  evutil_make_socket_nonblocking(fd);
  auto conn =
      std::make_unique<DownstreamConnection>(self, *ctx, fd, peerString(addr), nextConnectionId());
  DownstreamConnection* raw = conn.get();
  self.connections_.emplace(raw, std::move(conn));
}

WorkerCluster* Worker::cluster(const std::string& name) {
  auto it = clusters_.find(name);
  return it == clusters_.end() ? nullptr : it->second.get();
}

void Worker::setEndpoints(const std::string& cluster,
                          const std::vector<ResolvedEndpoint>& endpoints) {
  if (WorkerCluster* c = this->cluster(cluster)) {
    c->setEndpoints(endpoints);
  }
}

ServerStreamCallbacks& Worker::createStream(ListenerContext& listener, ServerStream& downstream) {
  auto stream = std::make_unique<Stream>(*this, listener, downstream, snapshot_);
  Stream* raw = stream.get();
  streams_.emplace(raw, std::move(stream));
  return *raw;
}

void Worker::streamDone(Stream& stream) {
  auto it = streams_.find(&stream);
  if (it != streams_.end()) {
    dispatcher_->deferredDelete(std::move(it->second));
    streams_.erase(it);
  }
  checkDrained();
}

void Worker::connectionClosed(DownstreamConnection& connection) {
  auto it = connections_.find(&connection);
  if (it != connections_.end()) {
    dispatcher_->deferredDelete(std::move(it->second));
    connections_.erase(it);
  }
  checkDrained();
}

std::string Worker::newRequestId() {
  uint64_t hi = rng_();
  uint64_t lo = rng_();
  // A version-4 UUID.
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0xffff),
                static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return buf;
}

stats::RequestStats& Worker::requestStats(ListenerContext& listener, const config::Route* route) {
  const void* key = route != nullptr ? static_cast<const void*>(route) : &listener;
  auto it = request_stats_.find(key);
  if (it != request_stats_.end()) {
    return *it->second;
  }
  stats::RequestStats& rs =
      stats_.requests(listener.config.name, route != nullptr ? route->cluster : "none");
  request_stats_.emplace(key, &rs);
  return rs;
}

void Worker::startDrain(std::function<void()> on_drained) {
  draining_ = true;
  on_drained_ = std::move(on_drained);
  for (auto& l : listeners_) {
    l->listener.reset(); // stop accepting; the socket closes
  }
  std::vector<DownstreamConnection*> conns;
  conns.reserve(connections_.size());
  for (auto& [raw, conn] : connections_) {
    conns.push_back(raw);
  }
  for (auto* c : conns) {
    if (connections_.count(c) != 0 && !c->closed()) {
      c->drain();
    }
  }
  checkDrained();
}

void Worker::checkDrained() {
  if (draining_ && on_drained_ && connections_.empty() && streams_.empty()) {
    auto fn = std::move(on_drained_);
    on_drained_ = nullptr;
    fn();
  }
}

} // namespace seawall::proxy
