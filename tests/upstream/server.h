// The test upstream's state: listener, connections, counters, the request log, the seeded RNG,
// and the decision of what to answer to each request (knobs, control endpoints, /echo, /sink).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <event2/listener.h>

#include "proxy/common/event_ptr.h"
#include "tests/upstream/connection.h"
#include "tests/upstream/exchange.h"
#include "tests/upstream/options.h"

namespace seawall::test_upstream {

struct Counters {
  uint64_t connections_total = 0;
  uint64_t connections_active = 0;
  uint64_t requests_total = 0;
  uint64_t h1_requests = 0;
  uint64_t h2_requests = 0;
};

class UpstreamServer {
public:
  static constexpr size_t kMaxLoggedRequests = 1000;

  UpstreamServer(event_base* base, Options options);
  UpstreamServer(const UpstreamServer&) = delete;
  UpstreamServer& operator=(const UpstreamServer&) = delete;
  UpstreamServer(UpstreamServer&&) = delete;
  UpstreamServer& operator=(UpstreamServer&&) = delete;
  ~UpstreamServer();

  // Binds options().listen; returns false and sets `error` on failure.
  bool listen(std::string& error);
  uint16_t port() const { return port_; }
  event_base* base() { return base_; }
  const Options& options() const { return options_; }

  // A complete request (body read): records it and decides the response.
  ResponsePlan respond(Request& request);
  // Called by Connection::close(); the connection is deleted at the next loop iteration.
  void connectionClosed(Connection& connection);
  void logVerbose(const Request& request, const ResponsePlan& plan) const;

private:
  static void acceptCb(evconnlistener* listener, evutil_socket_t fd, sockaddr* addr, int len,
                       void* arg) noexcept;
  static void reapCb(evutil_socket_t fd, short what, void* arg) noexcept;
  void onAccept(evutil_socket_t fd);
  ResponsePlan control(const Request& request);
  void record(const Request& request);
  void countConnection(uint64_t connection_id);
  std::string statsJson() const;
  std::string requestsJson() const;

  event_base* base_;
  Options options_;
  proxy::ListenerPtr listener_;
  proxy::EventPtr reaper_;
  uint16_t port_ = 0;
  uint64_t next_connection_id_ = 1;
  std::map<uint64_t, std::unique_ptr<Connection>> connections_;
  std::vector<std::unique_ptr<Connection>> dying_;
  Counters counters_;
  std::deque<std::string> log_; // JSON objects, oldest first
  std::mt19937_64 rng_;
};

} // namespace seawall::test_upstream
