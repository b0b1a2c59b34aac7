#include "proxy/upstream/connection_pool.h"

#include <algorithm>
#include <vector>

#include "proxy/stats/worker_stats.h"
#include "proxy/upstream/upstream_connection.h"

namespace seawall::proxy {

ConnectionPool::ConnectionPool(Dispatcher& dispatcher, const config::Cluster& cluster,
                               stats::ClusterStats& stats, const sockaddr_storage& address,
                               socklen_t len, std::string endpoint_name, ClusterRuntime* runtime)
    : dispatcher_(dispatcher), cluster_(cluster), stats_(stats), address_(address),
      address_len_(len), endpoint_name_(std::move(endpoint_name)), runtime_(runtime),
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
  ResourceSlot pending;
  if (runtime_ != nullptr && (waiting_.size() > 0 || !streamReady())) {
    pending = ResourceSlot::tryAcquire(runtime_->pending());
    if (!pending) {
      stats_.overflow(stats::OverflowLimit::MaxPending);
      // Answered from the process timer like every other answer: never from inside this call.
      waiting_.push_back({&requester, ResourceSlot()});
      overflowed_.push_back(&requester);
      schedule();
      return;
    }
  }
  waiting_.push_back({&requester, std::move(pending)});
  schedule();
}

bool ConnectionPool::streamReady() const {
  for (const auto& conn : connections_) {
    if (conn->state() == UpstreamConnection::State::Connected && conn->codec().canTakeStream()) {
      return true;
    }
  }
  return false;
}

void ConnectionPool::cancel(UpstreamRequester& requester) {
  auto it = std::find_if(waiting_.begin(), waiting_.end(),
                         [&](const Waiting& w) { return w.requester == &requester; });
  if (it != waiting_.end()) {
    waiting_.erase(it);
    onStreamDone();
  }
  std::erase(overflowed_, &requester);
}

void ConnectionPool::schedule() {
  if (!process_timer_->enabled()) {
    process_timer_->enable(std::chrono::microseconds(0));
  }
}

// Hands waiting requests to connections that can take a stream, and opens connections for the
// rest. Runs from its own timer event, so requesters are never called back re-entrantly.
void ConnectionPool::process() {
  // Requests refused a max_pending slot in newStream().
  while (!overflowed_.empty()) {
    UpstreamRequester* requester = overflowed_.front();
    overflowed_.erase(overflowed_.begin());
    auto it = std::find_if(waiting_.begin(), waiting_.end(),
                           [&](const Waiting& w) { return w.requester == requester; });
    if (it != waiting_.end()) {
      waiting_.erase(it);
      onStreamDone();
      requester->onPoolFailure(UpstreamFailure::Overflow);
    }
  }
  for (auto& conn : connections_) {
    if (waiting_.empty()) {
      break;
    }
    if (conn->state() != UpstreamConnection::State::Connected) {
      continue;
    }
    while (!waiting_.empty() && conn->codec().canTakeStream()) {
      UpstreamRequester* requester = waiting_.front().requester;
      waiting_.pop_front();
      ClientStream& stream = conn->codec().newStream(*requester);
      requester->onPoolReady(stream, endpoint_name_);
    }
  }
  if (waiting_.empty() || draining_) {
    closeIdle();
    return;
  }
  openConnections();
}

// HTTP/1.1: one connection per waiting request; HTTP/2: one connection at a time (it will carry
// every waiting stream once its SETTINGS arrive). Each connection holds a max_connections slot.
void ConnectionPool::openConnections() {
  size_t wanted = cluster_.protocol == config::ClusterProtocol::H2 ? 1 : waiting_.size();
  while (connecting_ < wanted) {
    if (runtime_ != nullptr && !runtime_->connections().tryAcquire()) {
      if (connections_.empty()) {
        // Nothing of ours will free up for them: fail the requests rather than park them. Each
        // refused request is one overflow; requests that wait for one of our connections are not.
        for (size_t i = 0; i < waiting_.size(); ++i) {
          stats_.overflow(stats::OverflowLimit::MaxConnections);
        }
        failWaiting(waiting_.size(), UpstreamFailure::ConnectionLimit);
      }
      return;
    }
    auto conn = std::make_unique<UpstreamConnection>(*this, dispatcher_, address_, address_len_,
                                                     cluster_.protocol, next_id_++);
    UpstreamConnection& ref = *conn;
    connections_.push_back(std::move(conn));
    ++connecting_;
    stats_.upstreamConnectionOpened();
    ref.connect(cluster_.connect_timeout);
  }
}

void ConnectionPool::onConnectTimeout() { stats_.timeout(stats::TimeoutKind::Connect); }

void ConnectionPool::failWaiting(size_t count, UpstreamFailure why) {
  for (size_t i = 0; i < count && !waiting_.empty(); ++i) {
    UpstreamRequester* requester = waiting_.front().requester;
    waiting_.pop_front();
    onStreamDone();
    requester->onPoolFailure(why);
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
  if (runtime_ != nullptr) {
    runtime_->connections().release();
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
  failWaiting(to_fail, why);
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
