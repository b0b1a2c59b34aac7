// Per worker, per endpoint: the upstream connections to one address and the requests waiting for
// a stream on one of them. HTTP/1.1 keeps idle keep-alive connections for reuse; HTTP/2 multiplexes
// streams and opens another connection only when every open one is at the peer's
// MAX_CONCURRENT_STREAMS.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <list>
#include <memory>
#include <string>

#include "config/config.h"
#include "proxy/codec/codec.h"
#include "proxy/common/dispatcher.h"
#include "proxy/upstream/cluster_runtime.h"

namespace seawall::proxy {

namespace stats {
class ClusterStats;
}
class ClusterRuntime;
class UpstreamConnection;

// A request waiting for an upstream stream.
class UpstreamRequester : public ClientStreamCallbacks {
public:
  // The stream is ready: send the request on it.
  virtual void onPoolReady(ClientStream& stream, const std::string& endpoint) = 0;
  // No stream could be had (connect failure, connect timeout).
  virtual void onPoolFailure(UpstreamFailure why) = 0;
};

class ConnectionPool {
public:
  // `runtime` (shared limits: max_connections, max_pending) may be null (no limits).
  ConnectionPool(Dispatcher& dispatcher, const config::Cluster& cluster, stats::ClusterStats& stats,
                 const sockaddr_storage& address, socklen_t len, std::string endpoint_name,
                 ClusterRuntime* runtime = nullptr);
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;
  ConnectionPool(ConnectionPool&&) = delete;
  ConnectionPool& operator=(ConnectionPool&&) = delete;
  ~ConnectionPool();

  // Asks for a stream; the answer (onPoolReady / onPoolFailure) always comes later, never from
  // inside this call. A request that must wait for a connection or stream takes a `max_pending`
  // slot (none left: onPoolFailure(Overflow)); a connection takes a `max_connections` slot (none
  // left: the request waits for one of this pool's connections, or fails with ConnectionLimit
  // when the pool has none).
  void newStream(UpstreamRequester& requester);
  // Withdraws a request still waiting (no callback follows).
  void cancel(UpstreamRequester& requester);
  size_t activeRequests() const { return active_requests_; }
  const std::string& endpoint() const { return endpoint_name_; }
  size_t connectionCount() const { return connections_.size(); }
  // Closes idle connections and stops taking requests (endpoint removed).
  void drain();

  // From UpstreamConnection.
  void onConnected(UpstreamConnection& connection);
  void onConnectionClosed(UpstreamConnection& connection, UpstreamFailure why, bool was_connected);
  void onCapacityChanged(UpstreamConnection& connection);
  void onConnectTimeout();
  void onStreamDone() {
    if (active_requests_ > 0) {
      --active_requests_;
    }
  }

private:
  struct Waiting {
    UpstreamRequester* requester;
    ResourceSlot pending; // empty when it did not have to wait (a stream was ready)
  };

  void schedule();
  void process();
  void openConnections();
  void failWaiting(size_t count, UpstreamFailure why);
  void closeIdle();
  bool streamReady() const;

  Dispatcher& dispatcher_;
  const config::Cluster& cluster_;
  stats::ClusterStats& stats_;
  sockaddr_storage address_;
  socklen_t address_len_;
  std::string endpoint_name_;
  std::list<std::unique_ptr<UpstreamConnection>> connections_;
  std::list<Waiting> waiting_;
  std::vector<UpstreamRequester*> overflowed_; // in waiting_, to fail with Overflow
  ClusterRuntime* runtime_;
  std::unique_ptr<Timer> process_timer_; // runs process() on the next loop iteration
  std::unique_ptr<Timer> idle_timer_;
  size_t active_requests_ = 0;
  size_t connecting_ = 0;
  uint64_t next_id_ = 1;
  bool draining_ = false;
};

} // namespace seawall::proxy
