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

WorkerCluster* WorkerGeneration::cluster(const std::string& name) const {
  auto it = clusters.find(name);
  return it == clusters.end() ? nullptr : it->second.get();
}

Worker::Worker(unsigned index, std::shared_ptr<Runtime> runtime, stats::WorkerStats& stats,
               AccessLog* access_log)
    : index_(index), stats_(stats), access_log_(access_log) {
  event_config* cfg = event_config_new();
  event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
  base_.reset(event_base_new_with_config(cfg));
  event_config_free(cfg);
  dispatcher_ = std::make_unique<Dispatcher>(base_.get());
  mailbox_ = std::make_unique<WorkerMailbox>(base_.get());
  callback_sender_ = std::make_unique<filters::async_202::CallbackSender>(*dispatcher_, random_);
  applyGeneration(std::move(runtime));
}

std::shared_ptr<WorkerCluster> Worker::makeCluster(const config::Cluster& cluster,
                                                   Runtime& runtime) {
  auto wc = std::make_shared<WorkerCluster>(*dispatcher_, cluster, stats_.cluster(cluster.name),
                                            runtime.cluster(cluster.name));
  std::vector<ResolvedEndpoint> literal;
  for (const auto& ep : cluster.endpoints) {
    ResolvedEndpoint r;
    if (resolveLiteral(ep, r)) {
      literal.push_back(std::move(r));
    }
  }
  wc->setEndpoints(literal); // DNS names: the server publishes them once resolved
  return wc;
}

void Worker::applyGeneration(std::shared_ptr<Runtime> runtime) {
  auto next = std::make_shared<WorkerGeneration>();
  const config::Config& config = runtime->config();
  for (const config::Cluster& cluster : config.clusters) {
    std::shared_ptr<WorkerCluster> kept;
    if (current_) {
      auto it = current_->clusters.find(cluster.name);
      if (it != current_->clusters.end() && it->second->config() == cluster &&
          it->second->runtime() == runtime->cluster(cluster.name)) {
        kept = it->second; // unchanged: its pools and connections carry on
      }
    }
    next->clusters.emplace(cluster.name, kept ? std::move(kept) : makeCluster(cluster, *runtime));
  }
  next->runtime = std::move(runtime);
  for (auto& l : listeners_) {
    const config::Listener& lc = config.listeners.at(l->index);
    l->config = &lc;
    l->limits.max_header_bytes = lc.limits.max_header_bytes;
    l->limits.max_concurrent_streams = lc.limits.max_concurrent_streams;
  }
  current_ = std::move(next); // the previous generation lives on in its streams
}

void Worker::bindJob(const std::string& id, Stream& stream) {
  jobs_[id] = &stream;
  runtime().registerJob(id, this);
}

void Worker::unbindJob(const std::string& id) {
  jobs_.erase(id);
  runtime().unregisterJob(id);
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
  current_.reset();
  listeners_.clear();
  callback_sender_.reset();
  dispatcher_->flush();
  mailbox_.reset();
  dispatcher_.reset();
}

bool Worker::bindListeners(std::string& error) {
  const std::vector<config::Listener>& all = current_->runtime->config().listeners;
  for (size_t i = 0; i < all.size(); ++i) {
    const config::Listener& lc = all[i];
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
    auto ctx = std::make_unique<ListenerContext>(*this, i, lc, limits, stats_.listener(lc.name));
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
    // The job store is the process's: every generation has the same one.
    filters::async_202::JobStore& jobs = runtime().jobStore();
    jobs.attachThread(base_.get());
    event_base_loop(base_.get(), EVLOOP_NO_EXIT_ON_EMPTY);
    dispatcher_->flush();
    jobs.detachThread();
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

WorkerCluster* Worker::cluster(const std::string& name) { return current_->cluster(name); }

void Worker::setEndpoints(const std::string& cluster,
                          const std::vector<ResolvedEndpoint>& endpoints) {
  if (WorkerCluster* c = this->cluster(cluster)) {
    c->setEndpoints(endpoints);
  }
}

ServerStreamCallbacks& Worker::createStream(ListenerContext& listener, ServerStream& downstream,
                                            const ResolvedEndpoint* original_dst) {
  auto stream = std::make_unique<Stream>(*this, listener, downstream, current_);
  if (original_dst != nullptr) {
    stream->setOriginalDestination(*original_dst);
  }
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
  // 8-4-4-4-12 lowercase hex digits, written by hand (snprintf was 5% of a request's cost).
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(36, '-');
  size_t pos = 0;
  for (int shift = 60; shift >= 0; shift -= 4) {
    if (pos == 8 || pos == 13) {
      ++pos;
    }
    id[pos++] = kHex[(hi >> shift) & 0xf];
  }
  for (int shift = 60; shift >= 0; shift -= 4) {
    if (pos == 18 || pos == 23) {
      ++pos;
    }
    id[pos++] = kHex[(lo >> shift) & 0xf];
  }
  return id;
}

stats::RequestStats& Worker::requestStats(WorkerGeneration& generation, ListenerContext& listener,
                                          const config::Route* route) {
  const void* key = route != nullptr ? static_cast<const void*>(route) : &listener;
  auto it = generation.request_stats.find(key);
  if (it != generation.request_stats.end()) {
    return *it->second;
  }
  stats::RequestStats& rs =
      stats_.requests(listener.config->name, route != nullptr ? route->cluster : "none");
  generation.request_stats.emplace(key, &rs);
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
