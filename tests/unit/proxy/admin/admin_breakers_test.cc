// GET /breakers and POST /breakers/<cluster>?state=..., against real ClusterRuntime objects and
// an injected clock.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "proxy/admin/admin_handler.h"
#include "proxy/upstream/cluster_runtime.h"

namespace seawall::proxy::admin {
namespace {

using namespace std::chrono_literals;
using filters::circuit_breaker::Mode;
using filters::circuit_breaker::State;
using TimePoint = std::chrono::steady_clock::time_point;

const std::string* header(const AdminResponse& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) {
      return &v;
    }
  }
  return nullptr;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class AdminBreakersTest : public ::testing::Test {
protected:
  AdminBreakersTest() {
    config::Cluster inventory;
    inventory.name = "inventory";
    inventory.limits = {10, 20, 30, 3};
    config::BreakerConfig b;
    b.window_calls = 10;
    b.minimum_calls = 4;
    b.failure_rate = 0.5;
    b.slow_call_duration = config::Duration(1000);
    inventory.breaker = b;
    inventory.outlier = config::OutlierConfig{1, config::Duration(30000), 0.5};
    config::Cluster plain;
    plain.name = "plain";
    runtimes_.push_back(std::make_unique<ClusterRuntime>(plain));
    runtimes_.push_back(std::make_unique<ClusterRuntime>(inventory));
  }

  ClusterRuntime& inventory() { return *runtimes_[1]; }

  AdminHandler handler() {
    AdminSources s;
    s.cluster_runtimes = [this] {
      std::vector<ClusterRuntime*> out;
      for (auto& rt : runtimes_) {
        out.push_back(rt.get());
      }
      return out;
    };
    s.now = [this] { return now_; };
    return AdminHandler(std::move(s));
  }

  // Trips the inventory breaker: 4 failures, minimum_calls 4, failure_rate 50%.
  void trip() {
    for (int i = 0; i < 4; ++i) {
      inventory().breaker()->onResult(now_, true, 1ms);
    }
    ASSERT_EQ(State::Open, inventory().breaker()->state(now_));
  }

  TimePoint now_ = TimePoint(1000s);
  std::vector<std::unique_ptr<ClusterRuntime>> runtimes_;
};

TEST_F(AdminBreakersTest, GetListsEveryClusterSortedByName) {
  auto r = handler().handle("GET", "/breakers");
  EXPECT_EQ(200, r.status);
  EXPECT_EQ("application/json", r.content_type);
  const std::string limits_default =
      R"("limits":{"connections":{"active":0,"max":1024},"pending":{"active":0,"max":1024},)"
      R"("requests":{"active":0,"max":1024},"retries":{"active":0,"max":3}})";
  const std::string limits_inventory =
      R"("limits":{"connections":{"active":0,"max":10},"pending":{"active":0,"max":20},)"
      R"("requests":{"active":0,"max":30},"retries":{"active":0,"max":3}})";
  const std::string expected =
      R"([{"name":"inventory","breaker":true,"state":"closed","mode":"normal",)"
      R"("window":{"calls":0,"failure_rate":0,"slow_rate":0},)" +
      limits_inventory + R"(,"ejected":[]},)" +
      R"({"name":"plain","breaker":false,"state":"disabled","mode":"disabled",)"
      R"("window":{"calls":0,"failure_rate":0,"slow_rate":0},)" +
      limits_default + R"(,"ejected":[]}])" + "\n";
  EXPECT_EQ(expected, r.body);
}

TEST_F(AdminBreakersTest, GetShowsWindowLimitsAndEjections) {
  auto* breaker = inventory().breaker();
  breaker->onResult(now_, true, 1ms);
  breaker->onResult(now_, false, 2s); // slow
  breaker->onResult(now_, false, 1ms);
  ResourceSlot pending = ResourceSlot::tryAcquire(inventory().pending());
  ResourceSlot retry = ResourceSlot::tryAcquire(inventory().retries());
  ASSERT_TRUE(pending && retry);
  auto detector = inventory().outlierDetector({"127.0.0.1:8081", "127.0.0.1:8082"});
  ASSERT_NE(nullptr, detector);
  ASSERT_TRUE(detector->onResult(now_, 1, true));

  const std::string body = handler().handle("GET", "/breakers").body;
  EXPECT_TRUE(contains(body, R"("window":{"calls":3,"failure_rate":0.3333333333333333,)"
                             R"("slow_rate":0.3333333333333333})"))
      << body;
  EXPECT_TRUE(contains(body, R"("pending":{"active":1,"max":20})")) << body;
  EXPECT_TRUE(contains(body, R"("retries":{"active":1,"max":3})")) << body;
  EXPECT_TRUE(contains(body, R"("ejected":["127.0.0.1:8082"])")) << body;

  now_ += 31s; // the ejection is over
  EXPECT_TRUE(contains(handler().handle("GET", "/breakers").body, R"("ejected":[])"));
}

TEST_F(AdminBreakersTest, GetShowsOpenThenHalfOpenByTheInjectedClock) {
  trip();
  auto h = handler();
  EXPECT_TRUE(contains(h.handle("GET", "/breakers").body, R"("state":"open","mode":"normal")"));
  now_ += 5s; // open_for default
  EXPECT_TRUE(contains(h.handle("GET", "/breakers").body, R"("state":"half_open")"));
}

TEST_F(AdminBreakersTest, PostEveryState) {
  struct Case {
    const char* state;
    State expected_state;
    Mode expected_mode;
    const char* json;
  };
  const std::vector<Case> cases = {
      {"forced_open", State::ForcedOpen, Mode::ForcedOpen,
       R"("state":"forced_open","mode":"forced_open")"},
      {"normal", State::Closed, Mode::Normal, R"("state":"closed","mode":"normal")"},
      {"disabled", State::Disabled, Mode::Disabled, R"("state":"disabled","mode":"disabled")"},
      {"metrics_only", State::Closed, Mode::MetricsOnly,
       R"("state":"closed","mode":"metrics_only")"},
      {"reset", State::Closed, Mode::Normal, R"("state":"closed","mode":"normal")"},
  };
  auto h = handler();
  for (const auto& c : cases) {
    auto r = h.handle("POST", std::string("/breakers/inventory?state=") + c.state);
    EXPECT_EQ(200, r.status) << c.state;
    EXPECT_EQ("application/json", r.content_type) << c.state;
    EXPECT_TRUE(r.body.starts_with(R"({"name":"inventory","breaker":true,)")) << r.body;
    EXPECT_TRUE(contains(r.body, c.json)) << c.state << ": " << r.body;
    EXPECT_EQ(c.expected_mode, inventory().breaker()->mode()) << c.state;
    EXPECT_EQ(c.expected_state, inventory().breaker()->state(now_)) << c.state;
  }
}

TEST_F(AdminBreakersTest, ResetClosesAnOpenBreakerWithAnEmptyWindow) {
  trip();
  auto r = handler().handle("POST", "/breakers/inventory?state=reset");
  EXPECT_EQ(200, r.status);
  EXPECT_TRUE(contains(r.body, R"("state":"closed","mode":"normal","window":{"calls":0,)"))
      << r.body;
  EXPECT_EQ(1u, inventory().transitions(State::Open, State::Disabled));
  EXPECT_EQ(1u, inventory().transitions(State::Disabled, State::Closed));
}

TEST_F(AdminBreakersTest, NormalKeepsAnOpenBreakerOpen) {
  trip();
  auto r = handler().handle("POST", "/breakers/inventory?state=normal");
  EXPECT_EQ(200, r.status);
  EXPECT_TRUE(contains(r.body, R"("state":"open","mode":"normal")")) << r.body;
}

TEST_F(AdminBreakersTest, ResetFromMetricsOnlyGoesBackToNormal) {
  auto h = handler();
  ASSERT_EQ(200, h.handle("POST", "/breakers/inventory?state=metrics_only").status);
  trip();
  auto r = h.handle("POST", "/breakers/inventory?state=reset");
  EXPECT_EQ(200, r.status);
  EXPECT_EQ(Mode::Normal, inventory().breaker()->mode());
  EXPECT_EQ(State::Closed, inventory().breaker()->state(now_));
}

TEST_F(AdminBreakersTest, StateIsFoundAmongOtherParameters) {
  auto r = handler().handle("POST", "/breakers/inventory?x=1&state=forced_open&state=normal");
  EXPECT_EQ(200, r.status);
  EXPECT_EQ(Mode::ForcedOpen, inventory().breaker()->mode());
}

TEST_F(AdminBreakersTest, UnknownClusterOrNoBreakerIs404) {
  auto h = handler();
  for (const char* target :
       {"/breakers/nope?state=normal", "/breakers/plain?state=normal",
        "/breakers/inventory/x?state=normal", "/breakers/INVENTORY?state=normal"}) {
    auto r = h.handle("POST", target);
    EXPECT_EQ(404, r.status) << target;
  }
  EXPECT_TRUE(contains(h.handle("POST", "/breakers/nope?state=normal").body, "unknown cluster"));
  EXPECT_TRUE(contains(h.handle("POST", "/breakers/plain?state=normal").body, "no breaker"));
  auto r = h.handle("POST", "/breakers/" + std::string(10000, 'x') + "?state=normal");
  EXPECT_EQ(404, r.status);
  EXPECT_LT(r.body.size(), 400u);
  EXPECT_EQ(404, h.handle("POST", "/breakers/").status);
}

TEST_F(AdminBreakersTest, MissingOrUnknownStateIs400AndChangesNothing) {
  auto h = handler();
  for (const char* target :
       {"/breakers/inventory", "/breakers/inventory?", "/breakers/inventory?mode=normal",
        "/breakers/inventory?state=", "/breakers/inventory?state=open",
        "/breakers/inventory?state=NORMAL", "/breakers/inventory?state=half_open"}) {
    auto r = h.handle("POST", target);
    EXPECT_EQ(400, r.status) << target;
    for (const char* valid : {"normal", "forced_open", "disabled", "metrics_only", "reset"}) {
      EXPECT_TRUE(contains(r.body, valid)) << target << ": " << r.body;
    }
    EXPECT_EQ(Mode::Normal, inventory().breaker()->mode()) << target;
  }
  EXPECT_TRUE(contains(h.handle("POST", "/breakers/inventory").body, "missing state"));
  EXPECT_TRUE(
      contains(h.handle("POST", "/breakers/inventory?state=open").body, "unknown state: open"));
}

TEST_F(AdminBreakersTest, OnlyPostMutates) {
  auto h = handler();
  for (const char* method : {"GET", "HEAD", "PUT", "DELETE", "post"}) {
    auto r = h.handle(method, "/breakers/inventory?state=forced_open");
    EXPECT_EQ(405, r.status) << method;
    const std::string* allow = header(r, "allow");
    ASSERT_NE(nullptr, allow) << method;
    EXPECT_EQ("POST", *allow);
    EXPECT_EQ(std::string(method) == "HEAD", r.body.empty()) << method;
    EXPECT_EQ(Mode::Normal, inventory().breaker()->mode()) << method;
  }
  auto r = h.handle("POST", "/breakers?state=forced_open"); // the list is read-only
  EXPECT_EQ(405, r.status);
  EXPECT_EQ("GET, HEAD", *header(r, "allow"));
}

TEST_F(AdminBreakersTest, NamesAreJsonEscaped) {
  config::Cluster odd;
  odd.name = "a\"b\\c\n";
  odd.breaker = config::BreakerConfig{};
  runtimes_.push_back(std::make_unique<ClusterRuntime>(odd));
  const std::string body = handler().handle("GET", "/breakers").body;
  EXPECT_TRUE(contains(body, R"({"name":"a\"b\\c\u000a",)")) << body;
}

TEST(AdminBreakersNoSourceTest, WithoutRuntimesAnswer503) {
  AdminHandler h{AdminSources{}};
  EXPECT_EQ(503, h.handle("GET", "/breakers").status);
  EXPECT_EQ(503, h.handle("POST", "/breakers/a?state=normal").status);
  EXPECT_EQ(405, h.handle("GET", "/breakers/a?state=normal").status);
}

} // namespace
} // namespace seawall::proxy::admin
