// One request/response exchange: it captures the worker's config snapshot, matches a route,
// rewrites headers (hop-by-hop, x-request-id, x-forwarded-for, via), takes an upstream stream from
// the cluster's pool and relays both directions with back-pressure. Local replies carry
// x-seawall-reason. Deleted (deferred) once both sides are detached.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "config/config.h"
#include "proxy/codec/codec.h"
#include "proxy/common/dispatcher.h"
#include "proxy/common/event_ptr.h"
#include "proxy/http/local_reply.h"
#include "proxy/upstream/connection_pool.h"

namespace seawall::proxy {

class Worker;
struct ListenerContext;
class WorkerCluster;
namespace stats {
class RequestStats;
}

class Stream : public Deletable, public ServerStreamCallbacks, public UpstreamRequester {
public:
  Stream(Worker& worker, ListenerContext& listener, ServerStream& downstream,
         std::shared_ptr<const config::Config> snapshot);

  // ServerStreamCallbacks
  void onRequestHeaders(RequestHead&& head, bool end_stream) override;
  void onRequestData(evbuffer* data, bool end_stream) override;
  void onRequestTrailers(HeaderMap&& trailers) override;
  void onDownstreamReset() override;
  void onDownstreamWritable() override;

  // UpstreamRequester
  void onPoolReady(ClientStream& stream, const std::string& endpoint) override;
  void onPoolFailure(UpstreamFailure why) override;
  void onResponseHeaders(ResponseHead&& head, bool end_stream) override;
  void onResponseData(evbuffer* data, bool end_stream) override;
  void onResponseTrailers(HeaderMap&& trailers) override;
  void onUpstreamReset(UpstreamFailure why) override;
  void onUpstreamWritable() override;

private:
  void sendLocalReply(const LocalReply& reply);
  void rewriteRequestHeaders();
  void rewriteResponseHeaders(ResponseHead& head) const;
  void forwardRequestBody(evbuffer* data, bool end_stream);
  void upstreamDone();
  void downstreamDone();
  void maybeFinish();
  void writeAccessLog(std::chrono::steady_clock::duration elapsed);
  std::string logPrefix() const;

  Worker& worker_;
  ListenerContext& listener_;
  std::shared_ptr<const config::Config> snapshot_;
  ServerStream* downstream_;         // null once detached
  ClientStream* upstream_ = nullptr; // null until the pool answers and once detached
  ConnectionPool* pool_ = nullptr;   // the pool that served (or is serving) us
  WorkerCluster* cluster_ = nullptr;
  const config::Route* route_ = nullptr;
  RequestHead request_;
  EvBufferPtr pending_body_; // request body received before the upstream is ready
  std::optional<HeaderMap> pending_trailers_;
  std::string endpoint_;
  std::string reason_; // x-seawall-reason of a local reply, or why it ended
  std::chrono::steady_clock::time_point start_;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
  uint32_t connection_id_ = 0;
  uint32_t stream_id_ = 0;
  int status_ = 0;
  bool grpc_ = false;
  bool waiting_for_pool_ = false;
  bool request_complete_ = false;
  bool response_started_ = false;
  bool downstream_read_disabled_ = false;
  bool upstream_read_disabled_ = false;
  bool finished_ = false;
};

} // namespace seawall::proxy
