// Whole-request and idle-stream timeouts; gRPC deadlines (grpc-timeout) in and out.
//
// Per stream:
// - Request headers: the deadline is start + request_timeout (when set), capped for gRPC requests
//   by now + grpc-timeout (a valid header); it goes to info().deadline (the router never arms a
//   per-try timer beyond it, the retry filter never schedules a retry past it) and one timer is
//   armed for it. The idle timer is armed when idle_timeout is set.
// - The deadline passes: seawall_timeouts_total{kind="request"} is counted; before the response
//   started, a 504 local reply "timeout-request" (gRPC: grpc-status 4, DEADLINE_EXCEEDED);
//   after, the stream is reset.
// - Every request or response headers, data or trailers event re-arms the idle timer; when it
//   fires: kind="idle", 504 "timeout-idle" (gRPC: 4), or a reset once the response started.
// - Each attempt: a gRPC request with a deadline carries the remaining time upstream in
//   grpc-timeout (replacing the client's). An attempt that would start at or after the deadline
//   (any request) is refused with the 504 "timeout-request" (counted as a request timeout).
// - Once the response is complete (end of headers, data or trailers) both timers are disarmed.
//
// Cost: this filter is on every route. Timers are created lazily, at most one of each per stream;
// events only re-arm them (no allocation).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string_view>

#include "proxy/http_filter.h"

namespace seawall::filters::timeout {

class TimeoutFilterFactory final : public proxy::FilterFactory {
public:
  // Zero (or negative) means none.
  TimeoutFilterFactory(std::chrono::milliseconds request_timeout,
                       std::chrono::milliseconds idle_timeout)
      : request_timeout_(request_timeout), idle_timeout_(idle_timeout) {}

  std::unique_ptr<proxy::HttpFilter> create(proxy::StreamControl& control) const override;
  std::string_view name() const override { return "timeout"; }

  std::chrono::milliseconds requestTimeout() const { return request_timeout_; }
  std::chrono::milliseconds idleTimeout() const { return idle_timeout_; }

private:
  const std::chrono::milliseconds request_timeout_;
  const std::chrono::milliseconds idle_timeout_;
};

class TimeoutFilter final : public proxy::HttpFilter {
public:
  TimeoutFilter(proxy::StreamControl& control, std::chrono::milliseconds request_timeout,
                std::chrono::milliseconds idle_timeout)
      : control_(control), request_timeout_(request_timeout), idle_timeout_(idle_timeout) {}

  proxy::FilterStatus onRequestHeaders(proxy::RequestHead& head, bool end_stream) override;
  void onRequestData(evbuffer* data, bool end_stream) override;
  void onRequestTrailers(const proxy::HeaderMap& trailers) override;
  proxy::FilterStatus onAttemptStart(proxy::RequestHead& attempt_request) override;
  proxy::FilterStatus onResponseHeaders(proxy::ResponseHead& head, bool end_stream) override;
  void onResponseData(evbuffer* data, bool end_stream) override;
  void onResponseTrailers(const proxy::HeaderMap& trailers) override;

private:
  enum class Kind { Request, Idle };

  void armDeadline(std::chrono::steady_clock::time_point deadline);
  void touch();  // re-arms the idle timer
  void finish(); // disarms both timers; no later event re-arms them
  void onTimeout(Kind kind);

  proxy::StreamControl& control_;
  const std::chrono::milliseconds request_timeout_;
  const std::chrono::milliseconds idle_timeout_;
  std::unique_ptr<proxy::Timer> deadline_timer_; // created when there is a deadline
  std::unique_ptr<proxy::Timer> idle_timer_;     // created when idle_timeout_ > 0
  bool finished_ = false;                        // response complete, or a timeout answered
  bool extended_ = false; // the one extra period given to a cluster fallback was used
};

} // namespace seawall::filters::timeout
