// The HTTP filter contract. A route's filters form a chain around the router (the terminal that
// sends attempts upstream):
//
//   request  -> filter[0] -> filter[1] -> ... -> filter[n-1] -> router -> attempt upstream
//   response <- filter[0] <- filter[1] <- ... <- filter[n-1] <- router <- upstream or local reply
//
// - Request headers go through every filter in order. A filter may return StopIteration: it then
//   calls resumeRequest() or reply() later (request body arriving meanwhile is kept).
// - Each attempt (the first and every retry) calls onAttemptStart on every filter in order; a
//   filter may veto the attempt by calling reply() (breaker open, overflow) and returning
//   StopIteration. When the attempt ends, onAttemptDone tells every filter how.
// - Response headers, from the upstream or from a local reply (info().local_reason is then set),
//   go through the filters in reverse order. A filter that returns StopIteration must have called
//   retryAttempt(), reply(), respond() or switchCluster() (the response is dropped).
// - reply()/respond() from filter i send the new response through filters i-1 .. 0 only.
// - Body data and trailers are observed, never held: filters must not drain the evbuffer.
// - Filters do no I/O of their own; timers come from createTimer() and die with the filter.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <event2/buffer.h>

#include "config/config.h"
#include "proxy/common/random.h"
#include "proxy/common/timer.h"
#include "proxy/http/headers.h"
#include "proxy/http/local_reply.h"

namespace seawall::filters::async_202 {
class CallbackSender;
}

namespace seawall::proxy {

namespace stats {
class ClusterStats;
}
class ClusterRuntime;
class RouteRuntime;

enum class FilterStatus { Continue, StopIteration };

// How an attempt ended without a response.
enum class AttemptFailure {
  None,           // a response came (status below)
  ConnectFailure, // no connection (refused, unreachable, connect_timeout)
  Reset,          // connection closed or stream reset after the request was (partly) sent
  RefusedStream,  // HTTP/2 REFUSED_STREAM or GOAWAY before processing: never processed
  ProtocolError,  // malformed response
  Timeout,        // per-try timeout, or the request's deadline passed during the attempt
  Overflow,       // max_pending / max_connections: no stream could be had
  NoEndpoint,     // no healthy endpoint to send it to
  Cancelled,      // aborted with no outcome (client gone, fallback switched away)
};
const char* toString(AttemptFailure f);

struct AttemptResult {
  uint32_t attempt = 0; // 1-based
  AttemptFailure failure = AttemptFailure::None;
  int status = 0;                                // HTTP status when failure == None
  std::optional<int> grpc_status;                // from response headers or trailers
  std::string retry_after;                       // the response's Retry-After value, if any
  std::string endpoint;                          // "10.0.0.7:8080", empty when none was picked
  std::chrono::steady_clock::duration latency{}; // attempt start to response headers (or end)
};

// Where the response passing through the chain comes from.
enum class ResponseSource {
  Upstream,       // the upstream's response to the current attempt
  AttemptFailure, // the router's local reply for a failed attempt (last_attempt says how)
  Filter,         // a filter's local reply (breaker-open, overflow-*, timeout-request, ...)
  Fallback,       // a fallback's response
};

// What the stream knows; filters read it (and the fallback writes `fallback`).
struct StreamInfo {
  std::chrono::steady_clock::time_point start;
  const config::Listener* listener = nullptr;
  const config::Route* route = nullptr;
  const RequestHead* request = nullptr; // the request as forwarded (headers already rewritten)
  // The cluster the next/current attempt goes to: the route's, or the fallback cluster's.
  const config::Cluster* cluster = nullptr;
  ClusterRuntime* cluster_runtime = nullptr;
  RouteRuntime* route_runtime = nullptr;
  bool grpc = false;
  uint32_t attempts = 0;            // attempts started so far
  bool request_complete = false;    // the whole request (body, trailers) has been received
  bool body_kept = true;            // the whole body is kept for replay (false past request_buffer)
  bool response_started = false;    // response headers went downstream
  bool downstream_detached = false; // detachDownstream() answered the client (202 conversion)
  std::optional<AttemptResult> last_attempt;
  ResponseSource response_source = ResponseSource::Upstream;
  std::string local_reason; // x-seawall-reason of the local reply passing through, else empty
  std::string fallback;     // "static", "cluster", "last-good" once a fallback answered
  // The request's deadline (whole-request timeout, grpc-timeout), set by the timeout filter: the
  // router never arms a per-try timer beyond it.
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

// Handed to each filter: its only way to act on the stream. Calls made from filter i act "from
// position i" (reply() goes out through filters i-1 .. 0).
class StreamControl {
public:
  virtual ~StreamControl() = default;
  // Continues a request this filter stopped in onRequestHeaders.
  virtual void resumeRequest() = 0;
  // A local reply (status, x-seawall-reason, text body; gRPC: trailers-only). Aborts any attempt
  // in flight. After the response started downstream it resets the stream instead.
  virtual void reply(const LocalReply& reply) = 0;
  // A full response of the filter's own (fallbacks). Same rules as reply().
  virtual void respond(ResponseHead head, std::string body) = 0;
  // Drops the response of the current attempt (resetting it if still running) and starts another
  // attempt after `delay`, on another endpoint when there is one. Only before the response
  // started downstream, and only when info().body_kept.
  virtual void retryAttempt(std::chrono::milliseconds delay) = 0;
  // Drops the current response or attempt and sends the request to `cluster` instead (fallback
  // to another cluster). False (nothing done) when the cluster is unknown or the request can no
  // longer be replayed.
  virtual bool switchCluster(const std::string& cluster) = 0;
  // Aborts both sides (a timeout after the response started): the client sees a reset.
  virtual void resetStream(std::string_view reason) = 0;
  // 202 conversion: sends `head` and `body` to the client now, as the whole response, and keeps
  // the exchange running without it. The rest of the response (the upstream's, or a local reply
  // such as timeout-request) still goes through filters i-1 .. 0 and filter i itself (the caller
  // observes it: info().downstream_detached is true), but nothing more is sent downstream.
  // False (nothing done) once the response started or the client is gone.
  virtual bool detachDownstream(ResponseHead head, std::string body) = 0;
  // Binds this exchange to job `id`, so that DELETE /.seawall/jobs/<id> (on any worker) aborts
  // it. Unbound when the exchange ends.
  virtual void bindJob(const std::string& id) = 0;
  // This worker's sender of 202-job callbacks (null where there is none, e.g. unit tests).
  virtual filters::async_202::CallbackSender* callbackSender() { return nullptr; }
  // The headers the current attempt sends (valid in onAttemptStart; changes apply to it).
  virtual RequestHead& attemptRequest() = 0;
  virtual std::unique_ptr<Timer> createTimer(std::function<void()> on_fire) = 0;
  virtual std::chrono::steady_clock::time_point now() const = 0;
  virtual Random& random() = 0;
  // This worker's metric shard of a cluster (nullptr for an unknown name).
  virtual stats::ClusterStats* clusterStats(const std::string& cluster) = 0;
  virtual StreamInfo& info() = 0;
  // "[C12][S3] " for logs.
  virtual std::string logPrefix() const = 0;
};

class HttpFilter {
public:
  using enum FilterStatus;
  HttpFilter() = default;
  HttpFilter(const HttpFilter&) = delete;
  HttpFilter& operator=(const HttpFilter&) = delete;
  HttpFilter(HttpFilter&&) = delete;
  HttpFilter& operator=(HttpFilter&&) = delete;
  virtual ~HttpFilter() = default;

