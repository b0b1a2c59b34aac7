#include "proxy/stream.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <vector>

#include "proxy/access_log.h"
#include "proxy/router.h"
#include "proxy/runtime.h"
#include "proxy/stats/worker_stats.h"
#include "proxy/upstream/cluster.h"
#include "proxy/worker.h"

namespace seawall::proxy {
namespace {

// Hop-by-hop headers (RFC 9110 7.6.1) never forwarded; `te: trailers` survives (gRPC needs it).
constexpr std::array<std::string_view, 5> kHopByHop = {
    "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"};

// Removes hop-by-hop headers and those named by Connection. Returns true if the message asked
// for a protocol upgrade (connection: upgrade plus an upgrade header).
bool stripHopByHop(HeaderMap& headers) {
  bool upgrade = false;
  std::vector<std::string> named; // extra hop-by-hop names listed in Connection
  if (const std::string* conn = headers.get("connection")) {
    upgrade = hasToken(*conn, "upgrade") && headers.has("upgrade");
    std::string_view rest = *conn;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      std::string_view item = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      size_t b = item.find_first_not_of(" \t");
      if (b == std::string_view::npos) {
        continue;
      }
      std::string token(item.substr(b, item.find_last_not_of(" \t") - b + 1));
      toLower(token);
      if (token != "upgrade" && token != "te") {
        named.push_back(std::move(token));
      }
    }
  }
  // One pass over the list; `te` survives only as "trailers".
  std::erase_if(headers.entries(), [&](Header& h) {
    if (std::find(kHopByHop.begin(), kHopByHop.end(), h.name) != kHopByHop.end() ||
        std::find(named.begin(), named.end(), h.name) != named.end()) {
      return true;
    }
    if (h.name == "te") {
      if (!hasToken(h.value, "trailers")) {
        return true;
      }
      h.value = "trailers";
    }
    return false;
  });
  return upgrade;
}

std::string_view viaVersion(int version) {
  return version == 20 ? "2" : (version == 10 ? "1.0" : "1.1");
}

} // namespace

Stream::Stream(Worker& worker, ListenerContext& listener, ServerStream& downstream,
               std::shared_ptr<WorkerGeneration> generation)
    : worker_(worker), listener_(listener), generation_(std::move(generation)),
      listener_config_(generation_->runtime->config().listeners.at(listener.index)),
      downstream_(&downstream), connection_id_(static_cast<uint32_t>(downstream.connectionId())),
      stream_id_(downstream.streamId()) {
  info_.start = std::chrono::steady_clock::now();
  info_.listener = &listener_config_;
  info_.request = &request_;
}

Stream::~Stream() {
  if (!job_id_.empty() && !finished_) {
    worker_.unbindJob(job_id_);
  }
  // Filters release their slots in their destructors and may read the stream while doing so:
  // they go first, while every other member is still alive.
  chain_.reset();
}

std::string Stream::logPrefix() const {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "[C%u][S%u] ", connection_id_, stream_id_);
  return buf;
}

std::unique_ptr<Timer> Stream::createTimer(std::function<void()> on_fire) {
  return worker_.dispatcher().createTimer(std::move(on_fire));
}

std::chrono::steady_clock::time_point Stream::now() const { return worker_.dispatcher().now(); }

Random& Stream::random() { return worker_.random(); }

stats::ClusterStats* Stream::clusterStats(const std::string& cluster) {
  WorkerCluster* c = generation_->cluster(cluster);
  return c != nullptr ? &c->stats() : nullptr;
}

void Stream::onRequestHeaders(RequestHead&& head, bool end_stream) {
  request_ = std::move(head);
  info_.request_complete = end_stream;
  info_.grpc = isGrpcRequest(request_);
  if (request_.path.starts_with(kJobPathPrefix)) {
    handleJobRequest();
    return;
  }
  route_ = matchRoute(listener_config_.routes, request_);
  if (route_ == nullptr) {
    LocalReply reply{404, "no-route", "no route for " + request_.method + " " + request_.path, {}};
    replyFrom(0, reply);
    return;
  }
  info_.route = route_;
  cluster_ = generation_->cluster(route_->cluster);
  info_.cluster = cluster_ != nullptr ? &cluster_->config() : nullptr;
  info_.cluster_runtime = cluster_ != nullptr ? cluster_->runtime() : nullptr;
  // The body is kept for replays only where a replay can happen.
  info_.body_kept =
      route_->retry.has_value() ||
      (route_->fallback && route_->fallback->kind == config::FallbackConfig::Kind::Cluster) ||
      (route_->async && route_->async->queue_while_down);
  rewriteRequestHeaders();
  RouteRuntime* route_runtime = generation_->runtime->route(route_);
  info_.route_runtime = route_runtime;
  if (route_runtime != nullptr && !route_runtime->factories.empty()) {
    chain_ = std::make_unique<FilterChain>(*this, route_runtime->factories);
  }
  runRequestHeaders(0);
}

