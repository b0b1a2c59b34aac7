// BreakerStreamHub on a real event loop: admission (limit, draining, no source), the first event at
// once, one per interval, lagging clients skipped, detach, and the end of every stream on drain.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <event2/event.h>
#include <gtest/gtest.h>

#include "proxy/admin/breaker_stream.h"
#include "proxy/upstream/cluster_runtime.h"

namespace seawall::proxy::admin {
namespace {

using namespace std::chrono_literals;
using Hub = BreakerStreamHub;

class FakeSink : public EventSink {
public:
  void write(std::string_view bytes) override { written += bytes; }
  bool blocked() const override { return lagging; }
  void end() override { ++ends; }

  size_t events() const {
    size_t n = 0;
    for (size_t at = written.find("data: "); at != std::string::npos;
         at = written.find("data: ", at + 1)) {
      ++n;
    }
    return n;
  }

  std::string written;
  bool lagging = false;
  int ends = 0;
};

class BreakerStreamTest : public ::testing::Test {
protected:
  BreakerStreamTest() : base_(event_base_new()), dispatcher_(base_.get()) {
    config::Cluster inventory;
    inventory.name = "inventory";
    config::BreakerConfig b;
    b.window_calls = 10;
    b.minimum_calls = 4;
    b.failure_rate = 0.5;
    b.slow_call_duration = config::Duration(1000);
    inventory.breaker = b;
    runtime_ = std::make_unique<ClusterRuntime>(inventory);
  }

  AdminSources sources() {
    AdminSources s;
    s.cluster_runtimes = [this] { return std::vector<ClusterRuntime*>{runtime_.get()}; };
    s.draining = [this] { return draining_; };
    return s;
  }
  // Runs the loop for `d`.
  void run(std::chrono::milliseconds d) {
    timeval tv{0, static_cast<suseconds_t>(std::chrono::microseconds(d).count())};
    event_base_loopexit(base_.get(), &tv);
    event_base_loop(base_.get(), 0);
  }

