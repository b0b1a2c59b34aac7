#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "filters/async_202/async_filter.h"
#include "filters/async_202/memory_job_store.h"
#include "proxy/common/event_ptr.h"
#include "proxy/common/random.h"
#include "tests/unit/proxy/fake_stream_control.h"

namespace seawall::filters::async_202 {
namespace {

using proxy::FilterStatus;
using proxy::ResponseHead;
using proxy::ResponseSource;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Fields = std::vector<std::pair<std::string, std::string>>;

constexpr JobStore::TimePoint kWallT0 = JobStore::TimePoint{} + std::chrono::hours(480000);

ResponseHead head(int status, std::vector<proxy::Header> headers = {}) {
  ResponseHead h;
  h.status = status;
  for (proxy::Header& header : headers) {
    h.headers.add(std::move(header.name), std::move(header.value));
  }
  return h;
}

Fields fields(const proxy::HeaderMap& map) {
  Fields out;
  for (const proxy::Header& h : map.entries()) {
    out.emplace_back(h.name, h.value);
  }
  return out;
}

AsyncPolicy policy() {
  AsyncPolicy p;
  p.after = milliseconds(500);
  p.retry_after = seconds(2);
  p.retention = milliseconds(60000);
  p.max_result_bytes = 1024;
  return p;
}

// Defers create() answers until release(), as a networked store would.
class DeferredStore final : public JobStore {
public:
  explicit DeferredStore(JobStore& inner) : inner_(inner) {}
  void create(TimePoint now, const std::string& id, milliseconds retention, std::string method,
              std::string path, std::function<void(CreateOutcome)> done) override {
    pending_.push_back([this, now, id, retention, method = std::move(method),
                        path = std::move(path), done = std::move(done)]() mutable {
      inner_.create(now, id, retention, std::move(method), std::move(path), std::move(done));
    });
  }
  void complete(TimePoint now, const std::string& id, JobResult result) override {
    inner_.complete(now, id, std::move(result));
  }
  void fail(TimePoint now, const std::string& id, std::string reason) override {
    inner_.fail(now, id, std::move(reason));
  }
  void get(TimePoint now, const std::string& id,
           std::function<void(StoreStatus, std::optional<JobView>)> done) override {
    inner_.get(now, id, std::move(done));
  }
  void cancel(TimePoint now, const std::string& id,
              std::function<void(StoreStatus, bool)> done) override {
    inner_.cancel(now, id, std::move(done));
  }
  size_t jobs(JobState state) const override { return inner_.jobs(state); }
  size_t bytes() const override { return inner_.bytes(); }
  Counters counters() const override { return inner_.counters(); }

  void release() {
    std::vector<std::function<void()>> pending = std::move(pending_);
    pending_.clear();
    for (auto& call : pending) {
      call();
    }
  }
  size_t pending() const { return pending_.size(); }

private:
  JobStore& inner_;
  std::vector<std::function<void()>> pending_;
};

class AsyncFilterTest : public ::testing::Test {
protected:
  AsyncFilterTest() {
    request_.method = "POST";
    request_.path = "/stock/lookup?sku=42";
    control_.info().request = &request_;
    control_.info().request_complete = true; // the body is in: the filter may convert
  }

  // Builds the filter with `p` through the factory (the way the chain does) on `store`.
  void make(AsyncPolicy p, JobStore* store = nullptr) {
    filter_.reset();
    factory_ = std::make_unique<AsyncFilterFactory>(p, store != nullptr ? store : &store_,
                                                    [this] { return wall_; });
    filter_ = factory_->create(control_);
    async_ = static_cast<AsyncFilter*>(filter_.get());
  }

  FilterStatus sendRequest(std::vector<proxy::Header> headers = {}) {
    for (proxy::Header& h : headers) {
      request_.headers.add(std::move(h.name), std::move(h.value));
    }
    return filter_->onRequestHeaders(request_, true);
  }