void Stream::runRequestHeaders(size_t from) {
  if (chain_) {
    size_t stopped_at = 0;
    FilterChain::Result r =
        chain_->requestHeaders(from, request_, info_.request_complete, stopped_at);
    if (r == FilterChain::Result::Interrupted) {
      return;
    }
    if (r == FilterChain::Result::Stopped) {
      request_paused_ = true;
      return;
    }
  }
  request_paused_ = false;
  startAttempt();
}

void Stream::resumeRequestFrom(size_t index) {
  if (!request_paused_ || finished_ || downstream_ == nullptr) {
    return;
  }
  runRequestHeaders(index + 1);
}

void Stream::rewriteRequestHeaders() {
  HeaderMap& h = request_.headers;
  const std::string* upgrade_header = h.get("upgrade");
  std::string upgrade_value = upgrade_header != nullptr ? *upgrade_header : std::string();
  bool upgrade = stripHopByHop(h) && request_.version == 11;
  if (upgrade) {
    // Keep the upgrade handshake (WebSocket over HTTP/1.1) for the upstream: both headers were
    // removed above with the other hop-by-hop headers.
    h.add("connection", "upgrade");
    h.add("upgrade", upgrade_value);
  }
  if (!h.has("x-request-id")) {
    h.add("x-request-id", worker_.newRequestId());
  }
  const std::string& peer = downstream_->peerAddress();
  if (const std::string* xff = h.get("x-forwarded-for")) {
    h.set("x-forwarded-for", *xff + ", " + peer);
  } else {
    h.add("x-forwarded-for", peer);
  }
  if (!h.has("x-forwarded-proto")) {
    h.add("x-forwarded-proto", request_.scheme.empty() ? "http" : request_.scheme);
  }
  std::string via(viaVersion(request_.version));
  via += " seawall";
  if (const std::string* old = h.get("via")) {
    h.set("via", *old + ", " + via);
  } else {
    h.add("via", via);
  }
}

void Stream::rewriteResponseHeaders(ResponseHead& head) const {
  std::string upgrade_value;
  if (head.status == 101) {
    if (const std::string* u = head.headers.get("upgrade")) {
      upgrade_value = *u;
    }
  }
  stripHopByHop(head.headers);
  if (!upgrade_value.empty()) {
    head.headers.add("connection", "upgrade");
    head.headers.add("upgrade", upgrade_value);
  }
  std::string via(viaVersion(request_.version));
  via += " seawall";
  if (const std::string* old = head.headers.get("via")) {
    head.headers.set("via", *old + ", " + via);
  } else {
    head.headers.add("via", via);
  }
}

void Stream::onRequestData(evbuffer* data, bool end_stream) {
  bytes_in_ += evbuffer_get_length(data);
  info_.request_complete = end_stream;
  if (chain_) {
    chain_->requestData(data, end_stream);
  }
  keepOrForwardBody(data, end_stream);
}

void Stream::keepOrForwardBody(evbuffer* data, bool end_stream) {
  const size_t limit = listener_config_.limits.request_buffer;
  if (!body_) {
    body_ = makeEvBuffer();
  }
  const bool live = upstream_ != nullptr && attempt_request_sent_;
  if (info_.body_kept && evbuffer_get_length(body_.get()) + evbuffer_get_length(data) > limit) {
    // Too large to replay: from now on it streams, and this request is not retried.
    info_.body_kept = false;
    if (live) {
      evbuffer_drain(body_.get(), evbuffer_get_length(body_.get())); // already sent
    }
  }
  if (live) {
    if (info_.body_kept) {
      copyEvBuffer(body_.get(), data);
    }
    forwardRequestBody(data, end_stream);
    return;
  }
  evbuffer_add_buffer(body_.get(), data);
  // Until an upstream stream is ready, hold at most request_buffer bytes, then push back.
  if (downstream_ != nullptr && !downstream_read_disabled_ &&
      evbuffer_get_length(body_.get()) > limit) {
    downstream_read_disabled_ = true;
    downstream_->readDisable(true);
  }
}

