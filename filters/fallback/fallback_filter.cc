#include "filters/fallback/fallback_filter.h"

#include <array>
#include <utility>

namespace seawall::filters::fallback {
namespace {

using proxy::stats::FallbackKind;
using Kind = config::FallbackConfig::Kind;

constexpr std::string_view kFallbackHeader = "x-seawall-fallback";

// Headers never stored or replayed: hop-by-hop ones and framing (the codec frames the replay).
constexpr std::array<std::string_view, 9> kUnstoredHeaders = {
    "connection",        "keep-alive",     "proxy-connection",  "te", "trailer", "upgrade",
    "transfer-encoding", "content-length", "proxy-authenticate"};

bool isUnstored(std::string_view name) {
  for (std::string_view unstored : kUnstoredHeaders) {
    if (name == unstored) {
      return true;
    }
  }
  return false;
}

// A local reply that reports a failure: 5xx, or a gRPC trailers-only reply with grpc-status != 0.
bool isFailureReply(const proxy::ResponseHead& head) {
  if (head.status >= 500) {
    return true;
  }
  const std::string* grpc_status = head.headers.get("grpc-status");
  return head.status == 200 && grpc_status != nullptr && *grpc_status != "0";
}

bool isLocal(const proxy::StreamInfo& info) {
  return !info.local_reason.empty() ||
         info.response_source == proxy::ResponseSource::AttemptFailure ||
         info.response_source == proxy::ResponseSource::Filter;
}

proxy::ResponseHead buildStaticHead(const config::FallbackConfig& config) {
  proxy::ResponseHead head;
  head.status = config.status;
  for (const auto& [name, value] : config.headers) {
    if (name != "content-length" && name != "transfer-encoding") {
      head.headers.add(name, value);
    }
  }
  head.headers.set(kFallbackHeader, "static");
  return head;
}

} // namespace

proxy::FilterStatus FallbackFilter::onResponseHeaders(proxy::ResponseHead& head, bool end_stream) {
  capturing_ = false;
  proxy::StreamInfo& info = control_.info();
  if (info.fallback == "cluster") {
    head.headers.set(kFallbackHeader, "cluster");
    return Continue;
  }
  if (triggers(head)) {
    return useFallback();
  }
  startCapture(head, end_stream);
  return Continue;
}

bool FallbackFilter::triggers(const proxy::ResponseHead& head) const {
  const proxy::StreamInfo& info = control_.info();
  if (!info.fallback.empty()) {
    return false; // used once already
  }
  if (isLocal(info)) {
    return isFailureReply(head);
  }
  return policy_.config.on_upstream_5xx &&
         info.response_source == proxy::ResponseSource::Upstream && head.status >= 500;
}

// info().fallback is set before acting: respond() and switchCluster() may run the chain again
// synchronously (a fallback cluster's breaker-open reply), and that response must not trigger it.
proxy::FilterStatus FallbackFilter::useFallback() {
  proxy::StreamInfo& info = control_.info();
  switch (policy_.config.kind) {
  case Kind::Static:
    info.fallback = "static";
    count(FallbackKind::Static);
    control_.respond(policy_.static_head, policy_.config.body);
    return StopIteration;
  case Kind::Cluster:
    info.fallback = "cluster";
    if (!control_.switchCluster(policy_.config.cluster)) {
      info.fallback.clear();
      return Continue;
    }
    count(FallbackKind::Cluster);
    return StopIteration;
  case Kind::LastGood:
    return respondLastGood();
  }
  return Continue;
}

proxy::FilterStatus FallbackFilter::respondLastGood() {
  proxy::StreamInfo& info = control_.info();
  if (policy_.cache == nullptr || info.request == nullptr) {
    return Continue;
  }
  std::shared_ptr<const CachedResponse> cached = policy_.cache->get(
      control_.now(), LastGoodCache::makeKey(info.request->method, info.request->path));
  if (!cached) {
    return Continue;
  }
  proxy::ResponseHead head;
  head.status = cached->status;
  for (const auto& [name, value] : cached->headers) {
    head.headers.add(name, value);
  }
  head.headers.set(kFallbackHeader, "last-good");
  info.fallback = "last-good";
  count(FallbackKind::LastGood);
  control_.respond(std::move(head), cached->body);
  return StopIteration;
}

void FallbackFilter::startCapture(const proxy::ResponseHead& head, bool end_stream) {
  const proxy::StreamInfo& info = control_.info();
  if (policy_.config.kind != Kind::LastGood || policy_.cache == nullptr ||
      info.request == nullptr || !info.fallback.empty() ||
      info.response_source != proxy::ResponseSource::Upstream || head.status < 200 ||
      head.status > 299) {
    return;
  }
  const std::string& method = info.request->method;
  if (method != "GET" && method != "HEAD") {
    return;
  }
  capturing_ = true;
  capture_key_ = LastGoodCache::makeKey(method, info.request->path);
  captured_ = CachedResponse{};
  captured_.status = head.status;
  for (const proxy::Header& header : head.headers.entries()) {
    if (!isUnstored(header.name)) {
      captured_.headers.emplace_back(header.name, header.value);
    }
  }
  if (end_stream) {
    finishCapture();
  }
}

void FallbackFilter::onResponseData(evbuffer* data, bool end_stream) {
  if (!capturing_) {
    return;
  }
  const size_t length = data == nullptr ? 0 : evbuffer_get_length(data);
  const size_t have = captured_.body.size();
  if (length > policy_.cache->maxBytes() - have) {
    capturing_ = false; // over the bound: never stored
    captured_ = CachedResponse{};
    return;
  }
  if (length > 0) {
    captured_.body.resize(have + length);
    if (evbuffer_copyout(data, captured_.body.data() + have, length) !=
        static_cast<ev_ssize_t>(length)) {
      capturing_ = false;
      captured_ = CachedResponse{};
      return;
    }
  }
  if (end_stream) {
    finishCapture();
  }
}

void FallbackFilter::onResponseTrailers(const proxy::HeaderMap& /*trailers*/) {
  capturing_ = false; // trailers are not replayed, so such a response is not stored
  captured_ = CachedResponse{};
}

void FallbackFilter::finishCapture() {
  capturing_ = false;
  policy_.cache->put(control_.now(), std::move(capture_key_), std::move(captured_));
  captured_ = CachedResponse{};
}

// Counted under the route's own cluster (not a fallback cluster the attempt may have moved to).
void FallbackFilter::count(FallbackKind kind) {
  const config::Route* route = control_.info().route;
  if (route == nullptr) {
    return;
  }
  if (proxy::stats::ClusterStats* stats = control_.clusterStats(route->cluster)) {
    stats->fallback(kind);
  }
}

FallbackFilterFactory::FallbackFilterFactory(const config::FallbackConfig& config,
                                             LastGoodCache* cache)
    : policy_{config, buildStaticHead(config), cache} {}

std::unique_ptr<proxy::HttpFilter>
FallbackFilterFactory::create(proxy::StreamControl& control) const {
  return std::make_unique<FallbackFilter>(control, policy_);
}

} // namespace seawall::filters::fallback
