// Filter chain dispatch: one request's worth of hooks (request headers, attempt start and done,
// response headers and data, stream done) through N filters that do nothing, so what is measured
// is the chain itself (construction included: a chain is built per stream).
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <event2/buffer.h>

#include "proxy/common/random.h"
#include "proxy/filter_chain.h"
#include "proxy/http_filter.h"

namespace seawall::proxy {
namespace {

class NoopFilter final : public HttpFilter {};

class NoopFactory final : public FilterFactory {
public:
  std::unique_ptr<HttpFilter> create(StreamControl& /*control*/) const override {
    return std::make_unique<NoopFilter>();
  }
  std::string_view name() const override { return "noop"; }
};

class NullStream final : public FilterChainCallbacks {
public:
  void resumeRequestFrom(size_t /*index*/) override {}
  void replyFrom(size_t /*index*/, const LocalReply& /*reply*/) override {}
  void respondFrom(size_t /*index*/, ResponseHead /*head*/, std::string /*body*/) override {}
  void retryAttempt(std::chrono::milliseconds /*delay*/) override {}
  bool switchCluster(const std::string& /*cluster*/) override { return false; }
  void resetStream(std::string_view /*reason*/) override {}
  bool detachDownstreamFrom(size_t /*index*/, ResponseHead /*head*/,
                            std::string /*body*/) override {
    return false;
  }
  void bindJob(const std::string& /*id*/) override {}
  RequestHead& attemptRequest() override { return request_; }
  std::unique_ptr<Timer> createTimer(std::function<void()> /*on_fire*/) override { return nullptr; }
  std::chrono::steady_clock::time_point now() const override {
    return std::chrono::steady_clock::time_point{};
  }
  Random& random() override { return random_; }
  stats::ClusterStats* clusterStats(const std::string& /*cluster*/) override { return nullptr; }
  StreamInfo& info() override { return info_; }
  std::string logPrefix() const override { return ""; }

private:
  RequestHead request_;
  StreamInfo info_;
  SeededRandom random_{1};
};

void bmFilterChainDispatch(benchmark::State& state) {
  std::vector<std::unique_ptr<FilterFactory>> factories;
  for (int64_t i = 0; i < state.range(0); ++i) {
    factories.push_back(std::make_unique<NoopFactory>());
  }
  NullStream stream;
  RequestHead request;
  request.method = "GET";
  request.path = "/";
  ResponseHead response;
  response.status = 200;
  AttemptResult attempt;
  attempt.attempt = 1;
  attempt.status = 200;
  StreamInfo info;
  EvBufferPtr body = makeEvBuffer();
  for (auto _ : state) {
    FilterChain chain(stream, factories);
    size_t stopped_at = 0;
    benchmark::DoNotOptimize(chain.requestHeaders(0, request, true, stopped_at));
    benchmark::DoNotOptimize(chain.attemptStart(request));
    chain.attemptDone(attempt);
    benchmark::DoNotOptimize(chain.responseHeaders(chain.size(), response, false));
    chain.responseData(chain.size(), body.get(), true);
    chain.streamDone(info);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bmFilterChainDispatch)->Arg(0)->Arg(1)->Arg(5)->Arg(10);

} // namespace
} // namespace seawall::proxy