void Stream::forwardRequestBody(evbuffer* data, bool end_stream) {
  upstream_->sendData(data, end_stream);
  if (upstream_ != nullptr && downstream_ != nullptr && !end_stream && !downstream_read_disabled_ &&
      upstream_->writeBlocked()) {
    downstream_read_disabled_ = true;
    downstream_->readDisable(true);
  }
}

void Stream::onRequestTrailers(HeaderMap&& trailers) {
  info_.request_complete = true;
  if (chain_) {
    chain_->requestTrailers(trailers);
  }
  trailers_ = std::move(trailers);
  if (upstream_ != nullptr && attempt_request_sent_) {
    upstream_->sendTrailers(HeaderMap(*trailers_));
  }
}

void Stream::onUpstreamWritable() {
  if (downstream_read_disabled_ && downstream_ != nullptr) {
    downstream_read_disabled_ = false;
    downstream_->readDisable(false);
  }
}

void Stream::onDownstreamWritable() {
  if (upstream_read_disabled_ && upstream_ != nullptr) {
    upstream_read_disabled_ = false;
    upstream_->readDisable(false);
  }
}

void Stream::onDownstreamReset() {
  downstream_ = nullptr;
  if (status_ == 0 || !info_.response_started) {
    reason_ = reason_.empty() ? "downstream-reset" : reason_;
  }
  abortAttempt(AttemptFailure::Cancelled);
  if (backoff_pending_) {
    backoff_pending_ = false;
    backoff_timer_->disable();
  }
  maybeFinish();
}

namespace {
AttemptFailure failureOfReason(std::string_view reason) {
  return reason.starts_with("timeout") ? AttemptFailure::Timeout : AttemptFailure::Cancelled;
}
} // namespace

void Stream::replyFrom(size_t index, const LocalReply& reply) {
  reason_ = reply.reason;
  abortAttempt(failureOfReason(reply.reason));
  if (backoff_pending_) {
    backoff_pending_ = false;
    backoff_timer_->disable();
  }
  if (!responseWanted()) {
    maybeFinish();
    return;
  }
  if (info_.response_started) {
    resetDownstream(reply.reason);
    maybeFinish();
    return;
  }
  std::string body;
  ResponseHead head = buildLocalReply(reply, info_.grpc, body);
  info_.local_reason = reply.reason;
  sendLocalResponse(index, std::move(head), std::move(body), ResponseSource::Filter);
}

void Stream::respondFrom(size_t index, ResponseHead head, std::string body) {
  abortAttempt(AttemptFailure::Cancelled);
  if (backoff_pending_) {
    backoff_pending_ = false;
    backoff_timer_->disable();
  }
  if (!responseWanted()) {
    maybeFinish();
    return;
  }
  if (info_.response_started) {
    resetDownstream("fallback-after-response-started");
    maybeFinish();
    return;
  }
  info_.local_reason.clear();
  sendLocalResponse(index, std::move(head), std::move(body), ResponseSource::Fallback);
}

void Stream::resetStream(std::string_view reason) {
  abortAttempt(failureOfReason(reason));
  if (backoff_pending_) {
    backoff_pending_ = false;
    backoff_timer_->disable();
  }
  resetDownstream(reason);
  maybeFinish();
}

void Stream::sendLocalResponse(size_t from, ResponseHead head, std::string body,
                               ResponseSource source) {
  info_.response_source = source;
  response_from_ = from;
  const bool end = body.empty();
  if (!end && !head.headers.has("content-length")) {
    head.headers.add("content-length", std::to_string(body.size()));
  }
  if (chain_ && from > 0) {
    if (chain_->responseHeaders(from, head, end) != FilterChain::Result::Done) {
      maybeFinish();
      return;
    }
  }
  sendDownstreamHeaders(std::move(head), end);
  if (!end && responseWanted()) {
    EvBufferPtr buf = makeEvBuffer();
    evbuffer_add(buf.get(), body.data(), body.size());
    bytes_out_ += body.size();
    if (chain_ && from > 0) {
      chain_->responseData(from, buf.get(), true);
    }
    sendDownstreamData(buf.get(), true);
  }
  maybeFinish();
}

void Stream::sendDownstreamHeaders(ResponseHead&& head, bool end_stream) {
  info_.response_started = true;
  ServerStream* ds = downstream_;
  if (end_stream) {
    response_complete_ = true;
    downstreamDone();
  }
  if (ds == nullptr) { // converted to a job: the client already has its 202
    return;
  }
  status_ = head.status;
  ds->sendHeaders(std::move(head), end_stream);
}

