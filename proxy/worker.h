// One worker thread: its own event_base (no other thread touches it), one SO_REUSEPORT listening
// socket per listener, its client connections and streams, one WorkerCluster (pools) per cluster,
// and the config snapshot new streams capture. Other threads reach it only through post().
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "proxy/codec/codec.h"
#include "proxy/common/dispatcher.h"
#include "proxy/common/event_ptr.h"
#include "proxy/common/random.h"
#include "proxy/upstream/cluster.h"
#include "proxy/worker_mailbox.h"

namespace seawall::filters::async_202 {
class CallbackSender;
}

namespace seawall::proxy {

namespace stats {
class WorkerStats;
class ListenerStats;
class RequestStats;
} // namespace stats
class AccessLog;
class DownstreamConnection;
class Runtime;
struct RouteRuntime;
class Stream;
class Worker;

// A listener as one worker runs it.
struct ListenerContext {
  ListenerContext(Worker& w, const config::Listener& c, ServerCodecLimits l,
                  stats::ListenerStats& s)
      : worker(w), config(c), limits(l), stats(s) {}
  Worker& worker;
  const config::Listener& config;
  ServerCodecLimits limits;
  stats::ListenerStats& stats;
  ListenerPtr listener;
};

class Worker {
public:
  // `runtime` (shared per-cluster and per-route state) outlives the worker.
  Worker(unsigned index, std::shared_ptr<const config::Config> snapshot, stats::WorkerStats& stats,
         AccessLog* access_log, Runtime& runtime);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  Worker(Worker&&) = delete;
  Worker& operator=(Worker&&) = delete;
  ~Worker();

  // Main thread, before start(): opens this worker's listening sockets. False with `error` set
  // when one cannot be bound.
  bool bindListeners(std::string& error);
  void start();
  // Any thread: runs `fn` on this worker's loop.
  void post(std::function<void()> fn) { mailbox_->send(std::move(fn)); }
  void join();

  // ---- worker thread only ----
  Dispatcher& dispatcher() { return *dispatcher_; }
  unsigned index() const { return index_; }
  stats::WorkerStats& stats() { return stats_; }
  AccessLog* accessLog() { return access_log_; }
  WorkerCluster* cluster(const std::string& name);
  RouteRuntime* routeRuntime(const config::Route* route);
  Random& random() { return random_; }
  void setEndpoints(const std::string& cluster, const std::vector<ResolvedEndpoint>& endpoints);
  ServerStreamCallbacks& createStream(ListenerContext& listener, ServerStream& downstream);
  void streamDone(Stream& stream);
  // 202 conversion: which stream runs job `id` on this worker (for DELETE /.seawall/jobs/<id>).
  void bindJob(const std::string& id, Stream& stream);
  void unbindJob(const std::string& id);
  // Aborts the upstream call of job `id` if it runs here (posted by the worker that got DELETE).
  void cancelJob(const std::string& id);
  Runtime& runtime() { return runtime_; }
  // Delivers 202-job callbacks from this worker's loop. Its counters are read by scrapes.
  filters::async_202::CallbackSender& callbackSender() { return *callback_sender_; }
  void connectionClosed(DownstreamConnection& connection);
  std::string newRequestId();
  // The request counters of (listener, route's cluster), resolved once per route and cached:
  // no lookup under the metrics mutex on the per-request path.
  stats::RequestStats& requestStats(ListenerContext& listener, const config::Route* route);
  // Stops accepting, asks every connection to finish (GOAWAY / connection: close); `on_drained`
  // runs on this thread once no connection is left.
  void startDrain(std::function<void()> on_drained);
  void stop();

private:
  static void onAccept(evconnlistener* listener, evutil_socket_t fd, sockaddr* addr, int len,
                       void* arg) noexcept;
  void checkDrained();

  unsigned index_;
  std::shared_ptr<const config::Config> snapshot_;
  stats::WorkerStats& stats_;
  AccessLog* access_log_;
  Runtime& runtime_;
  RealRandom random_;
  EventBasePtr base_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<WorkerMailbox> mailbox_;
  std::unique_ptr<filters::async_202::CallbackSender> callback_sender_; // before dispatcher_ dies
  std::vector<std::unique_ptr<ListenerContext>> listeners_;
  std::unordered_map<std::string, std::unique_ptr<WorkerCluster>> clusters_;
  std::unordered_map<DownstreamConnection*, std::unique_ptr<DownstreamConnection>> connections_;
  std::unordered_map<Stream*, std::unique_ptr<Stream>> streams_;
  std::unordered_map<std::string, Stream*> jobs_; // job id -> the stream running it
  // Keyed by route, or by listener (as a const void*) for requests that matched no route.
  std::unordered_map<const void*, stats::RequestStats*> request_stats_;
  std::function<void()> on_drained_;
  std::mt19937_64 rng_{std::random_device{}()};
  std::thread thread_;
  bool draining_ = false;
};

// Connection ids unique in the process, for logs.
uint64_t nextConnectionId();

} // namespace seawall::proxy
