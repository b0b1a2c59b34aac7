#include "filters/async_202/async_filter.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "filters/async_202/callback_sender.h"
#include "filters/retry/retry_decision.h"

namespace seawall::filters::async_202 {

namespace {
constexpr std::chrono::milliseconds kUploadRecheck{50};
} // namespace
namespace {

constexpr std::string_view kJobsPrefix = "/.seawall/jobs/";
constexpr int64_t kMaxWaitSeconds = 86400;

// Headers never stored in a result: hop-by-hop ones and framing (the result endpoint frames).
constexpr std::array<std::string_view, 8> kUnstoredHeaders = {
    "connection", "keep-alive",        "proxy-connection", "te",
    "trailer",    "transfer-encoding", "content-length",   "upgrade"};

bool isUnstored(std::string_view name) {
  return std::find(kUnstoredHeaders.begin(), kUnstoredHeaders.end(), name) !=
         kUnstoredHeaders.end();
}

std::string_view trim(std::string_view s) {
  const size_t first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) {
    return {};
  }
  const size_t last = s.find_last_not_of(" \t");
  return s.substr(first, last - first + 1);
}

// Splits `s` at every `sep` outside a quoted-string (backslash escapes honoured).
std::vector<std::string_view> splitOutsideQuotes(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  bool quoted = false;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (quoted && c == '\\') {
      ++i; // skip the escaped character
    } else if (c == '"') {
      quoted = !quoted;
    } else if (!quoted && c == sep) {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  parts.push_back(s.substr(std::min(start, s.size())));
  return parts;
}

// delta-seconds (1*DIGIT), optionally quoted; clamped to kMaxWaitSeconds.
std::optional<std::chrono::seconds> parseDeltaSeconds(std::string_view value) {
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
    value = value.substr(1, value.size() - 2);
  }
  if (value.empty()) {
    return std::nullopt;
  }
  int64_t seconds = 0;
  for (const char c : value) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    seconds = std::min(kMaxWaitSeconds, seconds * 10 + (c - '0'));
  }
  return std::chrono::seconds(seconds);
}

// One preference: `token [ "=" word ] *( ";" parameter )`; parameters are ignored.
void applyPreference(std::string_view element, Preferences& prefs, bool& wait_seen) {
  const std::string_view preference = splitOutsideQuotes(element, ';').front();
  const size_t eq = preference.find('=');
  const std::string_view name = trim(preference.substr(0, eq));
  const std::string_view value =
      eq == std::string_view::npos ? std::string_view{} : trim(preference.substr(eq + 1));
  if (proxy::iequals(name, "respond-async")) {
    prefs.respond_async = true;
  } else if (proxy::iequals(name, "wait") && !wait_seen) {
    wait_seen = true; // RFC 7240 section 2: only the first instance of a preference counts
    prefs.wait = parseDeltaSeconds(value);
  }
}

} // namespace

AsyncPolicy AsyncPolicy::fromConfig(const config::AsyncConfig& config) {
  AsyncPolicy policy;
  policy.after = config.after;
  policy.only_when_preferred = config.when == config::AsyncConfig::When::PreferRespondAsync;
  policy.retry_after = std::chrono::seconds(config.retryAfterSeconds());
  policy.retention = config.retention;
  policy.max_result_bytes = config.max_result_bytes;
  policy.secure_ids = true;
  policy.callback_header = config.callback_header;
  policy.callback_allow = config.callback_allow;
  policy.queue_while_down = config.queue_while_down;
  return policy;
}

Preferences parsePreferences(const proxy::HeaderMap& headers) {
  Preferences prefs;
  bool wait_seen = false;
  for (const proxy::Header& header : headers.entries()) {
    if (header.name != "prefer") {
      continue;
    }
    for (const std::string_view element : splitOutsideQuotes(header.value, ',')) {
      applyPreference(element, prefs, wait_seen);
    }
  }
  return prefs;
}

std::string jobStatusPath(std::string_view id) {
  std::string path(kJobsPrefix);
  path += id;
  return path;
}

proxy::ResponseHead acceptedHead(std::string_view id, std::chrono::seconds retry_after) {
  proxy::ResponseHead head;
  head.status = 202;
  head.headers.add("location", jobStatusPath(id));
  head.headers.add("x-status-url", jobStatusPath(id));
  head.headers.add("retry-after", std::to_string(retry_after.count()));
  head.headers.add("content-type", "application/json");
  return head;
}

