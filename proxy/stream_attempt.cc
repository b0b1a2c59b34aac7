// The router half of Stream: attempts upstream, their timers and failures, retries and cluster
// switches asked for by filters.
#include <cstdlib>

#include "proxy/stats/worker_stats.h"
#include "proxy/stream.h"
#include "proxy/upstream/cluster.h"
#include "proxy/worker.h"

namespace seawall::proxy {
namespace {

struct FailureReply {
  AttemptFailure failure = AttemptFailure::Reset;
  LocalReply reply;
};

FailureReply failureReply(UpstreamFailure why, const std::string& cluster) {
  switch (why) {
  case UpstreamFailure::ConnectFailure:
    return {AttemptFailure::ConnectFailure,
            {503,
             "upstream-connect-failure",
             "upstream connect failure (cluster '" + cluster + "')",
             {}}};
  case UpstreamFailure::RefusedStream:
    return {AttemptFailure::RefusedStream,
            {503, "upstream-refused-stream", "upstream refused the stream", {}}};
  case UpstreamFailure::ProtocolError:
    return {AttemptFailure::ProtocolError,
            {502, "upstream-protocol-error", "upstream sent an invalid response", {}}};
  case UpstreamFailure::Overflow:
    return {AttemptFailure::Overflow,
            {503,
             "overflow-max_pending",
             "too many requests waiting for cluster '" + cluster + "' (max_pending)",
             {}}};
  case UpstreamFailure::ConnectionLimit:
    return {AttemptFailure::Overflow,
            {503,
             "overflow-max_connections",
             "cluster '" + cluster + "' is at its connection limit (max_connections)",
             {}}};
  case UpstreamFailure::Reset:
    break;
  }
  return {AttemptFailure::Reset,
          {502, "upstream-reset", "upstream reset the connection before responding", {}}};
}

std::optional<int> parseGrpcStatus(const HeaderMap& headers) {
  const std::string* v = headers.get("grpc-status");
  if (v == nullptr || v->empty() || v->size() > 3) {
    return std::nullopt;
  }
  int code = 0;
  for (char c : *v) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    code = code * 10 + (c - '0');
  }
  return code;
}

bool countsForOutlier(const AttemptResult& r) {
  switch (r.failure) {
  case AttemptFailure::None:
    return r.status >= 500;
  case AttemptFailure::Overflow:
  case AttemptFailure::NoEndpoint:
  case AttemptFailure::Cancelled:
    return false;
  default:
    return true;
  }
}

} // namespace

void Stream::startAttempt() {
  if (finished_ || !responseWanted()) {
    maybeFinish();
    return;
  }
  ++info_.attempts;
  attempt_ = AttemptResult{};
  attempt_has_headers_ = false;
  attempt_request_sent_ = false;
  attempt_active_ = true;
  attempt_start_ = now();
  pool_ = nullptr;
  endpoint_.clear();
  info_.local_reason.clear();
  if (chain_ && chain_->attemptStart(request_) != FilterChain::Result::Done) {
    return; // a filter vetoed the attempt and answered
  }
  const std::string& cluster_name =
      info_.cluster != nullptr ? info_.cluster->name : route_->cluster;
  ConnectionPool* pool = nullptr;
  if (cluster_ != nullptr && cluster_->config().type == config::ClusterType::OriginalDst) {
    if (original_dst_ == nullptr) {
      attemptFailed(AttemptFailure::NoEndpoint,
                    {503,
                     "no-original-destination",
                     "cluster '" + cluster_name +
                         "' sends to the original destination, and this connection has none "
                         "(not redirected to a transparent listener)",
                     {}});
      return;
    }
    pool = cluster_->pickOriginal(*original_dst_);
  } else if (cluster_ != nullptr) {
    pool = cluster_->pick(previous_pool_);
  }
  if (pool == nullptr) {
    attemptFailed(AttemptFailure::NoEndpoint,
                  {503,
                   "no-healthy-upstream",
                   "no healthy upstream endpoint in cluster '" + cluster_name + "'",
                   {}});
    return;
  }
  pool_ = pool;
  if (route_->retry && route_->retry->per_try_timeout.count() > 0) {
    if (!per_try_timer_) {
      per_try_timer_ = createTimer([this] { onPerTryTimeout(); });
    }
    per_try_timer_->enable(route_->retry->per_try_timeout);
  }
  waiting_for_pool_ = true;
  pool->newStream(*this);
}

