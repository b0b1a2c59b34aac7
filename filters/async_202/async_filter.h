// The 202-conversion filter (the asynchronous request-reply pattern). First in the chain, so it
// sees the final response of the exchange.
//
// - onRequestHeaders decides whether this request may be converted: always, or (when
//   `prefer-respond-async`) only if a Prefer header (RFC 7240) carries `respond-async`.
//   `Prefer: wait=N` lowers `after` to min(after, N s) for this request. If so, a timer is armed.
// - Response headers reaching the filter before the timer fired disarm it: the response passes
//   through unchanged and the request is never converted.
// - The timer fires with no response started: a job is created in the JobStore (128-bit random
//   id). Created: the client gets `202 Accepted` (location / x-status-url: /.seawall/jobs/<id>,
//   retry-after, a JSON body) through detachDownstream(), and the exchange is bound to the job.
//   If the stream can no longer be detached the job ends FAILED("not-converted"). Full: the
//   client gets 503 `x-seawall-reason: async-store-full` with retry-after (the upstream call is
//   aborted; nothing was accepted).
// - After conversion the final response is captured: status, headers (minus hop-by-hop and
//   framing), body (copied without draining, up to max_result_bytes) and trailers, then stored
//   with complete(). A local failure reply (info().local_reason set, not a fallback) ends the job
//   FAILED(<local_reason>); a body over max_result_bytes ends it FAILED("result-too-large") and
//   resets the stream; a stream that ends before the response did ends it FAILED: "upstream-" +
//   toString(last attempt's failure) ("upstream-reset", "upstream-timeout", ...; "cancelled"),
//   else "upstream-reset" mid-response, else "aborted". Fallback responses are results.
// - Store answers may come later (networked backends): a filter destroyed meanwhile still ends a
//   job it created FAILED("not-converted"), so nothing accepted stays PROCESSING silently.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <event2/buffer.h>

#include "config/config.h"
#include "filters/async_202/callback_url.h"
#include "filters/async_202/job_store.h"
#include "filters/retry/backoff.h"
#include "proxy/common/timer.h"
#include "proxy/http_filter.h"

namespace seawall::filters::async_202 {

// A route's 202-conversion policy, as the filter uses it.
struct AsyncPolicy {
  std::chrono::milliseconds after{0};
  bool only_when_preferred = false; // when: prefer-respond-async
  std::chrono::seconds retry_after{1};
  std::chrono::milliseconds retention{600000};
  size_t max_result_bytes = size_t{16} * 1024 * 1024;
  // Job ids from the kernel's CSPRNG (getrandom): an id is all that guards a result, so it must
  // not be predictable from earlier ones. False: from the stream's Random (deterministic tests).
  bool secure_ids = false;
  // Callbacks: a request carrying `callback_header` (a URL whose host is in callback_allow) gets
  // the job's outcome POSTed there when it ends (CallbackSender: retried until retention ends).
  std::string callback_header;
  std::vector<std::string> callback_allow;
  // Hold while down: a request whose cluster is unreachable (connect failure, no healthy
  // endpoint, refused stream) or whose breaker is open becomes a job at once and is sent again
  // with exponential backoff and full jitter until it gets an answer or the job expires.
  bool queue_while_down = false;
  retry::BackoffPolicy hold_backoff{std::chrono::seconds(1), std::chrono::seconds(30)};

  static AsyncPolicy fromConfig(const config::AsyncConfig& config);
};

// The wall clock jobs are stamped with (system_clock::now unless a test injects one).
using WallClock = std::function<std::chrono::system_clock::time_point()>;

// What the Prefer header(s) of a request ask for (RFC 7240; the first instance of a preference
// counts). `wait` is set only for a valid delta-seconds value (clamped to a day).
struct Preferences {
  bool respond_async = false;
  std::optional<std::chrono::seconds> wait;
};
Preferences parsePreferences(const proxy::HeaderMap& headers);

// "/.seawall/jobs/<id>"
std::string jobStatusPath(std::string_view id);
// The 202 sent to the client, and its JSON body.
proxy::ResponseHead acceptedHead(std::string_view id, std::chrono::seconds retry_after);
std::string acceptedBody(std::string_view id);

class AsyncFilter final : public proxy::HttpFilter {
public:
  AsyncFilter(proxy::StreamControl& control, const AsyncPolicy& policy, JobStore& store,
              const WallClock& clock)
      : control_(control), policy_(policy), store_(store), clock_(clock) {}

  proxy::FilterStatus onRequestHeaders(proxy::RequestHead& head, bool end_stream) override;
  proxy::FilterStatus onResponseHeaders(proxy::ResponseHead& head, bool end_stream) override;
  void onResponseData(evbuffer* data, bool end_stream) override;
  void onResponseTrailers(const proxy::HeaderMap& trailers) override;
  void onStreamDone(const proxy::StreamInfo& info) override;

  // For tests: the job this exchange was converted into (empty before).
  const std::string& jobId() const { return job_id_; }

private:
  enum class Phase {
    Idle,        // not converting this request
    Waiting,     // timer armed
    Creating,    // the store is creating the job
    PassThrough, // the response goes to the client as usual; never converted
    Converted,   // 202 sent: capturing the final response into the job
    Finalized,   // the job got its outcome (completed or failed)
  };

  std::optional<std::chrono::milliseconds> conversionDelay(const proxy::RequestHead& head) const;
  void onTimer();
  void onCreated(CreateOutcome outcome);
  void rejectUnconverted(CreateOutcome outcome);
  void captureHeaders(const proxy::ResponseHead& head, bool end_stream);
  void finishCompleted();
  void finishFailed(std::string reason);
  // Hands the job's outcome, as the store has it, to the worker's callback sender.
  void notifyCallback();
  // Hold while down: true when the response passing is "the cluster is down" and this request
  // may be held; holdWhileDown() converts it (202) and schedules the next delivery attempt.
  bool mayHold() const;
  std::string newJobId();
  bool holdWhileDown();
  void scheduleHeldAttempt();

  proxy::StreamControl& control_;
  const AsyncPolicy& policy_;
  JobStore& store_;
  const WallClock& clock_;
  Phase phase_ = Phase::Idle;
  std::unique_ptr<proxy::Timer> timer_;
  std::string method_; // of the request, for the job's status document
  std::string path_;
  std::string job_id_;
  bool capturing_ = false;                 // response headers of the final response were recorded
  std::optional<CallbackTarget> callback_; // checked against callback_allow at request time
  bool held_ = false;          // accepted by hold-while-down: redelivered while the cluster is down
  uint32_t held_attempts_ = 0; // redeliveries scheduled
  std::chrono::steady_clock::time_point converted_at_{};
  JobResult result_;
  // Expires with the filter: store callbacks that arrive later see it gone.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

class AsyncFilterFactory final : public proxy::FilterFactory {
public:
  // `store` must outlive the factory and every filter (and any store callback in flight).
  AsyncFilterFactory(AsyncPolicy policy, JobStore* store, WallClock clock = systemWallClock());
  std::unique_ptr<proxy::HttpFilter> create(proxy::StreamControl& control) const override;
  std::string_view name() const override { return "async_202"; }

  static WallClock systemWallClock();

private:
  AsyncPolicy policy_;
  JobStore* store_;
  WallClock clock_;
};

} // namespace seawall::filters::async_202
