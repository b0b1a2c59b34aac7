#include <gtest/gtest.h>

#include "proxy/admin/admin_handler.h"
#include "proxy/stats/metrics.h"

namespace seawall::proxy::admin {
namespace {

const std::string* header(const AdminResponse& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) {
      return &v;
    }
  }
  return nullptr;
}

class AdminHandlerTest : public ::testing::Test {
protected:
  AdminHandlerTest() { metrics_.addWorker().requests("in", "a").record(200, 0.01); }
  AdminHandler handler() {
    AdminSources s;
    s.draining = [this] { return draining_; };
    s.config_yaml = [] { return std::string("workers: 2\n"); };
    s.clusters_json = [] { return std::string(R"({"clusters":[]})"); };
    s.cluster_runtimes = [] { return std::vector<ClusterRuntime*>{}; };
    s.metrics = &metrics_;
    return AdminHandler(std::move(s));
  }

  stats::Metrics metrics_{"1.2.3"};
  bool draining_ = false;
};

TEST_F(AdminHandlerTest, Healthz) {
  auto r = handler().handle("GET", "/healthz");
  EXPECT_EQ(200, r.status);
  EXPECT_EQ("ok\n", r.body);
  EXPECT_EQ("text/plain; charset=utf-8", r.content_type);
}

TEST_F(AdminHandlerTest, ReadyThenDraining) {
  auto h = handler();
  auto r = h.handle("GET", "/ready");
  EXPECT_EQ(200, r.status);
  EXPECT_EQ("ready\n", r.body);
  draining_ = true;
  r = h.handle("GET", "/ready");
  EXPECT_EQ(503, r.status);
  EXPECT_EQ("draining\n", r.body);
  r = h.handle("HEAD", "/ready");
  EXPECT_EQ(503, r.status);
  EXPECT_TRUE(r.body.empty());
}

TEST_F(AdminHandlerTest, MetricsInTextFormat) {
  auto r = handler().handle("GET", "/metrics");
  EXPECT_EQ(200, r.status);
  EXPECT_EQ("text/plain; version=0.0.4; charset=utf-8", r.content_type);
  EXPECT_NE(std::string::npos,
            r.body.find("seawall_requests_total{listener=\"in\",cluster=\"a\",code=\"200\"} 1\n"));
  EXPECT_NE(std::string::npos, r.body.find("seawall_build_info{version=\"1.2.3\"} 1\n"));
}

TEST_F(AdminHandlerTest, ConfigClustersBreakers) {
  auto h = handler();
  auto r = h.handle("GET", "/config");
  EXPECT_EQ(200, r.status);
  EXPECT_EQ("application/yaml", r.content_type);
  EXPECT_EQ("workers: 2\n", r.body);
  r = h.handle("GET", "/clusters");
  EXPECT_EQ(200, r.status);
  EXPECT_EQ("application/json", r.content_type);
  EXPECT_EQ(R"({"clusters":[]})", r.body);
  r = h.handle("GET", "/breakers");
  EXPECT_EQ(200, r.status);
  EXPECT_EQ("application/json", r.content_type);
  EXPECT_EQ("[]\n", r.body);
}

TEST_F(AdminHandlerTest, IndexListsEndpoints) {
  auto r = handler().handle("GET", "/");
  EXPECT_EQ(200, r.status);
  for (const char* path : {"/healthz", "/ready", "/metrics", "/config", "/clusters", "/breakers"}) {
    EXPECT_NE(std::string::npos, r.body.find(path)) << path;
  }
}

TEST_F(AdminHandlerTest, QueryStringIsIgnored) {
  auto h = handler();
  EXPECT_EQ("ok\n", h.handle("GET", "/healthz?verbose=1").body);
  EXPECT_EQ(200, h.handle("GET", "/metrics?name[]=x").status);
  EXPECT_EQ(200, h.handle("GET", "/?").status);
}

TEST_F(AdminHandlerTest, UnknownPathIs404) {
  auto h = handler();
  for (const char* target : {"/nope", "/healthz/", "/metricsx", "", "healthz", "/HEALTHZ"}) {
    auto r = h.handle("GET", target);
    EXPECT_EQ(404, r.status) << target;
    EXPECT_NE(std::string::npos, r.body.find("not found")) << target;
  }
  auto r = h.handle("GET", "/" + std::string(10000, 'x'));
  EXPECT_EQ(404, r.status);
  EXPECT_LT(r.body.size(), 400u); // the path is echoed, but not all of it
}

TEST_F(AdminHandlerTest, OtherMethodsAre405WithAllow) {
  auto h = handler();
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "get", "PATCH"}) {
    for (const char* path : {"/healthz", "/metrics", "/", "/breakers"}) {
      auto r = h.handle(method, path);
      EXPECT_EQ(405, r.status) << method << " " << path;
      const std::string* allow = header(r, "allow");
      ASSERT_NE(nullptr, allow);
      EXPECT_EQ("GET, HEAD", *allow);
    }
  }
}

TEST_F(AdminHandlerTest, HeadHasGetHeadersAndNoBody) {
  auto h = handler();
  for (const char* path :
       {"/", "/healthz", "/ready", "/metrics", "/config", "/clusters", "/breakers"}) {
    auto get = h.handle("GET", path);
    auto head = h.handle("HEAD", path);
    EXPECT_EQ(get.status, head.status) << path;
    EXPECT_EQ(get.content_type, head.content_type) << path;
    EXPECT_EQ(get.headers, head.headers) << path;
    EXPECT_FALSE(get.body.empty()) << path;
    EXPECT_TRUE(head.body.empty()) << path;
  }
  auto r = h.handle("HEAD", "/nope");
  EXPECT_EQ(404, r.status);
  EXPECT_TRUE(r.body.empty());
}

TEST(AdminHandlerNoSourcesTest, MissingSourcesAnswer503) {
  AdminHandler h{AdminSources{}};
  EXPECT_EQ(200, h.handle("GET", "/healthz").status);
  EXPECT_EQ(200, h.handle("GET", "/ready").status); // no draining source: ready
  EXPECT_EQ(503, h.handle("GET", "/metrics").status);
  EXPECT_EQ(503, h.handle("GET", "/config").status);
  EXPECT_EQ(503, h.handle("GET", "/clusters").status);
  EXPECT_EQ(503, h.handle("GET", "/breakers").status);
}

} // namespace
} // namespace seawall::proxy::admin
