#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "filters/fallback/fallback_filter.h"
#include "proxy/common/event_ptr.h"
#include "proxy/stats/worker_stats.h"
#include "tests/unit/proxy/fake_stream_control.h"

namespace seawall::filters::fallback {
namespace {

using proxy::FilterStatus;
using proxy::ResponseHead;
using proxy::ResponseSource;
using proxy::stats::FallbackKind;
using Kind = config::FallbackConfig::Kind;
using std::chrono::milliseconds;

ResponseHead head(int status, std::vector<proxy::Header> headers = {}) {
  ResponseHead h;
  h.status = status;
  for (proxy::Header& header : headers) {
    h.headers.add(std::move(header.name), std::move(header.value));
  }
  return h;
}

config::FallbackConfig staticConfig() {
  config::FallbackConfig c;
  c.kind = Kind::Static;
  c.status = 200;
  c.headers = {{"content-type", "application/json"}, {"content-length", "999"}};
  c.body = R"({"items":[],"stale":true})";
  return c;
}

config::FallbackConfig clusterConfig() {
  config::FallbackConfig c;
  c.kind = Kind::Cluster;
  c.cluster = "backup";
  return c;
}

config::FallbackConfig lastGoodConfig() {
  config::FallbackConfig c;
  c.kind = Kind::LastGood;
  return c;
}

class FallbackFilterTest : public ::testing::Test {
protected:
  FallbackFilterTest() {
    route_.cluster = "inventory";
    request_.method = "GET";
    request_.path = "/items?page=2";
    control_.info().route = &route_;
    control_.info().request = &request_;
  }

  void use(const config::FallbackConfig& config) {
    filter_.reset();
    factory_ = std::make_unique<FallbackFilterFactory>(config, &cache_);
    filter_ = factory_->create(control_);
  }

  // The response passing through: a local reply when `reason` is set, else the upstream's.
  FilterStatus deliver(ResponseHead& h, const std::string& reason = "",
                       ResponseSource source = ResponseSource::Filter, bool end_stream = true) {
    control_.info().local_reason = reason;
    control_.info().response_source = reason.empty() ? ResponseSource::Upstream : source;
    return filter_->onResponseHeaders(h, end_stream);
  }
  FilterStatus deliver(ResponseHead&& h, const std::string& reason = "",
                       ResponseSource source = ResponseSource::Filter) {
    return deliver(h, reason, source);
  }

  uint64_t fallbacks(FallbackKind kind, const std::string& cluster = "inventory") {
    return control_.cluster_stats[cluster].fallbackCount(kind);
  }

  // An upstream 2xx response with a body sent in `chunks`; returns the evbuffer lengths seen after
  // each onResponseData (the filter must not drain them).
  std::vector<size_t> upstreamBody(ResponseHead h, const std::vector<std::string>& chunks) {
    EXPECT_EQ(FilterStatus::Continue, deliver(h, "", ResponseSource::Upstream, chunks.empty()));
    std::vector<size_t> lengths;
    for (size_t i = 0; i < chunks.size(); ++i) {
      proxy::EvBufferPtr buffer = proxy::makeEvBuffer();
      evbuffer_add(buffer.get(), chunks[i].data(), chunks[i].size());
      filter_->onResponseData(buffer.get(), i + 1 == chunks.size());
      lengths.push_back(evbuffer_get_length(buffer.get()));
    }
    return lengths;
  }

