#include "proxy/upstream/connection_pool.h"

#include <algorithm>
#include <vector>

#include "proxy/stats/worker_stats.h"
#include "proxy/upstream/upstream_connection.h"

namespace seawall::proxy {

ConnectionPool::ConnectionPool(Dispatcher& dispatcher, const config::Cluster& cluster,
                               stats::ClusterStats& stats, const sockaddr_storage& address,
                               socklen_t len, std::string endpoint_name)
    : dispatcher_(dispatcher), cluster_(cluster), stats_(stats), address_(address),
      address_len_(len), endpoint_name_(std::move(endpoint_name)),
      process_timer_(dispatcher.createTimer([this] { process(); })),
      idle_timer_(dispatcher.createTimer([this] { closeIdle(); })) {}

ConnectionPool::~ConnectionPool() {
  draining_ = true;
  while (!connections_.empty()) {
    connections_.front()->closeNow(); // removes it from connections_
  }
  dispatcher_.flush();
}

void ConnectionPool::newStream(UpstreamRequester& requester) {
  ++active_requests_;
  waiting_.push_back(&requester);
  schedule();
}

void ConnectionPool::cancel(UpstreamRequester& requester) {
  auto it = std::find(waiting_.begin(), waiting_.end(), &requester);
  if (it != waiting_.end()) {
    waiting_.erase(it);
    onStreamDone();
  }
}

void ConnectionPool::schedule() {
  if (!process_timer_->enabled()) {
    process_timer_->enable(std::chrono::microseconds(0));
  }
}

// Hands waiting requests to connections that can take a stream, and opens connections for the
// rest. Runs from its own timer event, so requesters are never called back re-entrantly.
void ConnectionPool::process() {
  for (auto& conn : connections_) {
    if (waiting_.empty()) {
      break;
    }
    if (conn->state() != UpstreamConnection::State::Connected) {
      continue;
    }
    while (!waiting_.empty() && conn->codec().canTakeStream()) {
      UpstreamRequester* requester = waiting_.front();
      waiting_.pop_front();
      ClientStream& stream = conn->codec().newStream(*requester);
      requester->onPoolReady(stream, endpoint_name_);
    }
  }
  if (waiting_.empty() || draining_) {
    closeIdle();
    return;
  }
  // HTTP/1.1: one connection per waiting request; HTTP/2: one connection at a time (it will carry
  // every waiting stream once its SETTINGS arrive).
  size_t wanted = cluster_.protocol == config::ClusterProtocol::H2 ? 1 : waiting_.size();
  while (connecting_ < wanted) {
    auto conn = std::make_unique<UpstreamConnection>(*this, dispatcher_, address_, address_len_,
                                                     cluster_.protocol, next_id_++);
    UpstreamConnection& ref = *conn;
    connections_.push_back(std::move(conn));
    ++connecting_;
    stats_.upstreamConnectionOpened();
    ref.connect(cluster_.connect_timeout);
  }
}

void ConnectionPool::onConnected(UpstreamConnection& /*connection*/) {
  --connecting_;
  schedule();
}

void ConnectionPool::onCapacityChanged(UpstreamConnection& /*connection*/) {
  schedule();
  if (!idle_timer_->enabled()) {
    idle_timer_->enable(cluster_.idle_connection_timeout);
  }
}

void ConnectionPool::onConnectionClosed(UpstreamConnection& connection, UpstreamFailure why,
                                        bool was_connected) {
  stats_.upstreamConnectionClosed();
  auto it = std::find_if(connections_.begin(), connections_.end(),
                         [&](const auto& c) { return c.get() == &connection; });
  if (it == connections_.end()) {
    return;
  }
  dispatcher_.deferredDelete(std::move(*it));
  connections_.erase(it);
  if (was_connected) {
    schedule();
    return;
  }
  --connecting_;
  stats_.upstreamFailure(toString(why));
  // A connect failure fails the requests that were waiting for it: HTTP/1.1 the oldest one (each
  // had its own connection); HTTP/2 all of them (they all waited on this one).
  size_t to_fail = cluster_.protocol == config::ClusterProtocol::H2
                       ? waiting_.size()
                       : std::min<size_t>(1, waiting_.size());
  if (connecting_ > 0 && cluster_.protocol == config::ClusterProtocol::H2) {
    to_fail = 0;
  }
  for (size_t i = 0; i < to_fail; ++i) {
    UpstreamRequester* requester = waiting_.front();
    waiting_.pop_front();
    onStreamDone();
    requester->onPoolFailure(why);
  }
  schedule();
}

void ConnectionPool::closeIdle() {
  auto now = std::chrono::steady_clock::now();
  size_t idle = 0;
  bool any_idle = false;
  std::vector<UpstreamConnection*> doomed;
  // Newest connections are at the back; keep the most recently used ones.
  for (auto it = connections_.rbegin(); it != connections_.rend(); ++it) {
    auto& conn = *it;
    if (conn->state() != UpstreamConnection::State::Connected ||
        conn->codec().activeStreams() > 0) {
      continue;
    }
    ++idle;
    bool expired = now - conn->idleSince() >= cluster_.idle_connection_timeout;
    if (expired || idle > cluster_.max_idle_connections || draining_) {
      doomed.push_back(conn.get());
    } else {
      any_idle = true;
    }
  }
  for (auto* conn : doomed) {
    conn->closeNow();
  }
  if (any_idle && !idle_timer_->enabled()) {
    idle_timer_->enable(cluster_.idle_connection_timeout);
  }
}

void ConnectionPool::drain() {
  draining_ = true;
  closeIdle();
}

} // namespace seawall::proxy
