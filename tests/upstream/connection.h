// One accepted socket: sniffs the HTTP/2 preface, then hands its bytes to an HTTP/1.1 or h2c
// handler. Deleted by the server at the end of a loop iteration, never from its own callbacks.
#pragma once

#include <cstdint>
#include <memory>

#include <event2/bufferevent.h>

#include "proxy/common/event_ptr.h"
#include "tests/upstream/util.h"

namespace seawall::test_upstream {

class UpstreamServer;
class Connection;

class ProtocolHandler {
public:
  virtual ~ProtocolHandler() = default;
  virtual void onRead() = 0;
  virtual void onWrite() = 0;
};

class Connection {
public:
  // Bytes buffered for output before a handler stops producing more.
  static constexpr size_t kOutputHighWater = size_t{256} * 1024;

  Connection(UpstreamServer& server, uint64_t id, bufferevent* bev);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  Connection(Connection&&) = delete;
  Connection& operator=(Connection&&) = delete;
  ~Connection();

  uint64_t id() const { return id_; }
  UpstreamServer& server() { return server_; }
  bufferevent* bev() { return bev_.get(); }
  evbuffer* input() { return bufferevent_get_input(bev_.get()); }
  evbuffer* output() { return bufferevent_get_output(bev_.get()); }
  bool closed() const { return closed_; }
  bool finishing() const { return finishing_ || closed_; }

  // Closes now; the object is deleted later by the server.
  void close();
  // Lets the output drain, half-closes, discards input until EOF (or 2 s), then closes.
  void finish();

  bool counted = false; // counted in connections_total (first non-control request)

private:
  static void readCb(bufferevent* bev, void* arg) noexcept;
  static void writeCb(bufferevent* bev, void* arg) noexcept;
  static void eventCb(bufferevent* bev, short what, void* arg) noexcept;
  void onRead();
  void onWrite();
  void shutdownWrite();

  UpstreamServer& server_;
  uint64_t id_;
  proxy::BufferEventPtr bev_;
  std::unique_ptr<ProtocolHandler> handler_;
  std::unique_ptr<Timer> linger_timer_;
  bool closed_ = false;
  bool finishing_ = false;
  bool write_shut_ = false;
};

} // namespace seawall::test_upstream