  config::Route route_;
  proxy::RequestHead request_;
  proxy::testing::FakeStreamControl control_;
  LastGoodCache cache_{milliseconds(60000), 4096};
  std::unique_ptr<FallbackFilterFactory> factory_;
  std::unique_ptr<proxy::HttpFilter> filter_;
};

TEST_F(FallbackFilterTest, NameIsFallback) {
  use(staticConfig());
  EXPECT_EQ("fallback", factory_->name());
}

struct TriggerCase {
  const char* name;
  ResponseHead response;
  std::string local_reason; // empty: the upstream's response
  ResponseSource source;
  bool on_upstream_5xx;
  bool triggers;
};

TEST_F(FallbackFilterTest, StaticTriggersAndNonTriggers) {
  const auto grpc = [](const char* status) { return head(200, {{"grpc-status", status}}); };
  const std::vector<TriggerCase> cases = {
      {"breaker open", head(503), "breaker-open", ResponseSource::Filter, true, true},
      {"overflow", head(503), "overflow-max_requests", ResponseSource::Filter, false, true},
      {"timeout", head(504), "timeout-request", ResponseSource::Filter, true, true},
      {"connect failure", head(503), "connect-failure", ResponseSource::AttemptFailure, false,
       true},
      {"grpc local failure", grpc("14"), "breaker-open", ResponseSource::Filter, true, true},
      {"grpc local ok", grpc("0"), "some-reason", ResponseSource::Filter, true, false},
      {"local 4xx", head(429), "rate-limited", ResponseSource::Filter, true, false},
      {"upstream 500", head(500), "", ResponseSource::Upstream, true, true},
      {"upstream 503 not enabled", head(503), "", ResponseSource::Upstream, false, false},
      {"upstream 404", head(404), "", ResponseSource::Upstream, true, false},
      {"upstream 429", head(429), "", ResponseSource::Upstream, true, false},
      {"upstream 200", head(200), "", ResponseSource::Upstream, true, false},
  };
  for (const TriggerCase& c : cases) {
    SCOPED_TRACE(c.name);
    control_.responses.clear();
    control_.cluster_stats.clear();
    control_.info().fallback.clear();
    config::FallbackConfig config = staticConfig();
    config.on_upstream_5xx = c.on_upstream_5xx;
    use(config);
    ResponseHead h = c.response;
    const FilterStatus status = deliver(h, c.local_reason, c.source);
    EXPECT_EQ(c.triggers ? FilterStatus::StopIteration : FilterStatus::Continue, status);
    EXPECT_EQ(c.triggers ? 1U : 0U, control_.responses.size());
    EXPECT_EQ(c.triggers ? 1U : 0U, fallbacks(FallbackKind::Static));
    EXPECT_EQ(c.triggers ? "static" : "", control_.info().fallback);
    EXPECT_FALSE(h.headers.has("x-seawall-fallback"));
  }
}

TEST_F(FallbackFilterTest, StaticResponseHasConfiguredStatusHeadersAndBody) {
  config::FallbackConfig config = staticConfig();
  config.status = 203;
  use(config);
  EXPECT_EQ(FilterStatus::StopIteration, deliver(head(503), "breaker-open"));
  ASSERT_EQ(1U, control_.responses.size());
  const auto& r = control_.responses[0];
  EXPECT_EQ(203, r.head.status);
  ASSERT_NE(nullptr, r.head.headers.get("content-type"));
  EXPECT_EQ("application/json", *r.head.headers.get("content-type"));
  ASSERT_NE(nullptr, r.head.headers.get("x-seawall-fallback"));
  EXPECT_EQ("static", *r.head.headers.get("x-seawall-fallback"));
  EXPECT_FALSE(r.head.headers.has("content-length")); // the codec frames it
  EXPECT_EQ(config.body, r.body);
}

TEST_F(FallbackFilterTest, UsedOnlyOnce) {
  use(staticConfig());
  EXPECT_EQ(FilterStatus::StopIteration, deliver(head(503), "breaker-open"));
  EXPECT_EQ(FilterStatus::Continue, deliver(head(503), "timeout-request"));
  EXPECT_EQ(FilterStatus::Continue, deliver(head(500)));
  EXPECT_EQ(1U, control_.responses.size());
  EXPECT_EQ(1U, fallbacks(FallbackKind::Static));
}

TEST_F(FallbackFilterTest, ClusterSwitchesAndMarksLaterResponses) {
  use(clusterConfig());
  EXPECT_EQ(FilterStatus::StopIteration, deliver(head(503), "breaker-open"));
  EXPECT_EQ(std::vector<std::string>{"backup"}, control_.switched);
  EXPECT_EQ("cluster", control_.info().fallback);
  EXPECT_EQ(1U, fallbacks(FallbackKind::Cluster));

  ResponseHead ok = head(200);
  EXPECT_EQ(FilterStatus::Continue, deliver(ok));
  ASSERT_NE(nullptr, ok.headers.get("x-seawall-fallback"));
  EXPECT_EQ("cluster", *ok.headers.get("x-seawall-fallback"));

  // The fallback cluster failing too: no second fallback, but still marked.
  ResponseHead failed = head(503);
  EXPECT_EQ(FilterStatus::Continue, deliver(failed, "breaker-open"));
  EXPECT_TRUE(failed.headers.has("x-seawall-fallback"));
  EXPECT_EQ(1U, control_.switched.size());
  EXPECT_EQ(1U, fallbacks(FallbackKind::Cluster));
  EXPECT_EQ(0U, fallbacks(FallbackKind::Cluster, "backup"));
}

TEST_F(FallbackFilterTest, RefusedClusterSwitchLetsTheFailureThrough) {
  use(clusterConfig());
  control_.switch_result = false;
  ResponseHead h = head(503);
  EXPECT_EQ(FilterStatus::Continue, deliver(h, "breaker-open"));
  EXPECT_EQ(1U, control_.switched.size());
  EXPECT_EQ("", control_.info().fallback);
  EXPECT_FALSE(h.headers.has("x-seawall-fallback"));
  EXPECT_EQ(0U, fallbacks(FallbackKind::Cluster));
}

TEST_F(FallbackFilterTest, LastGoodCapturesAndReplays) {
  use(lastGoodConfig());
  const std::vector<size_t> lengths = upstreamBody(head(200, {{"content-type", "text/plain"},
                                                              {"content-length", "11"},
                                                              {"connection", "keep-alive"},
                                                              {"etag", "\"v1\""}}),
                                                   {"hello", " ", "world"});
  EXPECT_EQ((std::vector<size_t>{5, 1, 5}), lengths); // observed, never drained
  ASSERT_EQ(1U, cache_.size());
  const auto cached = cache_.get(control_.now(), "GET /items?page=2");
  ASSERT_NE(nullptr, cached);
  EXPECT_EQ(200, cached->status);
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ((Pairs{{"content-type", "text/plain"}, {"etag", "\"v1\""}}), cached->headers);
  EXPECT_EQ("hello world", cached->body);
  EXPECT_EQ(0U, fallbacks(FallbackKind::LastGood));

  control_.advance(milliseconds(1000));
  use(lastGoodConfig()); // a later stream for the same request
  EXPECT_EQ(FilterStatus::StopIteration, deliver(head(504), "timeout-request"));
  ASSERT_EQ(1U, control_.responses.size());
  const auto& r = control_.responses[0];
  EXPECT_EQ(200, r.head.status);
  EXPECT_EQ("hello world", r.body);
  ASSERT_NE(nullptr, r.head.headers.get("x-seawall-fallback"));
  EXPECT_EQ("last-good", *r.head.headers.get("x-seawall-fallback"));
  EXPECT_EQ("\"v1\"", *r.head.headers.get("etag"));
  EXPECT_EQ("last-good", control_.info().fallback);
  EXPECT_EQ(1U, fallbacks(FallbackKind::LastGood));
}

TEST_F(FallbackFilterTest, LastGoodMissLetsTheFailureThrough) {
  use(lastGoodConfig());
  upstreamBody(head(200), {"old"});
  request_.path = "/items?page=3"; // another query: another key
  use(lastGoodConfig());
  EXPECT_EQ(FilterStatus::Continue, deliver(head(503), "breaker-open"));
  EXPECT_TRUE(control_.responses.empty());
  EXPECT_EQ(0U, fallbacks(FallbackKind::LastGood));
  EXPECT_EQ("", control_.info().fallback);
}

TEST_F(FallbackFilterTest, LastGoodExpiresAfterTtl) {
  use(lastGoodConfig());
  upstreamBody(head(200), {"old"});
  control_.advance(milliseconds(60000));
  use(lastGoodConfig());
  EXPECT_EQ(FilterStatus::Continue, deliver(head(503), "breaker-open"));
  EXPECT_EQ(0U, fallbacks(FallbackKind::LastGood));
}

TEST_F(FallbackFilterTest, HeadersOnlyResponseIsCaptured) {
  use(lastGoodConfig());
  upstreamBody(head(204, {{"x-a", "1"}}), {});
  const auto cached = cache_.get(control_.now(), "GET /items?page=2");
  ASSERT_NE(nullptr, cached);
  EXPECT_EQ(204, cached->status);
  EXPECT_EQ("", cached->body);
}

TEST_F(FallbackFilterTest, HeadIsCapturedUnderItsOwnKey) {
  request_.method = "HEAD";
  use(lastGoodConfig());
  upstreamBody(head(200), {});
  EXPECT_NE(nullptr, cache_.get(control_.now(), "HEAD /items?page=2"));
  EXPECT_EQ(nullptr, cache_.get(control_.now(), "GET /items?page=2"));
}

TEST_F(FallbackFilterTest, WhatIsNotCaptured) {
  struct Case {
    const char* name;
    const char* method;
    int status;
    std::string local_reason;
  };
  const std::vector<Case> cases = {
      {"POST", "POST", 200, ""},
      {"404", "GET", 404, ""},
      {"301", "GET", 301, ""},
      {"local 200", "GET", 200, "some-local-reply"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    request_.method = c.method;
    use(lastGoodConfig());
    ResponseHead h = head(c.status);
    deliver(h, c.local_reason, ResponseSource::Filter, false);
    proxy::EvBufferPtr buffer = proxy::makeEvBuffer();
    evbuffer_add(buffer.get(), "body", 4);
    filter_->onResponseData(buffer.get(), true);
    EXPECT_EQ(0U, cache_.size());
  }
}

TEST_F(FallbackFilterTest, ResponseWithTrailersIsNotStored) {
  use(lastGoodConfig());
  ResponseHead h = head(200);
  EXPECT_EQ(FilterStatus::Continue, deliver(h, "", ResponseSource::Upstream, false));
  proxy::EvBufferPtr buffer = proxy::makeEvBuffer();
  evbuffer_add(buffer.get(), "body", 4);
  filter_->onResponseData(buffer.get(), false);
  proxy::HeaderMap trailers;
  trailers.add("grpc-status", "0");
  filter_->onResponseTrailers(trailers);
  EXPECT_EQ(0U, cache_.size());
}

TEST_F(FallbackFilterTest, BodyOverTheBoundIsNotStored) {
  use(lastGoodConfig());
  upstreamBody(head(200), {std::string(3000, 'a'), std::string(1097, 'b')}); // 4097 > 4096
  EXPECT_EQ(0U, cache_.size());
  // Just under the body bound but over the entry bound (headers, key, overhead): put() refuses.
  use(lastGoodConfig());
  upstreamBody(head(200), {std::string(4096, 'a')});
  EXPECT_EQ(0U, cache_.size());
  use(lastGoodConfig());
  upstreamBody(head(200), {std::string(2000, 'a'), std::string(1000, 'b')});
  EXPECT_EQ(1U, cache_.size());
  EXPECT_LE(cache_.bytes(), cache_.maxBytes());
}

TEST_F(FallbackFilterTest, StaticAndClusterDoNotCapture) {
  for (const config::FallbackConfig& config : {staticConfig(), clusterConfig()}) {
    use(config);
    upstreamBody(head(200), {"x"});
  }
  EXPECT_EQ(0U, cache_.size());
}

// switchCluster() may run the new attempt synchronously (the fallback cluster's breaker is open):
// the reply it produces must pass, marked, without a second fallback.
class ReentrantControl : public proxy::testing::FakeStreamControl {
public:
  bool switchCluster(const std::string& cluster) override {
    FakeStreamControl::switchCluster(cluster);
    if (on_switch) {
      on_switch();
    }
    return true;
  }
  std::function<void()> on_switch;
};

TEST(FallbackReentrancyTest, ReplyDuringSwitchClusterIsNotFallenBackAgain) {
  ReentrantControl control;
  config::Route route;
  route.cluster = "inventory";
  control.info().route = &route;
  FallbackFilterFactory factory(clusterConfig(), nullptr);
  auto filter = factory.create(control);
  int nested = 0;
  control.on_switch = [&] {
    if (++nested > 1) {
      return; // a second switch: the test fails below, without unbounded recursion
    }
    ResponseHead inner = head(503);
    control.info().local_reason = "breaker-open";
    EXPECT_EQ(FilterStatus::Continue, filter->onResponseHeaders(inner, true));
    EXPECT_TRUE(inner.headers.has("x-seawall-fallback"));
  };
  ResponseHead outer = head(503);
  control.info().local_reason = "connect-failure";
  control.info().response_source = ResponseSource::AttemptFailure;
  EXPECT_EQ(FilterStatus::StopIteration, filter->onResponseHeaders(outer, true));
  EXPECT_EQ(1, nested);
  EXPECT_EQ(1U, control.switched.size());
  EXPECT_EQ(1U, control.cluster_stats["inventory"].fallbackCount(FallbackKind::Cluster));
}

} // namespace
} // namespace seawall::filters::fallback
