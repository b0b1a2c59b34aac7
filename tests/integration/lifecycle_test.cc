// Start-up, config errors, DNS endpoints, access log, and graceful drain on SIGTERM.
#include <signal.h>

#include <fstream>
#include <memory>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/harness/command.h"
#include "tests/harness/temp_files.h"
#include "tests/integration/proxy_test_base.h"

namespace seawall::test {
namespace {

TEST(ConfigErrors, ValidatePrintsFileLineColumnAndFails) {
  auto r = validateConfig("admin: { address: 127.0.0.1:9901 }\n"
                          "listeners:\n"
                          "  - name: a\n"
                          "    address: 127.0.0.1:15001\n"
                          "    routes:\n"
                          "      - match: { prefix: / }\n"
                          "        cluster: nope\n"
                          "clusters:\n"
                          "  - name: c\n"
                          "    endpoints: [127.0.0.1:1]\n",
                          "bad.yaml");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bad.yaml:7:18: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("unknown cluster 'nope'"), std::string::npos) << r.err;
}

TEST(ConfigErrors, UnknownKeyAndBadDuration) {
  auto r = validateConfig("admin: { address: 127.0.0.1:9901 }\n"
                          "listeners:\n"
                          "  - name: a\n"
                          "    address: 127.0.0.1:15001\n"
                          "    limits: { idle_timeout: 5 seconds }\n"
                          "    routes: [{ match: { prefix: / }, cluster: c }]\n"
                          "clusters: [{ name: c, endpoints: [127.0.0.1:1] }]\n",
                          "dur.yaml");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("dur.yaml:5:29: invalid duration"), std::string::npos) << r.err;
  auto k = validateConfig("admin: { address: 127.0.0.1:9901 }\n"
                          "listeners: []\n"
                          "clusterz: []\n",
                          "key.yaml");
  EXPECT_EQ(k.exit_code, 1);
  EXPECT_NE(k.err.find("key.yaml:3:1: unknown key 'clusterz'"), std::string::npos) << k.err;
}

TEST(ConfigErrors, StartupRefusesABadConfig) {
  TempDir dir;
  std::string path = dir.path() + "/broken.yaml";
  std::ofstream(path) << "listeners:\n  - name: [oops\n";
  auto r = runCommand({seawallBinary(), "--config", path}, std::chrono::seconds(10));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("broken.yaml:"), std::string::npos) << r.err;
}

TEST(ConfigErrors, ExamplesAreValid) {
  for (const char* name : {"demo.yaml", "full.yaml"}) {
    auto r = runCommand({seawallBinary(), "--validate",
                         std::string(SEAWALL_SOURCE_DIR) + "/config/examples/" + name});
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.err;
  }
}

TEST(Startup, PortInUseIsAClearError) {
  TestUpstream busy;
  ASSERT_TRUE(busy.start());
  uint16_t admin = freeTcpPort();
  std::string yaml = "admin: { address: 127.0.0.1:" + std::to_string(admin) +
                     " }\nlisteners:\n  - name: a\n    address: " + busy.address() +
                     "\n    routes: [{ match: { prefix: / }, cluster: c }]\n"
                     "clusters: [{ name: c, endpoints: [127.0.0.1:1] }]\n";
  TempDir dir;
  std::string path = dir.path() + "/busy.yaml";
  std::ofstream(path) << yaml;
  auto r = runCommand({seawallBinary(), "--config", path}, std::chrono::seconds(10));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cannot listen on " + busy.address()), std::string::npos) << r.err;
}

class Lifecycle : public ProxyTest {};

