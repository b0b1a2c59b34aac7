// The admin listener on the main thread: HTTP/1.1 through Http1ServerCodec, answered by
// AdminHandler, except GET /breakers/stream, which BreakerStreamHub streams. Never on the data
// path.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "config/config.h"
#include "proxy/admin/admin_handler.h"
#include "proxy/admin/breaker_stream.h"
#include "proxy/common/dispatcher.h"
#include "proxy/common/event_ptr.h"

namespace seawall::proxy::admin {

class AdminConnection;

class AdminServer {
public:
  AdminServer(Dispatcher& dispatcher, AdminHandler& handler);
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;
  AdminServer(AdminServer&&) = delete;
  AdminServer& operator=(AdminServer&&) = delete;
  ~AdminServer();

  bool listen(const config::HostPort& address, std::string& error);
  void connectionClosed(AdminConnection& connection);
  Dispatcher& dispatcher() { return dispatcher_; }
  AdminHandler& handler() { return handler_; }
  BreakerStreamHub& streams() { return *streams_; }

private:
  static void onAccept(evconnlistener* listener, evutil_socket_t fd, sockaddr* addr, int len,
                       void* arg) noexcept;

  Dispatcher& dispatcher_;
  AdminHandler& handler_;
  ListenerPtr listener_;
  std::unique_ptr<BreakerStreamHub> streams_; // before connections_: their streams detach from it
  std::unordered_map<AdminConnection*, std::unique_ptr<AdminConnection>> connections_;
};

} // namespace seawall::proxy::admin