std::string acceptedBody(std::string_view id) {
  std::string body = R"({"id":")";
  body += id;
  body += R"(","state":"PROCESSING","status_url":")";
  body += jobStatusPath(id);
  body += R"("})";
  return body;
}

// ---- AsyncFilter ----

std::optional<std::chrono::milliseconds>
AsyncFilter::conversionDelay(const proxy::RequestHead& head) const {
  const Preferences prefs = parsePreferences(head.headers);
  if (policy_.only_when_preferred && !prefs.respond_async) {
    return std::nullopt;
  }
  std::chrono::milliseconds after = policy_.after;
  if (prefs.wait.has_value()) {
    after = std::min<std::chrono::milliseconds>(after, *prefs.wait);
  }
  return after;
}

proxy::FilterStatus AsyncFilter::onRequestHeaders(proxy::RequestHead& head, bool /*end_stream*/) {
  const std::optional<std::chrono::milliseconds> after = conversionDelay(head);
  if (!after.has_value()) {
    return Continue;
  }
  method_ = head.method;
  path_ = head.path;
  if (!policy_.callback_header.empty()) {
    const std::string* url = head.headers.get(policy_.callback_header);
    CallbackSender* sender = control_.callbackSender();
    if (url != nullptr && sender != nullptr) {
      // A URL that is not allowed is ignored (counted `refused`): the job still runs and can be
      // polled; nothing is sent anywhere the operator did not allow.
      CallbackUrl checked = sender->check(*url, policy_.callback_allow);
      if (checked.ok()) {
        callback_ = checked.target;
      }
    }
  }
  timer_ = control_.createTimer([this] { onTimer(); });
  timer_->enable(*after);
  phase_ = Phase::Waiting;
  return Continue;
}

void AsyncFilter::onTimer() {
  if (phase_ != Phase::Waiting) {
    return;
  }
  if (control_.info().response_started) {
    phase_ = Phase::PassThrough;
    return;
  }
  if (!control_.info().request_complete) {
    // The request body is still coming: it could not follow the client's 202. Look again soon.
    timer_->enable(kUploadRecheck);
    return;
  }
  phase_ = Phase::Creating;
  job_id_ = newJobId();
  // A networked store may answer after this filter is gone: the job it then creates must still
  // end (FAILED "not-converted"), with what outlives the filter (the store, a copy of the clock).
  std::weak_ptr<bool> alive = alive_;
  JobStore* store = &store_;
  store_.create(clock_(), job_id_, policy_.retention, method_, path_,
                [this, alive, store, clock = clock_, id = job_id_](CreateOutcome outcome) {
                  if (!alive.expired()) {
                    onCreated(outcome);
                  } else if (outcome == CreateOutcome::Created) {
                    store->fail(clock(), id, "not-converted");
                  }
                });
}

void AsyncFilter::onCreated(CreateOutcome outcome) {
  const bool still_possible = phase_ == Phase::Creating && !control_.info().response_started;
  if (outcome != CreateOutcome::Created) {
    if (still_possible) {
      rejectUnconverted(outcome);
    }
    return;
  }
  if (!still_possible || !control_.detachDownstream(acceptedHead(job_id_, policy_.retry_after),
                                                    acceptedBody(job_id_))) {
    store_.fail(clock_(), job_id_, "not-converted");
    if (phase_ == Phase::Creating) {
      phase_ = Phase::PassThrough;
    }
    return;
  }
  phase_ = Phase::Converted;
  converted_at_ = control_.now();
  control_.bindJob(job_id_);
}

void AsyncFilter::rejectUnconverted(CreateOutcome outcome) {
  phase_ = Phase::PassThrough;
  const bool full = outcome == CreateOutcome::Full;
  proxy::ResponseHead head;
  head.status = 503;
  head.headers.add("retry-after", std::to_string(policy_.retry_after.count()));
  head.headers.add("x-seawall-reason", full ? "async-store-full" : "async-store-unavailable");
  head.headers.add("content-type", "text/plain");
  control_.respond(std::move(head),
                   full ? "async job store is full" : "async job store is unavailable");
}