  virtual FilterStatus onRequestHeaders(RequestHead& /*head*/, bool /*end_stream*/) {
    return Continue;
  }
  virtual void onRequestData(evbuffer* /*data*/, bool /*end_stream*/) {}
  virtual void onRequestTrailers(const HeaderMap& /*trailers*/) {}
  virtual FilterStatus onAttemptStart(RequestHead& /*attempt_request*/) { return Continue; }
  virtual void onAttemptDone(const AttemptResult& /*result*/) {}
  virtual FilterStatus onResponseHeaders(ResponseHead& /*head*/, bool /*end_stream*/) {
    return Continue;
  }
  virtual void onResponseData(evbuffer* /*data*/, bool /*end_stream*/) {}
  virtual void onResponseTrailers(const HeaderMap& /*trailers*/) {}
  // The stream ended (info has the final state); the filter is destroyed right after.
  virtual void onStreamDone(const StreamInfo& /*info*/) {}
};

// Holds a route's parsed, immutable policy and the shared state it needs; creates one filter per
// stream. create() is called on worker threads concurrently: it must be const and thread-safe.
class FilterFactory {
public:
  FilterFactory() = default;
  FilterFactory(const FilterFactory&) = delete;
  FilterFactory& operator=(const FilterFactory&) = delete;
  FilterFactory(FilterFactory&&) = delete;
  FilterFactory& operator=(FilterFactory&&) = delete;
  virtual ~FilterFactory() = default;
  virtual std::unique_ptr<HttpFilter> create(StreamControl& control) const = 0;
  virtual std::string_view name() const = 0;
};

} // namespace seawall::proxy