  EventBasePtr base_;
  Dispatcher dispatcher_;
  std::unique_ptr<ClusterRuntime> runtime_;
  bool draining_ = false;
};

TEST(BreakerStreamInterval, DefaultAndBounds) {
  EXPECT_EQ(Hub::interval(""), 500ms);
  EXPECT_EQ(Hub::interval("other=1"), 500ms);
  EXPECT_EQ(Hub::interval("interval_ms=250"), 250ms);
  EXPECT_EQ(Hub::interval("a=b&interval_ms=2000"), 2000ms);
  EXPECT_EQ(Hub::interval("interval_ms=5"), 100ms);
  EXPECT_EQ(Hub::interval("interval_ms=-3"), 100ms);
  EXPECT_EQ(Hub::interval("interval_ms=60000"), 10000ms);
  EXPECT_EQ(Hub::interval("interval_ms=99999999999999999999999"), 10000ms);
  EXPECT_EQ(Hub::interval("interval_ms=fast"), 500ms);
  EXPECT_EQ(Hub::interval("interval_ms=300ms"), 500ms);
  EXPECT_EQ(Hub::interval("interval_ms="), 500ms);
}

TEST_F(BreakerStreamTest, FirstEventAtOnceThenOnePerInterval) {
  Hub hub(dispatcher_, sources());
  ASSERT_EQ(hub.admit(), Hub::Admission::Admitted);
  FakeSink sink;
  hub.attach(sink, 100ms);
  EXPECT_EQ(sink.written.rfind("retry: 1000\n\ndata: {\"at\":", 0), 0U) << sink.written;
  EXPECT_EQ(sink.events(), 1U);
  EXPECT_NE(sink.written.find(R"("name":"inventory","breaker":true,"state":"closed")"),
            std::string::npos)
      << sink.written;
  EXPECT_EQ(sink.written.substr(sink.written.size() - 3), "}\n\n");
  run(550ms);
  EXPECT_GE(sink.events(), 4U) << sink.written;
  EXPECT_LE(sink.events(), 7U) << sink.written;
  // The breaker opens: the next event says so.
  runtime_->breaker()->setMode(filters::circuit_breaker::Mode::ForcedOpen);
  run(150ms);
  const std::string last = sink.written.substr(sink.written.rfind("data: "));
  EXPECT_NE(last.find(R"("state":"forced_open")"), std::string::npos) << last;
  EXPECT_NE(last.find(R"("from":"closed","to":"forced_open")"), std::string::npos) << last;
  EXPECT_EQ(hub.clients(), 1U);
  EXPECT_EQ(sink.ends, 0);
}

TEST_F(BreakerStreamTest, LimitsClients) {
  Hub hub(dispatcher_, sources(), 2);
  FakeSink a;
  FakeSink b;
  hub.attach(a, 500ms);
  EXPECT_EQ(hub.admit(), Hub::Admission::Admitted);
  hub.attach(b, 500ms);
  EXPECT_EQ(hub.admit(), Hub::Admission::TooMany);
  hub.detach(a);
  hub.detach(a); // unknown now: no-op
  EXPECT_EQ(hub.clients(), 1U);
  EXPECT_EQ(hub.admit(), Hub::Admission::Admitted);
}

TEST_F(BreakerStreamTest, UnavailableWithoutRuntimes) {
  Hub hub(dispatcher_, AdminSources{});
  EXPECT_EQ(hub.admit(), Hub::Admission::Unavailable);
}

TEST_F(BreakerStreamTest, DetachedClientsGetNothingMore) {
  Hub hub(dispatcher_, sources());
  FakeSink sink;
  hub.attach(sink, 100ms);
  hub.detach(sink);
  run(350ms);
  EXPECT_EQ(sink.events(), 1U);
  EXPECT_EQ(sink.ends, 0) << "a client that went away is not ended";
}

TEST_F(BreakerStreamTest, LaggingClientsSkipEvents) {
  Hub hub(dispatcher_, sources());
  FakeSink sink;
  hub.attach(sink, 100ms);
  sink.lagging = true;
  run(350ms);
  EXPECT_EQ(sink.events(), 1U);
  sink.lagging = false;
  run(250ms);
  EXPECT_GE(sink.events(), 2U);
}

TEST_F(BreakerStreamTest, DrainEndsEveryStreamAndRefusesNewOnes) {
  Hub hub(dispatcher_, sources());
  FakeSink a;
  FakeSink b;
  hub.attach(a, 100ms);
  hub.attach(b, 10000ms);
  draining_ = true;
  EXPECT_EQ(hub.admit(), Hub::Admission::Draining);
  run(Hub::kObserveEvery + 150ms);
  EXPECT_EQ(a.ends, 1);
  EXPECT_EQ(b.ends, 1);
  EXPECT_EQ(hub.clients(), 0U);
  const size_t events = a.events();
  run(250ms);
  EXPECT_EQ(a.events(), events) << "nothing after the end";
}

TEST_F(BreakerStreamTest, DestructionEndsStreams) {
  FakeSink sink;
  {
    Hub hub(dispatcher_, sources());
    hub.attach(sink, 100ms);
  }
  EXPECT_EQ(sink.ends, 1);
}

TEST_F(BreakerStreamTest, ObservesTransitionsWhileNobodyWatches) {
  Hub hub(dispatcher_, sources());
  run(Hub::kObserveEvery + 50ms);
  runtime_->breaker()->setMode(filters::circuit_breaker::Mode::ForcedOpen);
  const auto changed = std::chrono::system_clock::now();
  run(Hub::kObserveEvery + 50ms);
  runtime_->breaker()->setMode(filters::circuit_breaker::Mode::Normal);
  run(600ms); // a client connecting later sees both, with the times they happened
  FakeSink sink;
  hub.attach(sink, 500ms);
  const std::string& w = sink.written;
  const size_t at = w.find(R"(,"from":"closed","to":"forced_open")");
  ASSERT_NE(at, std::string::npos) << w;
  const size_t start = w.rfind(':', at - 1) + 1;
  const int64_t seen_ms = std::stoll(w.substr(start, at - start));
  const int64_t changed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(changed.time_since_epoch()).count();
  EXPECT_GE(seen_ms, changed_ms - 5);
  EXPECT_LE(seen_ms, changed_ms + Hub::kObserveEvery.count() + 100);
  EXPECT_NE(w.find(R"("from":"forced_open","to":"closed")"), std::string::npos) << w;
}

} // namespace
} // namespace seawall::proxy::admin
