// One request/response exchange: it captures the worker's config snapshot, matches a route,
// rewrites headers (hop-by-hop, x-request-id, x-forwarded-for, via), runs the route's filter chain
// (proxy/http_filter.h) and, as the chain's terminal (the router), sends attempts upstream: picks
// an endpoint, takes a stream from its pool, arms the per-try timer, replays the kept request body
// on retries, and turns attempt failures into local replies that go back through the chain.
// Both directions are relayed with back-pressure. Deleted (deferred) once both sides are detached.
//
// stream.cc holds the downstream side and the chain plumbing; stream_attempt.cc the attempts.
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
#include "proxy/filter_chain.h"
#include "proxy/http/local_reply.h"
#include "proxy/http_filter.h"
#include "proxy/upstream/cluster.h"
#include "proxy/upstream/connection_pool.h"

namespace seawall::filters::async_202 {
struct JobView;
}

namespace seawall::proxy {

class Worker;
struct WorkerGeneration;
struct ListenerContext;
class WorkerCluster;
namespace stats {
class RequestStats;
}

// Where clients poll the jobs of 202 conversion.
inline constexpr std::string_view kJobPathPrefix = "/.seawall/jobs/";

class Stream : public Deletable,
               public ServerStreamCallbacks,
               public UpstreamRequester,
               public FilterChainCallbacks {
public:
  // `generation`: the config generation the stream runs on, to its end (hot reload).
  Stream(Worker& worker, ListenerContext& listener, ServerStream& downstream,
         std::shared_ptr<WorkerGeneration> generation);
  ~Stream() override;
  // Where the client's connection was going before a REDIRECT (transparent listeners): the
  // endpoint of `type: original_dst` clusters.
  void setOriginalDestination(const ResolvedEndpoint& dst) {
    original_dst_ = std::make_unique<ResolvedEndpoint>(dst);
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  Stream(Stream&&) = delete;
  Stream& operator=(Stream&&) = delete;

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

  // FilterChainCallbacks
  void resumeRequestFrom(size_t index) override;
  void replyFrom(size_t index, const LocalReply& reply) override;
  void respondFrom(size_t index, ResponseHead head, std::string body) override;
  void retryAttempt(std::chrono::milliseconds delay) override;
  bool switchCluster(const std::string& cluster) override;
  void resetStream(std::string_view reason) override;
  bool detachDownstreamFrom(size_t index, ResponseHead head, std::string body) override;
  void bindJob(const std::string& id) override;
  filters::async_202::CallbackSender* callbackSender() override;
  RequestHead& attemptRequest() override { return request_; }
  // DELETE /.seawall/jobs/<id> reached the worker running this job: abort the upstream call.
  void cancelJob();
  std::unique_ptr<Timer> createTimer(std::function<void()> on_fire) override;
  std::chrono::steady_clock::time_point now() const override;
  Random& random() override;
  stats::ClusterStats* clusterStats(const std::string& cluster) override;
  StreamInfo& info() override { return info_; }
  std::string logPrefix() const override;

private:
  // ---- /.seawall/jobs/ endpoints (stream_jobs.cc) ----
  void handleJobRequest();
  int64_t pollRetryAfter(const filters::async_202::JobView& job) const;
  void cancelJobRequest(const std::string& id);
  void answerJobStatus(const filters::async_202::JobView& job, const std::string& url);
  void answerJobResult(const filters::async_202::JobView& job, const std::string& url);
  void answerStoreUnavailable(); // 503 async-store-unavailable, Retry-After: 1
  void answerJob(int status, std::string content_type, std::string body,
                 const std::vector<std::pair<std::string, std::string>>& headers = {});

  // A response is still wanted: by the client, or by the job it was converted to.
  bool responseWanted() const { return downstream_ != nullptr || info_.downstream_detached; }

  // ---- downstream side, chain plumbing (stream.cc) ----
  void runRequestHeaders(size_t from);
  void rewriteRequestHeaders();
  void rewriteResponseHeaders(ResponseHead& head) const;
  void keepOrForwardBody(evbuffer* data, bool end_stream);
  void forwardRequestBody(evbuffer* data, bool end_stream);
  // Sends a locally made response through filters [0, from) and downstream.
  void sendLocalResponse(size_t from, ResponseHead head, std::string body, ResponseSource source);
  void sendDownstreamHeaders(ResponseHead&& head, bool end_stream);
  void sendDownstreamData(evbuffer* data, bool end_stream);
  void sendDownstreamTrailers(HeaderMap&& trailers);
  void resetDownstream(std::string_view reason);
  void downstreamDone();
  void maybeFinish();
  void writeAccessLog(std::chrono::steady_clock::duration elapsed);

  // ---- attempts (stream_attempt.cc) ----
  void startAttempt();
  void sendRequestOnAttempt();
  // Ends the current attempt (filters' onAttemptDone, outlier detection). `result.attempt` and
  // latency are filled in here.
  void endAttempt(AttemptResult result);
  // Abandons the attempt in flight, if any: withdraws the pool request or resets the upstream
  // stream, and reports it ended with `why` (a status when a response had started).
  void abortAttempt(AttemptFailure why);
  // Withdraws the pool request or resets the upstream stream of the attempt, without ending it.
  void cancelUpstream();
  // The attempt failed (the upstream side is already gone): ends it and answers `reply` through
  // the whole chain, or resets the client when the response had started.
  void attemptFailed(AttemptFailure why, const LocalReply& reply);
  void scheduleAttempt(std::chrono::milliseconds delay);
  void onPerTryTimeout();
  void upstreamDone();
  size_t chainSize() const { return chain_ ? chain_->size() : 0; }

  Worker& worker_;
  ListenerContext& listener_;
  std::shared_ptr<WorkerGeneration> generation_;
  const config::Listener& listener_config_;        // in generation_'s config
  std::unique_ptr<ResolvedEndpoint> original_dst_; // transparent listeners only
  // Expires with the stream: answers of a networked job store that come after it are dropped.
  // Made by the job endpoints only (aliveToken()), never on the proxied-request path.
  std::shared_ptr<bool> alive_;
  std::weak_ptr<bool> aliveToken() {
    if (!alive_) {
      alive_ = std::make_shared<bool>(true);
    }
    return alive_;
  }
  ServerStream* downstream_;         // null once detached
  ClientStream* upstream_ = nullptr; // null until the pool answers and once detached
  ConnectionPool* pool_ = nullptr;   // the pool that served (or is serving) the current attempt
  const ConnectionPool* previous_pool_ = nullptr; // the last attempt's, avoided by the next one
  WorkerCluster* cluster_ = nullptr;              // the current attempt's cluster
  const config::Route* route_ = nullptr;
  std::unique_ptr<FilterChain> chain_;
  StreamInfo info_;
  RequestHead request_;
  // While info_.body_kept: the whole request body so far (copied on each attempt). Otherwise the
  // part not yet sent upstream.
  EvBufferPtr body_;
  std::optional<HeaderMap> trailers_; // request trailers, kept for replays
  // Current attempt.
  bool attempt_active_ = false;
  bool waiting_for_pool_ = false;
  bool attempt_request_sent_ = false; // headers (and the kept body) went on the attempt's stream
  bool attempt_has_headers_ = false;  // the attempt's response headers arrived
  bool backoff_pending_ = false;      // backoff_timer_ is armed
  std::chrono::steady_clock::time_point attempt_start_;
  AttemptResult attempt_; // status, grpc-status, Retry-After as they arrive
  std::unique_ptr<Timer> per_try_timer_;
  std::unique_ptr<Timer> backoff_timer_; // a retry (or cluster switch) waiting to start
  size_t response_from_ = 0;             // chain position the response in flight started from
  std::string endpoint_;
  std::string job_id_; // bound by the 202-conversion filter
  std::string reason_; // x-seawall-reason of a local reply, or why it ended
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
  uint32_t connection_id_ = 0;
  uint32_t stream_id_ = 0;
  int status_ = 0;
  bool request_paused_ = false; // a filter stopped the request headers
  bool downstream_read_disabled_ = false;
  bool upstream_read_disabled_ = false;
  bool response_complete_ = false;
  bool finished_ = false;
};

} // namespace seawall::proxy