void Stream::onPoolReady(ClientStream& stream, const std::string& endpoint) {
  waiting_for_pool_ = false;
  upstream_ = &stream;
  endpoint_ = endpoint;
  sendRequestOnAttempt();
}

void Stream::sendRequestOnAttempt() {
  attempt_request_sent_ = true;
  const size_t body_len = body_ ? evbuffer_get_length(body_.get()) : 0;
  const bool complete = info_.request_complete;
  const bool headers_only = complete && body_len == 0 && !trailers_;
  upstream_->sendHeaders(request_, headers_only);
  if (upstream_ != nullptr && body_len > 0) {
    const bool end = complete && !trailers_;
    if (info_.body_kept) {
      EvBufferPtr copy = makeEvBuffer();
      copyEvBuffer(copy.get(), body_.get());
      upstream_->sendData(copy.get(), end);
    } else {
      upstream_->sendData(body_.get(), end);
    }
  }
  if (upstream_ != nullptr && trailers_) {
    upstream_->sendTrailers(HeaderMap(*trailers_));
  }
  if (upstream_ != nullptr && !upstream_->writeBlocked()) {
    onUpstreamWritable();
  }
}

void Stream::onPoolFailure(UpstreamFailure why) {
  waiting_for_pool_ = false;
  if (cluster_ != nullptr) {
    cluster_->stats().upstreamFailure(toString(why));
  }
  FailureReply f = failureReply(why, info_.cluster != nullptr ? info_.cluster->name : "");
  attemptFailed(f.failure, f.reply);
}

void Stream::onResponseHeaders(ResponseHead&& head, bool end_stream) {
  attempt_.status = head.status;
  attempt_.latency = now() - attempt_start_;
  attempt_has_headers_ = true;
  attempt_.grpc_status = parseGrpcStatus(head.headers);
  if (const std::string* ra = head.headers.get("retry-after")) {
    attempt_.retry_after = *ra;
  }
  if (end_stream) {
    upstreamDone();
    endAttempt(attempt_);
  }
  if (!responseWanted()) {
    maybeFinish();
    return;
  }
  rewriteResponseHeaders(head);
  info_.local_reason.clear();
  info_.response_source = ResponseSource::Upstream;
  response_from_ = chainSize();
  if (chain_ &&
      chain_->responseHeaders(response_from_, head, end_stream) != FilterChain::Result::Done) {
    maybeFinish();
    return;
  }
  sendDownstreamHeaders(std::move(head), end_stream);
  maybeFinish();
}

void Stream::onResponseData(evbuffer* data, bool end_stream) {
  bytes_out_ += evbuffer_get_length(data);
  if (end_stream) {
    upstreamDone();
    endAttempt(attempt_);
  }
  if (!responseWanted()) {
    evbuffer_drain(data, evbuffer_get_length(data));
    maybeFinish();
    return;
  }
  if (chain_) {
    chain_->responseData(response_from_, data, end_stream);
  }
  sendDownstreamData(data, end_stream);
  maybeFinish();
}

void Stream::onResponseTrailers(HeaderMap&& trailers) {
  if (std::optional<int> grpc = parseGrpcStatus(trailers)) {
    attempt_.grpc_status = grpc;
  }
  upstreamDone();
  endAttempt(attempt_);
  if (!responseWanted()) {
    maybeFinish();
    return;
  }
  if (chain_) {
    chain_->responseTrailers(response_from_, trailers);
  }
  sendDownstreamTrailers(std::move(trailers));
  maybeFinish();
}

void Stream::onUpstreamReset(UpstreamFailure why) {
  upstreamDone();
  if (cluster_ != nullptr) {
    cluster_->stats().upstreamFailure(toString(why));
  }
  if (info_.response_started || !responseWanted()) {
    AttemptResult r = attempt_;
    r.failure = AttemptFailure::Reset;
    endAttempt(r);
    // Bytes already went downstream: the only honest signal left is to abort the stream.
    resetDownstream("upstream-reset-mid-response");
    maybeFinish();
    return;
  }
  FailureReply f = failureReply(why, info_.cluster != nullptr ? info_.cluster->name : "");
  attemptFailed(f.failure, f.reply);
}