  // The id the filter draws from FakeStreamControl's SeededRandom(42).
  static std::string expectedId() {
    proxy::SeededRandom random(42);
    const uint64_t high = random.next();
    return makeJobId(high, random.next());
  }

  // Makes the filter with `p`, sends the request and fires the conversion timer.
  void convert(AsyncPolicy p = policy()) {
    const size_t detached = control_.detached.size();
    make(p);
    sendRequest();
    ASSERT_FALSE(control_.timers.empty());
    control_.fireTimer(control_.timers.size() - 1);
    ASSERT_EQ(control_.detached.size(), detached + 1);
  }

  std::optional<JobView> job(const std::string& id) {
    std::optional<JobView> view;
    store_.get(wall_, id, [&](StoreStatus, std::optional<JobView> v) { view = std::move(v); });
    return view;
  }

  void sendData(std::string_view bytes, bool end_stream) {
    proxy::EvBufferPtr buffer = proxy::makeEvBuffer();
    evbuffer_add(buffer.get(), bytes.data(), bytes.size());
    filter_->onResponseData(buffer.get(), end_stream);
    EXPECT_EQ(evbuffer_get_length(buffer.get()), bytes.size()) << "the filter drained the data";
  }

  proxy::RequestHead request_;
  proxy::testing::FakeStreamControl control_;
  MemoryJobStore store_{JobStoreLimits{}};
  JobStore::TimePoint wall_ = kWallT0;
  std::unique_ptr<AsyncFilterFactory> factory_;
  std::unique_ptr<proxy::HttpFilter> filter_;
  AsyncFilter* async_ = nullptr;
};

TEST_F(AsyncFilterTest, FastResponsePassesThroughAndIsNeverConverted) {
  make(policy());
  EXPECT_EQ(sendRequest(), FilterStatus::Continue);
  ASSERT_EQ(control_.timers.size(), 1U);
  EXPECT_TRUE(control_.timers[0]->armed);
  EXPECT_EQ(control_.timers[0]->after, milliseconds(500));

  ResponseHead response = head(200, {{"content-length", "2"}});
  EXPECT_EQ(filter_->onResponseHeaders(response, false), FilterStatus::Continue);
  EXPECT_EQ(fields(response.headers), (Fields{{"content-length", "2"}}));
  EXPECT_FALSE(control_.timers[0]->armed);
  control_.timers[0]->armed = true; // even a late timer event converts nothing
  control_.fireTimer(0);
  sendData("ok", true);
  filter_->onStreamDone(control_.info());

  EXPECT_TRUE(control_.detached.empty());
  EXPECT_TRUE(control_.bound_jobs.empty());
  EXPECT_TRUE(control_.responses.empty());
  EXPECT_EQ(store_.counters().accepted, 0U);
  EXPECT_EQ(store_.size(), 0U);
}

TEST_F(AsyncFilterTest, TimerFiringSendsTheExact202AndBindsAProcessingJob) {
  convert();
  const std::string id = expectedId();
  ASSERT_TRUE(isJobId(id));
  EXPECT_EQ(async_->jobId(), id);
  const std::string url = "/.seawall/jobs/" + id;
  EXPECT_EQ(control_.detached[0].head.status, 202);
  EXPECT_EQ(fields(control_.detached[0].head.headers),
            (Fields{{"location", url},
                    {"x-status-url", url},
                    {"retry-after", "2"},
                    {"content-type", "application/json"}}));
  EXPECT_EQ(control_.detached[0].body,
            R"({"id":")" + id + R"(","state":"PROCESSING","status_url":")" + url + R"("})");
  EXPECT_EQ(control_.bound_jobs, std::vector<std::string>{id});
  EXPECT_TRUE(control_.responses.empty());

  const std::optional<JobView> view = job(id);
  ASSERT_TRUE(view.has_value());
  EXPECT_EQ(view->state, JobState::Processing);
  EXPECT_EQ(view->method, "POST");
  EXPECT_EQ(view->path, "/stock/lookup?sku=42");
  EXPECT_EQ(view->created, kWallT0);
  EXPECT_EQ(view->expires, kWallT0 + milliseconds(60000));
}

TEST_F(AsyncFilterTest, UploadStillComingDefersTheConversion) {
  control_.info().request_complete = false;
  make(policy());
  sendRequest();
  ASSERT_EQ(1U, control_.timers.size());
  control_.fireTimer(0);
  EXPECT_TRUE(control_.detached.empty()) << "no 202 while the body is still arriving";
  EXPECT_TRUE(control_.timers[0]->armed) << "it looks again later";
  EXPECT_EQ(0U, store_.counters().accepted);
  control_.info().request_complete = true;
  control_.fireTimer(0);
  EXPECT_EQ(1U, control_.detached.size());
}

// Hold while down: "the cluster is down" replies turn an idempotent request into a job at once,
// and each later "still down" schedules another attempt with a growing backoff.
TEST_F(AsyncFilterTest, QueueWhileDownHoldsIdempotentRequests) {
  struct Case {
    const char* name;
    const char* method;
    const char* idempotency_key; // nullptr: none
    proxy::ResponseSource source;
    const char* reason;
    bool held;
  };
  using RS = proxy::ResponseSource;
  const std::vector<Case> cases = {
      {"breaker open, GET", "GET", nullptr, RS::Filter, "breaker-open", true},
      {"connect failure, PUT", "PUT", nullptr, RS::AttemptFailure, "upstream-connect-failure",
       true},
      {"no endpoint, POST with key", "POST", "k1", RS::AttemptFailure, "no-healthy-upstream", true},
      {"POST without key", "POST", nullptr, RS::AttemptFailure, "upstream-connect-failure", false},
      {"a timeout is not 'down'", "GET", nullptr, RS::Filter, "timeout-request", false},
      {"an upstream 503 is an answer", "GET", nullptr, RS::Upstream, "", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    proxy::testing::FakeStreamControl control;
    proxy::RequestHead request;
    request.method = c.method;
    request.path = "/orders";
    if (c.idempotency_key != nullptr) {
      request.headers.add("idempotency-key", c.idempotency_key);
    }
    control.info().request = &request;
    control.info().request_complete = true;
    control.info().body_kept = true;
    AsyncPolicy p = policy();
    p.queue_while_down = true;
    MemoryJobStore store{JobStoreLimits{}};
    AsyncFilterFactory factory(p, &store, [this] { return wall_; });
    auto filter = factory.create(control);
    filter->onRequestHeaders(request, true);
    control.info().response_source = c.source;
    control.info().local_reason = c.reason;
    proxy::ResponseHead head{503, {}};
    const FilterStatus first = filter->onResponseHeaders(head, true);
    if (!c.held) {
      EXPECT_EQ(FilterStatus::Continue, first);
      EXPECT_TRUE(control.detached.empty());
      EXPECT_EQ(0U, store.counters().accepted);
      continue;
    }
    EXPECT_EQ(FilterStatus::StopIteration, first);
    ASSERT_EQ(1U, control.detached.size());
    EXPECT_EQ(202, control.detached[0].head.status);
    ASSERT_EQ(1U, control.retries.size());
    EXPECT_LE(control.retries[0], p.hold_backoff.base);
    // Still down on the next attempt: held again, never failed while within retention.
    EXPECT_EQ(FilterStatus::StopIteration, filter->onResponseHeaders(head, true));
    ASSERT_EQ(2U, control.retries.size());
    EXPECT_LE(control.retries[1], 2 * p.hold_backoff.base);
    EXPECT_EQ(1U, store.jobs(JobState::Processing));
    // The cluster answers: the job completes with that answer.
    control.info().response_source = RS::Upstream;
    control.info().local_reason.clear();
    proxy::ResponseHead ok{200, {}};
    EXPECT_EQ(FilterStatus::Continue, filter->onResponseHeaders(ok, true));
    EXPECT_EQ(1U, store.jobs(JobState::Completed));
  }
}

TEST_F(AsyncFilterTest, FinalResponseIsCapturedByteForByte) {
  convert();
  ResponseHead response = head(201, {{"content-type", "application/octet-stream"},
                                     {"content-length", "11"},
                                     {"connection", "keep-alive"},
                                     {"transfer-encoding", "chunked"},
                                     {"x-trace", "a"},
                                     {"x-trace", "b"}});
  EXPECT_EQ(filter_->onResponseHeaders(response, false), FilterStatus::Continue);
  const std::string body("ab\0c\xff\r\nxyz", 10);
  sendData(body.substr(0, 3), false);
  sendData("", false);
  sendData(body.substr(3, 4), false);
  sendData(body.substr(7), false);
  EXPECT_EQ(job(expectedId())->state, JobState::Processing);
  proxy::HeaderMap trailers;
  trailers.add("grpc-status", "0");
  filter_->onResponseTrailers(trailers);
  filter_->onStreamDone(control_.info());

  const std::optional<JobView> view = job(expectedId());
  ASSERT_TRUE(view.has_value());
  ASSERT_EQ(view->state, JobState::Completed);
  ASSERT_NE(view->result, nullptr);
  EXPECT_EQ(view->result->status, 201);
  EXPECT_EQ(
      view->result->headers,
      (Fields{{"content-type", "application/octet-stream"}, {"x-trace", "a"}, {"x-trace", "b"}}));
  EXPECT_EQ(view->result->body, body);
  EXPECT_EQ(view->result->trailers, (Fields{{"grpc-status", "0"}}));
  EXPECT_TRUE(control_.resets.empty());
}

TEST_F(AsyncFilterTest, ResponseEndingOnHeadersOrDataCompletes) {
  struct Case {
    const char* name;
    bool end_on_headers;
  };
  for (const Case& c : {Case{"headers", true}, Case{"data", false}}) {
    SCOPED_TRACE(c.name);
    control_.detached.clear();
    convert();
    ResponseHead response = head(204);
    filter_->onResponseHeaders(response, c.end_on_headers);
    if (!c.end_on_headers) {
      sendData("done", true);
    }
    const std::optional<JobView> view = job(async_->jobId());
    ASSERT_TRUE(view.has_value());
    EXPECT_EQ(view->state, JobState::Completed);
    EXPECT_EQ(view->result->body, c.end_on_headers ? "" : "done");
    filter_->onStreamDone(control_.info()); // already final: stays COMPLETED
    EXPECT_EQ(job(async_->jobId())->state, JobState::Completed);
  }
}

TEST_F(AsyncFilterTest, LocalFailureAfterConversionFailsTheJobWithItsReason) {
  struct Case {
    ResponseSource source;
    int status;
    const char* reason;
  };
  const std::vector<Case> cases = {
      {ResponseSource::Filter, 504, "timeout-request"},
      {ResponseSource::Filter, 503, "breaker-open"},
      {ResponseSource::AttemptFailure, 503, "upstream-connect-failure"},
      {ResponseSource::AttemptFailure, 502, "upstream-reset"}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.reason);
    control_.detached.clear();
    control_.info().local_reason.clear();
    convert();
    control_.info().response_source = c.source;
    control_.info().local_reason = c.reason;
    ResponseHead reply = head(c.status, {{"x-seawall-reason", c.reason}});
    EXPECT_EQ(filter_->onResponseHeaders(reply, false), FilterStatus::Continue);
    sendData("local reply text", true);
    filter_->onStreamDone(control_.info());
    const std::optional<JobView> view = job(async_->jobId());
    ASSERT_TRUE(view.has_value());
    EXPECT_EQ(view->state, JobState::Failed);
    EXPECT_EQ(view->failure_reason, c.reason);
  }
}

TEST_F(AsyncFilterTest, FallbackResponseIsAResult) {
  convert();
  control_.info().response_source = ResponseSource::Fallback;
  control_.info().local_reason = "upstream-reset"; // the failure the fallback replaced
  control_.info().fallback = "static";
  ResponseHead response = head(200, {{"x-seawall-fallback", "static"}});
  filter_->onResponseHeaders(response, false);
  sendData(R"({"stale":true})", true);
  const std::optional<JobView> view = job(expectedId());
  ASSERT_TRUE(view.has_value());
  ASSERT_EQ(view->state, JobState::Completed);
  EXPECT_EQ(view->result->headers, (Fields{{"x-seawall-fallback", "static"}}));
  EXPECT_EQ(view->result->body, R"({"stale":true})");
}

TEST_F(AsyncFilterTest, ResultOverMaxResultBytesFailsAndResets) {
  struct Case {
    std::vector<std::string> chunks;
    bool too_large;
  };
  const std::vector<Case> cases = {{{"123456", "7890"}, false}, // exactly max: fits
                                   {{"123456", "78901"}, true}, // one byte over
                                   {{"12345678901"}, true}};    // one chunk over
  for (const Case& c : cases) {
    SCOPED_TRACE(c.chunks.size());
    control_.detached.clear();
    control_.resets.clear();
    AsyncPolicy p = policy();
    p.max_result_bytes = 10;
    convert(p);
    ResponseHead response = head(200);
    filter_->onResponseHeaders(response, false);
    for (size_t i = 0; i < c.chunks.size(); ++i) {
      sendData(c.chunks[i], i + 1 == c.chunks.size());
    }
    filter_->onStreamDone(control_.info());
    const std::optional<JobView> view = job(async_->jobId());
    ASSERT_TRUE(view.has_value());
    if (c.too_large) {
      EXPECT_EQ(view->state, JobState::Failed);
      EXPECT_EQ(view->failure_reason, "result-too-large");
      EXPECT_EQ(control_.resets, std::vector<std::string>{"result-too-large"});
    } else {
      EXPECT_EQ(view->state, JobState::Completed);
      EXPECT_EQ(view->result->body, "1234567890");
      EXPECT_TRUE(control_.resets.empty());
    }
  }
}

TEST_F(AsyncFilterTest, FullStoreAnswers503AndConvertsNothing) {
  MemoryJobStore full(JobStoreLimits{1, size_t{1} << 20});
  full.create(kWallT0, makeJobId(1, 1), milliseconds(60000), "GET", "/", {});
  make(policy(), &full);
  sendRequest();
  control_.fireTimer(0);

  EXPECT_TRUE(control_.detached.empty());
  EXPECT_TRUE(control_.bound_jobs.empty());
  ASSERT_EQ(control_.responses.size(), 1U);
  EXPECT_EQ(control_.responses[0].head.status, 503);
  EXPECT_EQ(fields(control_.responses[0].head.headers),
            (Fields{{"retry-after", "2"},
                    {"x-seawall-reason", "async-store-full"},
                    {"content-type", "text/plain"}}));
  EXPECT_EQ(control_.responses[0].body, "async job store is full");
  EXPECT_EQ(full.counters().rejected, 1U);
  EXPECT_EQ(full.size(), 1U);
  ResponseHead late = head(200);
  EXPECT_EQ(filter_->onResponseHeaders(late, true), FilterStatus::Continue);
  filter_->onStreamDone(control_.info());
  EXPECT_EQ(full.counters().failed, 0U);
}

TEST_F(AsyncFilterTest, PreferRespondAsyncDecidesConversion) {
  struct Case {
    std::vector<proxy::Header> headers;
    bool converts;
  };
  const std::vector<Case> cases = {
      {{}, false},
      {{{"prefer", "respond-async"}}, true},
      {{{"prefer", "Respond-Async; foo=bar"}}, true},
      {{{"prefer", "handling=lenient, RESPOND-ASYNC"}}, true},
      {{{"prefer", "return=minimal"}, {"prefer", "respond-async"}}, true},
      {{{"prefer", "handling=lenient"}}, false},
      {{{"prefer", "respond-asyncx"}}, false},
      {{{"prefer", R"(foo="respond-async")"}}, false},
      {{{"x-prefer", "respond-async"}}, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.headers.empty() ? "" : c.headers.back().value);
    control_.timers.clear();
    request_.headers.clear();
    AsyncPolicy p = policy();
    p.only_when_preferred = true;
    make(p);
    sendRequest(c.headers);
    ASSERT_EQ(control_.timers.size(), c.converts ? 1U : 0U);
    if (c.converts) {
      EXPECT_EQ(control_.timers[0]->after, milliseconds(500));
      control_.fireTimer(0);
      EXPECT_EQ(control_.bound_jobs.size(), 1U);
      control_.bound_jobs.clear();
    }
  }
}

TEST_F(AsyncFilterTest, PreferWaitLowersAfterOnly) {
  struct Case {
    const char* prefer;
    milliseconds armed;
  };
  const std::vector<Case> cases = {
      {"wait=1", milliseconds(1000)},
      {"respond-async, wait=1", milliseconds(1000)},
      {"wait=0", milliseconds(0)},
      {"wait=10", milliseconds(5000)},
      {"wait=\"2\"", milliseconds(2000)},
      {"wait=1, wait=0", milliseconds(1000)},
      {"wait=-1", milliseconds(5000)},
      {"wait=1s", milliseconds(5000)},
      {"wait=99999999999999999999999", milliseconds(5000)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.prefer);
    control_.timers.clear();
    request_.headers.clear();
    AsyncPolicy p = policy();
    p.after = milliseconds(5000);
    make(p);
    sendRequest({{"prefer", c.prefer}});
    ASSERT_EQ(control_.timers.size(), 1U);
    EXPECT_TRUE(control_.timers[0]->armed);
    EXPECT_EQ(control_.timers[0]->after, c.armed);
  }
}

TEST(ParsePreferencesTest, Rfc7240Forms) {
  struct Case {
    const char* value;
    bool respond_async;
    std::optional<int64_t> wait;
  };
  const std::vector<Case> cases = {
      {"", false, std::nullopt},
      {"respond-async", true, std::nullopt},
      {" respond-async ; x=1 , wait = 30 ", true, 30},
      {"WAIT=7;param", false, 7},
      {"foo=\"a,wait=3\", respond-async", true, std::nullopt},
      {"wait=", false, std::nullopt},
      {"wait=100000000", false, 86400},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.value);
    proxy::HeaderMap headers;
    headers.add("prefer", c.value);
    const Preferences prefs = parsePreferences(headers);
    EXPECT_EQ(prefs.respond_async, c.respond_async);
    ASSERT_EQ(prefs.wait.has_value(), c.wait.has_value());
    if (c.wait.has_value()) {
      EXPECT_EQ(prefs.wait->count(), *c.wait);
    }
  }
}

TEST_F(AsyncFilterTest, StreamDoneBeforeTheResultFailsTheJob) {
  struct Case {
    const char* name;
    bool headers_seen;
    std::optional<proxy::AttemptFailure> failure;
    const char* reason;
  };
  const std::vector<Case> cases = {
      {"nothing", false, std::nullopt, "aborted"},
      {"mid-body", true, std::nullopt, "upstream-reset"},
      {"mid-body-ok-attempt", true, proxy::AttemptFailure::None, "upstream-reset"},
      {"reset", true, proxy::AttemptFailure::Reset, "upstream-reset"},
      {"timeout", false, proxy::AttemptFailure::Timeout, "upstream-timeout"},
      {"cancelled", false, proxy::AttemptFailure::Cancelled, "cancelled"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    control_.detached.clear();
    control_.info().last_attempt.reset();
    convert();
    if (c.headers_seen) {
      ResponseHead response = head(200);
      filter_->onResponseHeaders(response, false);
      sendData("partial", false);
    }
    if (c.failure.has_value()) {
      control_.info().last_attempt = proxy::AttemptResult{};
      control_.info().last_attempt->failure = *c.failure;
    }
    filter_->onStreamDone(control_.info());
    const std::optional<JobView> view = job(async_->jobId());
    ASSERT_TRUE(view.has_value());
    EXPECT_EQ(view->state, JobState::Failed);
    EXPECT_EQ(view->failure_reason, c.reason);
  }
}

TEST_F(AsyncFilterTest, UndetachableStreamEndsTheJobNotConverted) {
  control_.detach_result = false;
  make(policy());
  sendRequest();
  control_.fireTimer(0);
  EXPECT_TRUE(control_.bound_jobs.empty());
  const std::optional<JobView> view = job(expectedId());
  ASSERT_TRUE(view.has_value());
  EXPECT_EQ(view->state, JobState::Failed);
  EXPECT_EQ(view->failure_reason, "not-converted");
  ResponseHead response = head(200);
  EXPECT_EQ(filter_->onResponseHeaders(response, true), FilterStatus::Continue);
  EXPECT_EQ(job(expectedId())->failure_reason, "not-converted");
}

TEST_F(AsyncFilterTest, ResponseAlreadyStartedWhenTheTimerFiresCreatesNoJob) {
  make(policy());
  sendRequest();
  control_.info().response_started = true;
  control_.fireTimer(0);
  EXPECT_TRUE(control_.detached.empty());
  EXPECT_EQ(store_.counters().accepted, 0U);
}

TEST_F(AsyncFilterTest, DeferredStoreAnswersAreHandled) {
  struct Case {
    const char* name;
    bool response_meanwhile;
    bool destroy_meanwhile;
    bool converted;
  };
  const std::vector<Case> cases = {{"normal", false, false, true},
                                   {"response-meanwhile", true, false, false},
                                   {"filter-gone", false, true, false}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    control_.detached.clear();
    control_.bound_jobs.clear();
    control_.timers.clear();
    DeferredStore deferred(store_);
    make(policy(), &deferred);
    sendRequest();
    control_.fireTimer(0);
    ASSERT_EQ(deferred.pending(), 1U);
    const std::string id = async_->jobId();
    if (c.response_meanwhile) {
      ResponseHead response = head(200);
      EXPECT_EQ(filter_->onResponseHeaders(response, true), FilterStatus::Continue);
    }
    if (c.destroy_meanwhile) {
      filter_->onStreamDone(control_.info());
      filter_.reset();
    }
    deferred.release();
    EXPECT_EQ(control_.detached.size(), c.converted ? 1U : 0U);
    const std::optional<JobView> view = job(id);
    ASSERT_TRUE(view.has_value());
    if (c.converted) {
      EXPECT_EQ(view->state, JobState::Processing);
      EXPECT_EQ(control_.bound_jobs, std::vector<std::string>{id});
    } else {
      EXPECT_EQ(view->state, JobState::Failed);
      EXPECT_EQ(view->failure_reason, "not-converted");
      EXPECT_TRUE(control_.bound_jobs.empty());
    }
    filter_.reset();
  }
}

TEST_F(AsyncFilterTest, DestructionDisarmsTheTimer) {
  make(policy());
  sendRequest();
  ASSERT_TRUE(control_.timers[0]->alive);
  filter_.reset();
  EXPECT_FALSE(control_.timers[0]->alive);
  control_.fireTimer(0); // no effect on a dropped timer
  EXPECT_EQ(store_.counters().accepted, 0U);
}

TEST(AsyncPolicyTest, FromConfig) {
  config::AsyncConfig c;
  c.after = milliseconds(250);
  c.when = config::AsyncConfig::When::PreferRespondAsync;
  c.retry_after = milliseconds(1500);
  c.retention = milliseconds(30000);
  c.max_result_bytes = 77;
  const AsyncPolicy p = AsyncPolicy::fromConfig(c);
  EXPECT_EQ(p.after, milliseconds(250));
  EXPECT_TRUE(p.only_when_preferred);
  EXPECT_EQ(p.retry_after, seconds(2));
  EXPECT_EQ(p.retention, milliseconds(30000));
  EXPECT_EQ(p.max_result_bytes, 77U);
  c.when = config::AsyncConfig::When::Always;
  EXPECT_FALSE(AsyncPolicy::fromConfig(c).only_when_preferred);
}

} // namespace
} // namespace seawall::filters::async_202
