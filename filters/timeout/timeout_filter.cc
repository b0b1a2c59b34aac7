#include "filters/timeout/timeout_filter.h"

#include <algorithm>
#include <string>

#include "filters/timeout/grpc_timeout.h"
#include "proxy/stats/worker_stats.h"

namespace seawall::filters::timeout {
namespace {

using Clock = std::chrono::steady_clock;
using proxy::FilterStatus;

constexpr int kGatewayTimeout = 504;
constexpr int kGrpcDeadlineExceeded = 4;
constexpr std::string_view kGrpcTimeoutHeader = "grpc-timeout";

// now + d without overflowing the clock (a huge grpc-timeout means "no deadline to speak of").
Clock::time_point addSaturated(Clock::time_point now, std::chrono::nanoseconds d) {
  const auto room = Clock::time_point::max() - now;
  return d >= room ? Clock::time_point::max()
                   : now + std::chrono::duration_cast<Clock::duration>(d);
}

// Timer delay for `until - now`, rounded up to whole microseconds (never fires early); zero when
// already due.
std::chrono::microseconds delayUntil(Clock::time_point until, Clock::time_point now) {
  if (until <= now) {
    return std::chrono::microseconds(0);
  }
  return std::chrono::ceil<std::chrono::microseconds>(until - now);
}

} // namespace

std::unique_ptr<proxy::HttpFilter>
TimeoutFilterFactory::create(proxy::StreamControl& control) const {
  // Without a route timeout the filter matters only for gRPC requests (grpc-timeout): a plain
  // request on such a route gets no filter at all (the chain skips a null filter).
  if (request_timeout_.count() <= 0 && idle_timeout_.count() <= 0 && !control.info().grpc) {
    return nullptr;
  }
  return std::make_unique<TimeoutFilter>(control, request_timeout_, idle_timeout_);
}

FilterStatus TimeoutFilter::onRequestHeaders(proxy::RequestHead& head, bool /*end_stream*/) {
  proxy::StreamInfo& info = control_.info();
  std::optional<Clock::time_point> deadline = info.deadline;
  if (request_timeout_.count() > 0) {
    const Clock::time_point by_route = info.start + request_timeout_;
    deadline = deadline ? std::min(*deadline, by_route) : by_route;
  }
  if (info.grpc) {
    if (const std::string* value = head.headers.get(kGrpcTimeoutHeader); value != nullptr) {
      if (const auto grpc = parseGrpcTimeout(*value); grpc) {
        const Clock::time_point by_client = addSaturated(control_.now(), *grpc);
        deadline = deadline ? std::min(*deadline, by_client) : by_client;
      }
    }
  }
  if (deadline) {
    info.deadline = deadline;
    armDeadline(*deadline);
  }
  touch();
  return FilterStatus::Continue;
}

void TimeoutFilter::onRequestData(evbuffer* /*data*/, bool /*end_stream*/) { touch(); }

void TimeoutFilter::onRequestTrailers(const proxy::HeaderMap& /*trailers*/) { touch(); }

FilterStatus TimeoutFilter::onAttemptStart(proxy::RequestHead& attempt_request) {
  const proxy::StreamInfo& info = control_.info();
  if (!info.deadline || finished_) {
    return FilterStatus::Continue;
  }
  const Clock::time_point now = control_.now();
  if (now >= *info.deadline) {
    onTimeout(Kind::Request);
    return FilterStatus::StopIteration;
  }
  if (info.grpc) {
    attempt_request.headers.set(kGrpcTimeoutHeader, formatGrpcTimeout(*info.deadline - now));
  }
  return FilterStatus::Continue;
}

FilterStatus TimeoutFilter::onResponseHeaders(proxy::ResponseHead& /*head*/, bool end_stream) {
  if (end_stream) {
    finish();
  } else {
    touch();
  }
  return FilterStatus::Continue;
}

void TimeoutFilter::onResponseData(evbuffer* /*data*/, bool end_stream) {
  if (end_stream) {
    finish();
  } else {
    touch();
  }
}

void TimeoutFilter::onResponseTrailers(const proxy::HeaderMap& /*trailers*/) { finish(); }

void TimeoutFilter::armDeadline(Clock::time_point deadline) {
  if (!deadline_timer_) {
    deadline_timer_ = control_.createTimer([this] { onTimeout(Kind::Request); });
  }
  deadline_timer_->enable(delayUntil(deadline, control_.now()));
}

void TimeoutFilter::touch() {
  if (idle_timeout_.count() <= 0 || finished_) {
    return;
  }
  if (!idle_timer_) {
    idle_timer_ = control_.createTimer([this] { onTimeout(Kind::Idle); });
  }
  idle_timer_->enable(idle_timeout_);
}

void TimeoutFilter::finish() {
  finished_ = true;
  if (deadline_timer_) {
    deadline_timer_->disable();
  }
  if (idle_timer_) {
    idle_timer_->disable();
  }
}

void TimeoutFilter::onTimeout(Kind kind) {
  finish();
  proxy::StreamInfo& info = control_.info();
  const bool request = kind == Kind::Request;
  if (info.cluster != nullptr) {
    if (proxy::stats::ClusterStats* stats = control_.clusterStats(info.cluster->name);
        stats != nullptr) {
      stats->timeout(request ? proxy::stats::TimeoutKind::Request
                             : proxy::stats::TimeoutKind::Idle);
    }
  }
  const char* reason = request ? "timeout-request" : "timeout-idle";
  if (info.response_started) {
    control_.resetStream(reason);
    return;
  }
  // The timeout the client was given: the route's, or less when grpc-timeout capped it.
  const auto budget =
      request && info.deadline
          ? std::chrono::duration_cast<std::chrono::milliseconds>(*info.deadline - info.start)
          : idle_timeout_;
  proxy::LocalReply reply;
  reply.status = kGatewayTimeout;
  reply.reason = reason;
  reply.body = std::string(request ? "request" : "idle") + " timeout (" +
               std::to_string(budget.count()) + "ms) exceeded";
  if (info.grpc) {
    reply.grpc_status = kGrpcDeadlineExceeded;
  }
  control_.reply(reply);
  // A cluster fallback took the 504 over: its call gets one more period of the same length, so
  // no attempt runs unbounded; a second expiry reaches the client as this 504.
  if (control_.info().fallback == "cluster" && !extended_) {
    extended_ = true;
    finished_ = false;
    if (request) {
      const Clock::time_point deadline = control_.now() + budget;
      control_.info().deadline = deadline;
      armDeadline(deadline);
    } else {
      touch();
    }
  }
}

} // namespace seawall::filters::timeout