proxy::FilterStatus AsyncFilter::onResponseHeaders(proxy::ResponseHead& head, bool end_stream) {
  switch (phase_) {
  case Phase::Waiting:
  case Phase::Creating:
    if (phase_ == Phase::Waiting && mayHold() && holdWhileDown()) {
      return StopIteration; // 202 sent; the request goes out again later
    }
    // Before conversion: the response goes out as it is, and the request is never converted
    // (a job still being created ends "not-converted" when the store answers).
    if (timer_ != nullptr) {
      timer_->disable();
    }
    phase_ = Phase::PassThrough;
    return Continue;
  case Phase::Converted: {
    const proxy::StreamInfo& info = control_.info();
    if (held_ && mayHold()) {
      scheduleHeldAttempt(); // still down: try again later, until the job expires
      return StopIteration;
    }
    if (!info.local_reason.empty() && info.response_source != proxy::ResponseSource::Fallback) {
      finishFailed(info.local_reason);
    } else {
      captureHeaders(head, end_stream);
    }
    return Continue;
  }
  case Phase::Idle:
  case Phase::PassThrough:
  case Phase::Finalized:
    return Continue;
  }
  return Continue;
}

std::string AsyncFilter::newJobId() {
  if (policy_.secure_ids) {
    return makeSecureJobId();
  }
  proxy::Random& random = control_.random();
  const uint64_t high = random.next();
  return makeJobId(high, random.next());
}

bool AsyncFilter::mayHold() const {
  if (!policy_.queue_while_down) {
    return false;
  }
  const proxy::StreamInfo& info = control_.info();
  const std::string& r = info.local_reason;
  const bool down =
      (info.response_source == proxy::ResponseSource::Filter && r == "breaker-open") ||
      (info.response_source == proxy::ResponseSource::AttemptFailure &&
       (r == "upstream-connect-failure" || r == "no-healthy-upstream" ||
        r == "upstream-refused-stream"));
  if (!down || !info.body_kept || !info.request_complete || info.request == nullptr) {
    return false;
  }
  // Only what may be sent twice: an idempotent method, or a request with an Idempotency-Key.
  return retry::isIdempotentMethod(info.request->method) ||
         info.request->headers.has("idempotency-key");
}

bool AsyncFilter::holdWhileDown() {
  if (timer_ != nullptr) {
    timer_->disable();
  }
  job_id_ = newJobId();
  // The memory store answers before create() returns; a store that answers later cannot hold a
  // response that is passing now (validation keeps queue_while_down to the memory backend), so
  // the failure then goes out as it is, and a job created late ends "not-converted".
  struct Answer {
    std::optional<CreateOutcome> outcome;
    bool abandoned = false;
  };
  auto answer = std::make_shared<Answer>();
  JobStore* store = &store_;
  store_.create(clock_(), job_id_, policy_.retention, method_, path_,
                [answer, store, clock = clock_, id = job_id_](CreateOutcome o) {
                  if (answer->abandoned) {
                    if (o == CreateOutcome::Created) {
                      store->fail(clock(), id, "not-converted");
                    }
                    return;
                  }
                  answer->outcome = o;
                });
  if (!answer->outcome) {
    answer->abandoned = true;
    return false;
  }
  if (answer->outcome != CreateOutcome::Created) {
    return false;
  }
  if (!control_.detachDownstream(acceptedHead(job_id_, policy_.retry_after),
                                 acceptedBody(job_id_))) {
    store_.fail(clock_(), job_id_, "not-converted");
    return false;
  }
  phase_ = Phase::Converted;
  held_ = true;
  converted_at_ = control_.now();
  control_.bindJob(job_id_);
  scheduleHeldAttempt();
  return true;
}

void AsyncFilter::scheduleHeldAttempt() {
  const std::chrono::milliseconds delay =
      retry::backoffDelay(policy_.hold_backoff, ++held_attempts_, control_.random());
  if (control_.now() + delay >= converted_at_ + policy_.retention) {
    finishFailed(control_.info().local_reason); // still down when the job's time ran out
    control_.resetStream("held-job-expired");
    return;
  }
  control_.retryAttempt(delay);
}

