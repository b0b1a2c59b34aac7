// One client connection: socket and buffers (a bufferevent), protocol detection, idle timer, and
// the server codec that turns its bytes into streams.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "proxy/codec/codec.h"
#include "proxy/common/dispatcher.h"
#include "proxy/common/event_ptr.h"
#include "proxy/upstream/cluster.h"

namespace seawall::proxy {

class Worker;
struct ListenerContext;

class DownstreamConnection : public Deletable, public CodecConnection, public ServerCodecCallbacks {
public:
  DownstreamConnection(Worker& worker, ListenerContext& listener, evutil_socket_t fd,
                       std::string peer_address, uint64_t id);

  // CodecConnection
  evbuffer* output() override;
  void closeAfterFlush() override;
  void closeNow() override;
  void readDisable(bool disable) override;
  Dispatcher& dispatcher() override;
  uint64_t id() const override { return id_; }

  // ServerCodecCallbacks
  ServerStreamCallbacks& newStream(ServerStream& stream) override;
  void onCodecError(int status, std::string_view reason) override;

  void drain();
  bool closed() const { return closed_; }
  ListenerContext& listener() { return listener_; }
  // A transparent listener's redirected connection: where the client meant to connect
  // (SO_ORIGINAL_DST). Null otherwise, and for a connection made to the listener itself.
  const ResolvedEndpoint* originalDestination() const { return original_dst_.get(); }

private:
  static void readCb(bufferevent* bev, void* arg) noexcept;
  static void writeCb(bufferevent* bev, void* arg) noexcept;
  static void eventCb(bufferevent* bev, short what, void* arg) noexcept;
  void onRead();
  bool sniff(evbuffer* input); // true once a codec exists
  void onIdleTimer();

  Worker& worker_;
  ListenerContext& listener_;
  std::string peer_address_;
  std::unique_ptr<ResolvedEndpoint> original_dst_;
  uint64_t id_;
  BufferEventPtr bev_;
  std::unique_ptr<ServerCodec> codec_;
  std::unique_ptr<Timer> idle_timer_;
  std::chrono::steady_clock::time_point last_activity_;
  int read_disabled_ = 0;
  bool close_after_flush_ = false;
  bool closed_ = false;
  bool draining_ = false;
};

} // namespace seawall::proxy
