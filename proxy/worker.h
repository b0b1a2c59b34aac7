// One worker thread: its own event_base (no other thread touches it), one SO_REUSEPORT listening
// socket per listener, its client connections and streams, and the config generation new streams
// capture (config, Runtime, one WorkerCluster with its pools per cluster). Other threads reach it
// only through post().
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

// A listener as one worker runs it. `config` and `limits` follow the current generation (a
// reload may change limits and routes, never the address); a stream reads its routes from its own
// generation (index `index` in its config's listeners).
struct ListenerContext {
  ListenerContext(Worker& w, size_t i, const config::Listener& c, ServerCodecLimits l,
                  stats::ListenerStats& s)
      : worker(w), index(i), config(&c), limits(l), stats(s) {}
  Worker& worker;
  size_t index;
  const config::Listener* config;
  ServerCodecLimits limits;
  stats::ListenerStats& stats;
  ListenerPtr listener;
};

// What the streams of one config generation use on a worker: the config, its Runtime, the
// worker's clusters (connection pools) and its request-counter cache. Streams hold it through
// shared_ptr: a generation, and the pools only it has, live until its last stream ends. A cluster
// whose definition a reload did not change is shared with the next generation (pools kept).
struct WorkerGeneration {
  std::shared_ptr<Runtime> runtime;
  std::unordered_map<std::string, std::shared_ptr<WorkerCluster>> clusters;
  // Keyed by route, or by listener context (as a const void*) for requests that matched no route.
  std::unordered_map<const void*, stats::RequestStats*> request_stats;
  WorkerCluster* cluster(const std::string& name) const;
};

class Worker {
public:
  // `runtime`: the first config generation (shared per-cluster and per-route state).
  Worker(unsigned index, std::shared_ptr<Runtime> runtime, stats::WorkerStats& stats,
         AccessLog* access_log);
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
  // The current generation's cluster `name` (null when unknown).
  WorkerCluster* cluster(const std::string& name);
  const std::shared_ptr<WorkerGeneration>& generation() const { return current_; }
  // Hot reload: new streams use `runtime`'s config from now on; streams in flight finish on
  // theirs. Listeners (names, addresses) are the same in both (the server checks).
  void applyGeneration(std::shared_ptr<Runtime> runtime);
  Random& random() { return random_; }
  void setEndpoints(const std::string& cluster, const std::vector<ResolvedEndpoint>& endpoints);
  // `original_dst`: the connection's original destination (transparent listeners), or null.
  ServerStreamCallbacks& createStream(ListenerContext& listener, ServerStream& downstream,
                                      const ResolvedEndpoint* original_dst);
  void streamDone(Stream& stream);
  // 202 conversion: which stream runs job `id` on this worker (for DELETE /.seawall/jobs/<id>).
  void bindJob(const std::string& id, Stream& stream);
  void unbindJob(const std::string& id);
  // Aborts the upstream call of job `id` if it runs here (posted by the worker that got DELETE).
  void cancelJob(const std::string& id);
  Runtime& runtime() { return *current_->runtime; }
  // Delivers 202-job callbacks from this worker's loop. Its counters are read by scrapes.
  filters::async_202::CallbackSender& callbackSender() { return *callback_sender_; }
  void connectionClosed(DownstreamConnection& connection);
  std::string newRequestId();
  // The request counters of (listener, route's cluster), resolved once per route of `generation`
  // and cached there: no lookup under the metrics mutex on the per-request path.
  stats::RequestStats& requestStats(WorkerGeneration& generation, ListenerContext& listener,
                                    const config::Route* route);
  // Stops accepting, asks every connection to finish (GOAWAY / connection: close); `on_drained`
  // runs on this thread once no connection is left.
  void startDrain(std::function<void()> on_drained);
  void stop();

private:
  static void onAccept(evconnlistener* listener, evutil_socket_t fd, sockaddr* addr, int len,
                       void* arg) noexcept;
  void checkDrained();

  std::shared_ptr<WorkerCluster> makeCluster(const config::Cluster& cluster, Runtime& runtime);

  unsigned index_;
  stats::WorkerStats& stats_;
  AccessLog* access_log_;
  RealRandom random_;
  EventBasePtr base_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<WorkerMailbox> mailbox_;
  std::unique_ptr<filters::async_202::CallbackSender> callback_sender_; // before dispatcher_ dies
  std::vector<std::unique_ptr<ListenerContext>> listeners_;
  std::shared_ptr<WorkerGeneration> current_; // after dispatcher_: its pools use it
  std::unordered_map<DownstreamConnection*, std::unique_ptr<DownstreamConnection>> connections_;
  std::unordered_map<Stream*, std::unique_ptr<Stream>> streams_;
  std::unordered_map<std::string, Stream*> jobs_; // job id -> the stream running it
  std::function<void()> on_drained_;
  std::mt19937_64 rng_{std::random_device{}()};
  std::thread thread_;
  bool draining_ = false;
};

// Connection ids unique in the process, for logs.
uint64_t nextConnectionId();

} // namespace seawall::proxy