void AsyncFilter::captureHeaders(const proxy::ResponseHead& head, bool end_stream) {
  result_ = JobResult{};
  result_.status = head.status;
  for (const proxy::Header& header : head.headers.entries()) {
    if (!isUnstored(header.name)) {
      result_.headers.emplace_back(header.name, header.value);
    }
  }
  capturing_ = true;
  if (end_stream) {
    finishCompleted();
  }
}

void AsyncFilter::onResponseData(evbuffer* data, bool end_stream) {
  if (phase_ != Phase::Converted || !capturing_) {
    return;
  }
  const size_t length = evbuffer_get_length(data);
  std::string& body = result_.body;
  if (length > policy_.max_result_bytes - std::min(body.size(), policy_.max_result_bytes)) {
    finishFailed(std::string(kResultTooLarge));
    control_.resetStream(kResultTooLarge);
    return;
  }
  const size_t old_size = body.size();
  body.resize(old_size + length);
  const ev_ssize_t copied = evbuffer_copyout(data, body.data() + old_size, length);
  body.resize(old_size + static_cast<size_t>(std::max<ev_ssize_t>(copied, 0)));
  if (end_stream) {
    finishCompleted();
  }
}

void AsyncFilter::onResponseTrailers(const proxy::HeaderMap& trailers) {
  if (phase_ != Phase::Converted || !capturing_) {
    return;
  }
  for (const proxy::Header& trailer : trailers.entries()) {
    result_.trailers.emplace_back(trailer.name, trailer.value);
  }
  finishCompleted();
}

void AsyncFilter::onStreamDone(const proxy::StreamInfo& info) {
  timer_.reset();
  if (phase_ != Phase::Converted) {
    return;
  }
  const proxy::AttemptFailure failure =
      info.last_attempt.has_value() ? info.last_attempt->failure : proxy::AttemptFailure::None;
  if (failure == proxy::AttemptFailure::Cancelled) {
    finishFailed("cancelled");
  } else if (failure != proxy::AttemptFailure::None) {
    // Named as the router's local replies are: upstream-reset, upstream-timeout, ...
    finishFailed(std::string("upstream-") + proxy::toString(failure));
  } else if (capturing_) {
    finishFailed("upstream-reset"); // the response ended before its end
  } else {
    finishFailed("aborted");
  }
}

void AsyncFilter::finishCompleted() {
  const bool converted = phase_ == Phase::Converted;
  phase_ = Phase::Finalized;
  capturing_ = false;
  store_.complete(clock_(), job_id_, std::move(result_));
  result_ = JobResult{};
  if (converted) {
    notifyCallback();
  }
}

void AsyncFilter::finishFailed(std::string reason) {
  const bool converted = phase_ == Phase::Converted;
  phase_ = Phase::Finalized;
  capturing_ = false;
  result_ = JobResult{};
  store_.fail(clock_(), job_id_, std::move(reason));
  if (converted) {
    notifyCallback();
  }
}

void AsyncFilter::notifyCallback() {
  CallbackSender* sender = control_.callbackSender();
  if (!callback_ || sender == nullptr) {
    return;
  }
  // The store's view is the truth (a result over its byte budget ended FAILED there), and its
  // stored result is shared with the delivery instead of copied.
  const auto deadline = converted_at_ + policy_.retention;
  store_.get(
      clock_(), job_id_,
      [sender, target = *callback_, deadline](StoreStatus, const std::optional<JobView>& view) {
        if (!view || view->state == JobState::Processing) {
          return;
        }
        CallbackMessage message;
        message.job_id = view->id;
        message.state = view->state;
        message.failure_reason = view->failure_reason;
        message.result = view->result;
        sender->send(target, std::move(message), deadline);
      });
  callback_.reset();
}

// ---- AsyncFilterFactory ----

AsyncFilterFactory::AsyncFilterFactory(AsyncPolicy policy, JobStore* store, WallClock clock)
    : policy_(std::move(policy)), store_(store), clock_(std::move(clock)) {}

std::unique_ptr<proxy::HttpFilter> AsyncFilterFactory::create(proxy::StreamControl& control) const {
  return std::make_unique<AsyncFilter>(control, policy_, *store_, clock_);
}

WallClock AsyncFilterFactory::systemWallClock() {
  return [] { return std::chrono::system_clock::now(); };
}

} // namespace seawall::filters::async_202
