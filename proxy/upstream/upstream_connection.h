// One connection to one upstream endpoint: non-blocking connect with connect_timeout, the socket's
// bufferevent, and the client codec (HTTP/1.1 or HTTP/2) that carries streams over it.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <memory>

#include "config/config.h"
#include "proxy/codec/codec.h"
#include "proxy/common/dispatcher.h"
#include "proxy/common/event_ptr.h"

namespace seawall::proxy {

class ConnectionPool;

class UpstreamConnection : public Deletable, public CodecConnection, public ClientCodecCallbacks {
public:
  enum class State { Connecting, Connected, Closed };

  UpstreamConnection(ConnectionPool& pool, Dispatcher& dispatcher, const sockaddr_storage& address,
                     socklen_t address_len, config::ClusterProtocol protocol, uint64_t id);

  // Starts the TCP connect; failures are reported to the pool (never synchronously).
  void connect(std::chrono::milliseconds timeout);
  State state() const { return state_; }
  ClientCodec& codec() { return *codec_; }
  std::chrono::steady_clock::time_point idleSince() const { return idle_since_; }

  // CodecConnection
  evbuffer* output() override;
  void closeAfterFlush() override;
  void closeNow() override;
  void readDisable(bool disable) override;
  Dispatcher& dispatcher() override { return dispatcher_; }
  uint64_t id() const override { return id_; }

  // ClientCodecCallbacks
  void onCapacityChanged() override;

private:
  static void readCb(bufferevent* bev, void* arg) noexcept;
  static void writeCb(bufferevent* bev, void* arg) noexcept;
  static void eventCb(bufferevent* bev, short what, void* arg) noexcept;
  void close(UpstreamFailure why);

  ConnectionPool& pool_;
  Dispatcher& dispatcher_;
  sockaddr_storage address_;
  socklen_t address_len_;
  uint64_t id_;
  State state_ = State::Connecting;
  BufferEventPtr bev_;
  std::unique_ptr<ClientCodec> codec_;
  std::unique_ptr<Timer> connect_timer_;
  std::chrono::steady_clock::time_point idle_since_;
  int read_disabled_ = 0;
  bool close_after_flush_ = false;
  bool connect_failed_now_ = false; // connect() failed at once: not a timeout
};

} // namespace seawall::proxy