void Stream::sendDownstreamData(evbuffer* data, bool end_stream) {
  ServerStream* ds = downstream_;
  if (end_stream) {
    response_complete_ = true;
    downstreamDone();
  }
  if (ds == nullptr) {
    evbuffer_drain(data, evbuffer_get_length(data));
    return;
  }
  ds->sendData(data, end_stream);
  if (!end_stream && upstream_ != nullptr && !upstream_read_disabled_ && ds->writeBlocked()) {
    upstream_read_disabled_ = true;
    upstream_->readDisable(true);
  }
}

void Stream::sendDownstreamTrailers(HeaderMap&& trailers) {
  ServerStream* ds = downstream_;
  response_complete_ = true;
  downstreamDone();
  if (ds != nullptr) {
    ds->sendTrailers(std::move(trailers));
  }
}

bool Stream::detachDownstreamFrom(size_t /*index*/, ResponseHead head, std::string body) {
  if (info_.response_started || downstream_ == nullptr || finished_ || !info_.request_complete) {
    return false; // (an unfinished request body could not follow the client's connection)
  }
  // The client gets its answer now; the exchange goes on for the job (the filter that asked is
  // first in the chain and sees every later response event).
  status_ = head.status;
  if (!body.empty() && !head.headers.has("content-length")) {
    head.headers.add("content-length", std::to_string(body.size()));
  }
  ServerStream* ds = downstream_;
  downstreamDone();
  info_.downstream_detached = true;
  if (downstream_read_disabled_) {
    downstream_read_disabled_ = false; // the codec forgets the stream; nothing to re-enable
  }
  if (body.empty()) {
    ds->sendHeaders(std::move(head), true);
  } else {
    ds->sendHeaders(std::move(head), false);
    EvBufferPtr buf = makeEvBuffer();
    evbuffer_add(buf.get(), body.data(), body.size());
    bytes_out_ += body.size();
    ds->sendData(buf.get(), true);
  }
  return true;
}

void Stream::bindJob(const std::string& id) {
  job_id_ = id;
  worker_.bindJob(id, *this);
}

filters::async_202::CallbackSender* Stream::callbackSender() { return &worker_.callbackSender(); }

void Stream::cancelJob() {
  reason_ = "job-cancelled";
  resetStream("job-cancelled");
}

void Stream::resetDownstream(std::string_view reason) {
  if (downstream_ == nullptr) {
    return;
  }
  reason_ = reason;
  ServerStream* ds = downstream_;
  downstreamDone();
  ds->reset();
}

void Stream::downstreamDone() { downstream_ = nullptr; }

void Stream::maybeFinish() {
  if (finished_ || downstream_ != nullptr || upstream_ != nullptr || waiting_for_pool_ ||
      backoff_pending_) {
    return;
  }
  finished_ = true;
  if (!job_id_.empty()) {
    worker_.unbindJob(job_id_);
  }
  if (attempt_active_) {
    abortAttempt(AttemptFailure::Cancelled);
  }
  if (per_try_timer_) {
    per_try_timer_->disable();
  }
  auto elapsed = std::chrono::steady_clock::now() - info_.start;
  int code = status_ != 0 ? status_ : 499; // 499: the client went away before any response
  stats::RequestStats& request_stats = worker_.requestStats(*generation_, listener_, route_);
  request_stats.record(code, std::chrono::duration<double>(elapsed).count());
  if (chain_) {
    chain_->streamDone(info_);
  }
  if (worker_.accessLog() != nullptr) {
    writeAccessLog(elapsed);
  }
  worker_.streamDone(*this);
}

void Stream::writeAccessLog(std::chrono::steady_clock::duration elapsed) {
  AccessLogEntry e;
  const std::string* rid = request_.headers.get("x-request-id");
  e.request_id = rid != nullptr ? std::string_view(*rid) : std::string_view();
  e.method = request_.method;
  e.authority = request_.authority;
  e.path = request_.path;
  e.protocol = request_.version;
  e.status = status_ != 0 ? status_ : 499;
  e.listener = listener_config_.name;
  e.cluster = route_ != nullptr ? std::string_view(route_->cluster) : std::string_view();
  e.upstream = endpoint_;
  e.duration_seconds = std::chrono::duration<double>(elapsed).count();
  e.bytes_in = bytes_in_;
  e.bytes_out = bytes_out_;
  e.flags = reason_;
  std::string flags;
  if (!info_.fallback.empty()) {
    flags =
        reason_.empty() ? "fallback-" + info_.fallback : reason_ + ",fallback-" + info_.fallback;
    e.flags = flags;
  }
  worker_.accessLog()->write(e);
}

} // namespace seawall::proxy
