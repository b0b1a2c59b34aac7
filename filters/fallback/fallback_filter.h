// The fallback filter: when the call fails (after retries), answers instead of the failure with a
// static response, the response of another cluster, or the last good response for the same
// method + path + query. Placed first in the chain, so it sees the final response.
//
// Trigger, in onResponseHeaders, at most once per stream (info().fallback still empty):
// - a local reply (info().local_reason set: breaker-open, overflow-*, connect failure, reset,
//   timeout, ...) that is a failure: status >= 500, or a gRPC local reply (status 200) whose
//   grpc-status is not 0; or
// - with `on_upstream_5xx` (default), an upstream response with status >= 500.
// 4xx and 2xx responses never trigger it.
// Kinds (every fallback response carries `x-seawall-fallback: <kind>`):
// - static: respond() with the configured status, headers and body (framing is the codec's).
// - cluster: switchCluster(); the responses that follow (from the fallback cluster, or its local
//   replies) get `x-seawall-fallback: cluster`. If the switch is refused the failure goes out.
// - last_good: the cached response if there is one younger than ttl; on a miss the failure goes
//   out (not counted). Upstream 2xx responses to GET and HEAD requests are captured (headers
//   minus hop-by-hop and framing, body copied without draining, up to the cache's max_bytes) and
//   stored when the response ends; a response with trailers or a larger body is not stored.
// Each use is counted in seawall_fallbacks_total{cluster=<the route's cluster>, kind}.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <event2/buffer.h>

#include "config/config.h"
#include "filters/fallback/last_good_cache.h"
#include "proxy/http_filter.h"
#include "proxy/stats/worker_stats.h"

namespace seawall::filters::fallback {

// What a route's fallback filters share: the policy, the prebuilt static head and the route's
// last-good cache (null unless kind == LastGood).
struct FallbackPolicy {
  config::FallbackConfig config;
  proxy::ResponseHead static_head;
  LastGoodCache* cache = nullptr;
};

class FallbackFilter final : public proxy::HttpFilter {
public:
  FallbackFilter(proxy::StreamControl& control, const FallbackPolicy& policy)
      : control_(control), policy_(policy) {}

  proxy::FilterStatus onResponseHeaders(proxy::ResponseHead& head, bool end_stream) override;
  void onResponseData(evbuffer* data, bool end_stream) override;
  void onResponseTrailers(const proxy::HeaderMap& trailers) override;

private:
  bool triggers(const proxy::ResponseHead& head) const;
  proxy::FilterStatus useFallback();
  proxy::FilterStatus respondLastGood();
  void startCapture(const proxy::ResponseHead& head, bool end_stream);
  void finishCapture();
  void count(proxy::stats::FallbackKind kind);

  proxy::StreamControl& control_;
  const FallbackPolicy& policy_;
  bool capturing_ = false; // an upstream 2xx response is being copied for the last-good cache
  std::string capture_key_;
  CachedResponse captured_;
};

class FallbackFilterFactory final : public proxy::FilterFactory {
public:
  // `cache` must be non-null for kind LastGood and outlive the factory and its filters.
  FallbackFilterFactory(const config::FallbackConfig& config, LastGoodCache* cache);
  std::unique_ptr<proxy::HttpFilter> create(proxy::StreamControl& control) const override;
  std::string_view name() const override { return "fallback"; }

private:
  FallbackPolicy policy_;
};

} // namespace seawall::filters::fallback