TEST_F(Lifecycle, DnsNamedEndpoint) {
  TestUpstream named;
  ASSERT_TRUE(named.start({"--name", "by-name"}));
  ProxyOptions o;
  o.clusters_extra = "  - name: byname\n    endpoints: [localhost:" + std::to_string(named.port()) +
                     "]\n    dns_refresh: 1s\n";
  o.listener_extra = "";
  ASSERT_TRUE(h1_.start());
  ASSERT_TRUE(h2_.start());
  admin_port_ = freeTcpPort();
  port_ = freeTcpPort();
  std::string yaml = proxyConfig(admin_port_, port_, h1_.port(), h2_.port(), o);
  // Route /named/ to the DNS cluster (inserted before the other routes).
  yaml.replace(yaml.find("    routes:\n") + 12, 0,
               "      - match: { prefix: /named/ }\n        cluster: byname\n");
  ASSERT_TRUE(proxy_.start(yaml, admin_port_)) << proxy_.output();
  // Resolution is asynchronous: poll until the first answer comes (bounded).
  CurlResult r;
  for (int i = 0; i < 50; ++i) {
    r = curl({}, url("/named/x"));
    if (r.status == 200) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-upstream-name"), "by-name");
  auto clusters = proxy_.admin("GET", "/clusters");
  ASSERT_TRUE(clusters);
  EXPECT_NE(clusters->body.find("127.0.0.1:" + std::to_string(named.port())), std::string::npos)
      << clusters->body;
}

TEST_F(Lifecycle, AccessLogWritesJsonLines) {
  TempDir dir;
  std::string log_path = dir.path() + "/access.log";
  ProxyOptions o;
  o.top_extra = "access_log: { path: " + log_path + " }\n";
  startAll(o);
  ASSERT_EQ(curl({"-H", "x-request-id: log-me-1"}, url("/up/logged?status=418")).status, 418);
  ASSERT_EQ(curl({}, url("/nowhere")).status, 404);
  std::string text;
  for (int i = 0; i < 50 && std::count(text.begin(), text.end(), '\n') < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ifstream in(log_path);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  EXPECT_NE(text.find(R"("request_id":"log-me-1","method":"GET")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("path":"/up/logged?status=418","protocol":"HTTP/1.1","status":418)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"("status":404,"listener":"main","cluster":"","upstream":"")"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"("flags":"no-route")"), std::string::npos) << text;
}

TEST_F(Lifecycle, SigtermDrainsInFlightRequestsThenExitsZero) {
  startAll();
  // Eight slow requests in flight (h1 and h2 clients), each held 1.5 s by the upstream.
  std::vector<std::unique_ptr<ChildProcess>> clients;
  for (int i = 0; i < 8; ++i) {
    auto c = std::make_unique<ChildProcess>();
    std::vector<std::string> argv = {"curl",           "-s",         "-o", "/dev/null", "-w",
                                     "%{http_code}\n", "--max-time", "20"};
    if (i % 2 == 1) {
      argv.push_back("--http2-prior-knowledge");
    }
    argv.push_back(url(i % 4 < 2 ? "/up/slow?delay=1500" : "/h2/slow?delay=1500"));
    ASSERT_TRUE(c->start(argv));
    clients.push_back(std::move(c));
  }
  ASSERT_TRUE(h1_.waitForRequests(4, std::chrono::seconds(10)));
  ASSERT_TRUE(h2_.waitForRequests(4, std::chrono::seconds(10)));
  proxy_.signal(SIGTERM);
  // While draining: /ready is 503 and new connections are refused.
  EXPECT_TRUE(proxy_.waitReady(std::chrono::seconds(2), 503));
  auto refused = curl({"--max-time", "2"}, url("/up/late"));
  EXPECT_NE(refused.status, 200);
  for (auto& c : clients) {
    auto status = c->waitExit(std::chrono::seconds(15));
    ASSERT_TRUE(status);
    EXPECT_EQ(*status, 0) << c->allOutput();
    EXPECT_EQ(c->output(), "200\n");
  }
  auto exit_status = proxy_.waitExit(std::chrono::seconds(10));
  ASSERT_TRUE(exit_status) << proxy_.output();
  EXPECT_EQ(*exit_status, 0) << proxy_.output();
}

} // namespace
} // namespace seawall::test
