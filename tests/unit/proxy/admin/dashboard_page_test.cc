// GET /dashboard and the admin index entries of the live page.
#include <string>

#include <gtest/gtest.h>

#include "proxy/admin/admin_handler.h"
#include "proxy/admin/dashboard_page.h"

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

AdminHandler handler() {
  AdminSources s;
  s.cluster_runtimes = [] { return std::vector<ClusterRuntime*>{}; };
  return AdminHandler(std::move(s));
}

TEST(DashboardPage, ServedAsHtmlWithAStrictPolicy) {
  auto r = handler().handle("GET", "/dashboard");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(r.body, dashboardPage());
  const std::string* csp = header(r, "content-security-policy");
  ASSERT_NE(csp, nullptr);
  EXPECT_EQ(*csp, kDashboardPolicy);
  EXPECT_NE(csp->find("default-src 'none'"), std::string::npos);
  EXPECT_NE(csp->find("connect-src 'self'"), std::string::npos);
  auto head = handler().handle("HEAD", "/dashboard?x=1");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
  EXPECT_EQ(handler().handle("POST", "/dashboard").status, 405);
}

TEST(DashboardPage, SelfContained) {
  const std::string page(dashboardPage());
  EXPECT_EQ(page.rfind("<!doctype html>", 0), 0U);
  EXPECT_NE(page.find("</html>"), std::string::npos);
  // Nothing loaded from elsewhere: no URLs but the stream and the SVG namespace.
  for (const char* external : {"https://", "src=", "href=", "@import", "url("}) {
    EXPECT_EQ(page.find(external), std::string::npos) << external;
  }
  size_t http = 0;
  for (size_t at = page.find("http://"); at != std::string::npos;
       at = page.find("http://", at + 1)) {
    EXPECT_EQ(page.compare(at, 26, "http://www.w3.org/2000/svg"), 0) << page.substr(at, 40);
    ++http;
  }
  EXPECT_EQ(http, 2U);
  EXPECT_NE(page.find("new EventSource(\"/breakers/stream\""), std::string::npos);
  EXPECT_NE(page.find("dataset.state"), std::string::npos);
  EXPECT_LT(page.size(), 16U * 1024U) << "keep the page small";
}

TEST(DashboardPage, IndexListsTheStreamAndThePage) {
  auto r = handler().handle("GET", "/");
  EXPECT_NE(r.body.find("\n/dashboard        live breaker dashboard (HTML)\n"), std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("\n/breakers/stream  breaker snapshots as server-sent events"),
            std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("\n/healthz          liveness"), std::string::npos) << r.body;
}

TEST(DashboardPage, BareHandlerCannotStream) {
  // AdminServer streams GET /breakers/stream before calling handle(); alone, the handler says so.
  auto r = handler().handle("GET", "/breakers/stream?interval_ms=200");
  EXPECT_EQ(r.status, 503);
  EXPECT_TRUE(handler().handle("HEAD", "/breakers/stream").body.empty());
  // POST still reaches the breaker of a cluster that would be named "stream".
  EXPECT_EQ(handler().handle("POST", "/breakers/stream?state=reset").status, 404);
}

} // namespace
} // namespace seawall::proxy::admin