void Stream::onPerTryTimeout() {
  if (cluster_ != nullptr) {
    cluster_->stats().upstreamFailure(stats::FailureReason::Timeout);
  }
  if (info_.cluster != nullptr) {
    if (stats::ClusterStats* s = clusterStats(info_.cluster->name)) {
      s->timeout(stats::TimeoutKind::PerTry);
    }
  }
  cancelUpstream();
  if (info_.response_started) {
    AttemptResult r = attempt_;
    r.failure = AttemptFailure::Timeout;
    endAttempt(r);
    resetDownstream("timeout-per-try");
    maybeFinish();
    return;
  }
  attemptFailed(AttemptFailure::Timeout,
                {504, "timeout-per-try",
                 "upstream did not answer within per_try_timeout (" +
                     std::to_string(route_->retry->per_try_timeout.count()) + "ms)",
                 4});
}

void Stream::attemptFailed(AttemptFailure why, const LocalReply& reply) {
  AttemptResult r = attempt_;
  r.failure = why;
  endAttempt(r);
  if (!responseWanted()) {
    maybeFinish();
    return;
  }
  if (info_.response_started) {
    resetDownstream("upstream-reset-mid-response");
    maybeFinish();
    return;
  }
  reason_ = reply.reason;
  std::string body;
  ResponseHead head = buildLocalReply(reply, info_.grpc, body);
  info_.local_reason = reply.reason;
  sendLocalResponse(chainSize(), std::move(head), std::move(body), ResponseSource::AttemptFailure);
}

void Stream::endAttempt(AttemptResult result) {
  if (!attempt_active_) {
    return;
  }
  attempt_active_ = false;
  if (per_try_timer_) {
    per_try_timer_->disable();
  }
  result.attempt = info_.attempts;
  result.endpoint = endpoint_;
  if (!attempt_has_headers_) {
    result.latency = now() - attempt_start_;
  }
  if (cluster_ != nullptr && pool_ != nullptr && result.failure != AttemptFailure::Cancelled &&
      result.failure != AttemptFailure::Overflow && result.failure != AttemptFailure::NoEndpoint) {
    cluster_->onAttemptResult(pool_, countsForOutlier(result));
  }
  if (pool_ != nullptr) {
    previous_pool_ = pool_;
  }
  info_.last_attempt = result;
  if (chain_) {
    chain_->attemptDone(result);
  }
}

void Stream::cancelUpstream() {
  if (waiting_for_pool_ && pool_ != nullptr) {
    pool_->cancel(*this);
  }
  waiting_for_pool_ = false;
  if (upstream_ != nullptr) {
    ClientStream* us = upstream_;
    upstreamDone();
    us->reset();
  }
}

void Stream::abortAttempt(AttemptFailure why) {
  cancelUpstream();
  if (!attempt_active_) {
    return;
  }
  AttemptResult r = attempt_;
  if (!attempt_has_headers_) {
    r.failure = why;
  }
  endAttempt(r);
}

void Stream::scheduleAttempt(std::chrono::milliseconds delay) {
  if (!backoff_timer_) {
    backoff_timer_ = createTimer([this] {
      backoff_pending_ = false;
      startAttempt();
    });
  }
  backoff_pending_ = true;
  backoff_timer_->enable(delay);
}

void Stream::retryAttempt(std::chrono::milliseconds delay) {
  if (info_.response_started || !responseWanted() || finished_) {
    return;
  }
  abortAttempt(AttemptFailure::Cancelled);
  info_.local_reason.clear();
  scheduleAttempt(delay);
}

bool Stream::switchCluster(const std::string& cluster) {
  if (info_.response_started || !responseWanted() || finished_ || !info_.body_kept) {
    return false;
  }
  WorkerCluster* target = generation_->cluster(cluster);
  if (target == nullptr) {
    return false;
  }
  abortAttempt(AttemptFailure::Cancelled);
  cluster_ = target;
  info_.cluster = &target->config();
  info_.cluster_runtime = target->runtime();
  previous_pool_ = nullptr;
  info_.local_reason.clear();
  scheduleAttempt(std::chrono::milliseconds(0));
  return true;
}

void Stream::upstreamDone() {
  if (upstream_ != nullptr && pool_ != nullptr) {
    pool_->onStreamDone();
  }
  upstream_ = nullptr;
}

} // namespace seawall::proxy
