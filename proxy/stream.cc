#include "proxy/stream.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <vector>

#include "proxy/access_log.h"
#include "proxy/router.h"
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
               std::shared_ptr<const config::Config> snapshot)
    : worker_(worker), listener_(listener), snapshot_(std::move(snapshot)),
      downstream_(&downstream), start_(std::chrono::steady_clock::now()),
      connection_id_(static_cast<uint32_t>(downstream.connectionId())),
      stream_id_(downstream.streamId()) {}

std::string Stream::logPrefix() const {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "[C%u][S%u] ", connection_id_, stream_id_);
  return buf;
}

void Stream::onRequestHeaders(RequestHead&& head, bool end_stream) {
  request_ = std::move(head);
  request_complete_ = end_stream;
  grpc_ = isGrpcRequest(request_);
  route_ = matchRoute(listener_.config.routes, request_);
  if (route_ == nullptr) {
    sendLocalReply({404, "no-route", "no route for " + request_.method + " " + request_.path});
    return;
  }
  cluster_ = worker_.cluster(route_->cluster);
  ConnectionPool* pool = cluster_ != nullptr ? cluster_->pick() : nullptr;
  if (pool == nullptr) {
    sendLocalReply({503, "no-healthy-upstream",
                    "no healthy upstream endpoint in cluster '" + route_->cluster + "'"});
    return;
  }
  rewriteRequestHeaders();
  pool_ = pool;
  waiting_for_pool_ = true;
  pool->newStream(*this);
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
  request_complete_ = end_stream;
  if (upstream_ != nullptr) {
    forwardRequestBody(data, end_stream);
    return;
  }
  if (!pending_body_) {
    pending_body_ = makeEvBuffer();
  }
  evbuffer_add_buffer(pending_body_.get(), data);
  // Until an upstream stream is ready, keep at most request_buffer bytes, then push back.
  if (downstream_ != nullptr && !downstream_read_disabled_ &&
      evbuffer_get_length(pending_body_.get()) > listener_.config.limits.request_buffer) {
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
  request_complete_ = true;
  if (upstream_ != nullptr) {
    upstream_->sendTrailers(std::move(trailers));
  } else {
    pending_trailers_ = std::move(trailers);
  }
}

void Stream::onUpstreamWritable() {
  if (downstream_read_disabled_ && downstream_ != nullptr) {
    downstream_read_disabled_ = false;
    downstream_->readDisable(false);
  }
}

void Stream::onPoolReady(ClientStream& stream, const std::string& endpoint) {
  waiting_for_pool_ = false;
  upstream_ = &stream;
  endpoint_ = endpoint;
  bool has_body = pending_body_ && evbuffer_get_length(pending_body_.get()) > 0;
  bool headers_only = request_complete_ && !has_body && !pending_trailers_;
  upstream_->sendHeaders(request_, headers_only);
  if (upstream_ != nullptr && has_body) {
    upstream_->sendData(pending_body_.get(), request_complete_ && !pending_trailers_);
  } else if (upstream_ != nullptr && request_complete_ && !headers_only && !pending_trailers_) {
    // The request ended with an empty final DATA frame that arrived before the pool answered.
    EvBufferPtr empty = makeEvBuffer();
    upstream_->sendData(empty.get(), true);
  }
  if (upstream_ != nullptr && pending_trailers_) {
    upstream_->sendTrailers(std::move(*pending_trailers_));
    pending_trailers_.reset();
  }
  pending_body_.reset();
  if (upstream_ != nullptr && !upstream_->writeBlocked()) {
    onUpstreamWritable();
  }
}

void Stream::onPoolFailure(UpstreamFailure why) {
  waiting_for_pool_ = false;
  pool_ = nullptr; // the pool already released our slot
  if (cluster_ != nullptr) {
    cluster_->stats().upstreamFailure(toString(why));
  }
  if (why == UpstreamFailure::ConnectFailure) {
    sendLocalReply({503, "upstream-connect-failure",
                    "upstream connect failure (cluster '" + route_->cluster + "')"});
  } else {
    sendLocalReply({503, std::string("upstream-") + toString(why),
                    std::string("upstream unavailable: ") + toString(why)});
  }
  maybeFinish();
}

void Stream::onResponseHeaders(ResponseHead&& head, bool end_stream) {
  status_ = head.status;
  if (end_stream) {
    upstreamDone();
  }
  if (downstream_ == nullptr) {
    maybeFinish();
    return;
  }
  rewriteResponseHeaders(head);
  response_started_ = true;
  ServerStream* ds = downstream_;
  if (end_stream) {
    downstreamDone();
  }
  ds->sendHeaders(std::move(head), end_stream);
  maybeFinish();
}

void Stream::onResponseData(evbuffer* data, bool end_stream) {
  bytes_out_ += evbuffer_get_length(data);
  if (end_stream) {
    upstreamDone();
  }
  if (downstream_ == nullptr) {
    evbuffer_drain(data, evbuffer_get_length(data));
    maybeFinish();
    return;
  }
  ServerStream* ds = downstream_;
  if (end_stream) {
    downstreamDone();
  }
  ds->sendData(data, end_stream);
  if (!end_stream && upstream_ != nullptr && !upstream_read_disabled_ && ds->writeBlocked()) {
    upstream_read_disabled_ = true;
    upstream_->readDisable(true);
  }
  maybeFinish();
}

void Stream::onResponseTrailers(HeaderMap&& trailers) {
  upstreamDone();
  if (downstream_ == nullptr) {
    maybeFinish();
    return;
  }
  ServerStream* ds = downstream_;
  downstreamDone();
  ds->sendTrailers(std::move(trailers));
  maybeFinish();
}

void Stream::onDownstreamWritable() {
  if (upstream_read_disabled_ && upstream_ != nullptr) {
    upstream_read_disabled_ = false;
    upstream_->readDisable(false);
  }
}

void Stream::onUpstreamReset(UpstreamFailure why) {
  upstreamDone();
  if (cluster_ != nullptr) {
    cluster_->stats().upstreamFailure(toString(why));
  }
  if (downstream_ == nullptr) {
    maybeFinish();
    return;
  }
  if (!response_started_) {
    switch (why) {
    case UpstreamFailure::ConnectFailure:
      sendLocalReply({503, "upstream-connect-failure", "upstream connect failure"});
      break;
    case UpstreamFailure::RefusedStream:
      sendLocalReply({503, "upstream-refused-stream", "upstream refused the stream"});
      break;
    case UpstreamFailure::ProtocolError:
      sendLocalReply({502, "upstream-protocol-error", "upstream sent an invalid response"});
      break;
    default:
      sendLocalReply({502, "upstream-reset", "upstream reset the connection before responding"});
      break;
    }
  } else {
    // Bytes already went downstream: the only honest signal left is to abort the stream.
    reason_ = "upstream-reset-mid-response";
    ServerStream* ds = downstream_;
    downstreamDone();
    ds->reset();
  }
  maybeFinish();
}

void Stream::onDownstreamReset() {
  downstream_ = nullptr;
  if (status_ == 0 || !response_started_) {
    reason_ = reason_.empty() ? "downstream-reset" : reason_;
  }
  if (waiting_for_pool_ && pool_ != nullptr) {
    pool_->cancel(*this);
    waiting_for_pool_ = false;
    pool_ = nullptr;
  }
  if (upstream_ != nullptr) {
    ClientStream* us = upstream_;
    upstreamDone();
    us->reset();
  }
  maybeFinish();
}

void Stream::sendLocalReply(const LocalReply& reply) {
  reason_ = reply.reason;
  status_ = grpc_ ? 200 : reply.status;
  if (downstream_ == nullptr) {
    maybeFinish();
    return;
  }
  std::string body;
  ResponseHead head = buildLocalReply(reply, grpc_, body);
  response_started_ = true;
  ServerStream* ds = downstream_;
  downstreamDone();
  if (body.empty()) {
    ds->sendHeaders(std::move(head), true);
  } else {
    ds->sendHeaders(std::move(head), false);
    EvBufferPtr buf = makeEvBuffer();
    evbuffer_add(buf.get(), body.data(), body.size());
    bytes_out_ += body.size();
    ds->sendData(buf.get(), true);
  }
  maybeFinish();
}

void Stream::upstreamDone() {
  if (upstream_ != nullptr && pool_ != nullptr) {
    pool_->onStreamDone();
  }
  upstream_ = nullptr;
}

void Stream::downstreamDone() { downstream_ = nullptr; }

void Stream::maybeFinish() {
  if (finished_ || downstream_ != nullptr || upstream_ != nullptr || waiting_for_pool_) {
    return;
  }
  finished_ = true;
  auto elapsed = std::chrono::steady_clock::now() - start_;
  int code = status_ != 0 ? status_ : 499; // 499: the client went away before any response
  stats::RequestStats& request_stats = worker_.requestStats(listener_, route_);
  request_stats.record(code, std::chrono::duration<double>(elapsed).count());
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
  e.listener = listener_.config.name;
  e.cluster = route_ != nullptr ? std::string_view(route_->cluster) : std::string_view();
  e.upstream = endpoint_;
  e.duration_seconds = std::chrono::duration<double>(elapsed).count();
  e.bytes_in = bytes_in_;
  e.bytes_out = bytes_out_;
  e.flags = reason_;
  worker_.accessLog()->write(e);
}

} // namespace seawall::proxy
