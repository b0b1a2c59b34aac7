// Transparent interception for real: two network namespaces made by the test (an "app" pod and
// a "service" host joined by a veth pair), deploy/iptables/seawall-redirect.sh run in the app
// namespace, Seawall running there as uid 1337 on a transparent listener, and a client in the app
// namespace calling the service's address directly. Seawall must see the call (SO_ORIGINAL_DST),
// send it to the original destination through a `type: original_dst` cluster and apply its
// policies; its own upstream connection must not loop back into it.
//
// Needs root, ip netns, iptables (nat table), setpriv and curl; skips loudly otherwise.
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "tests/harness/command.h"
#include "tests/harness/process.h"
#include "tests/harness/seawall_process.h"
#include "tests/harness/temp_files.h"

#ifndef SEAWALL_TEST_UPSTREAM
#define SEAWALL_TEST_UPSTREAM "seawall-test-upstream"
#endif

namespace seawall::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kProxyUid = 1337;
constexpr int kProxyPort = 15001;
constexpr int kAdminPort = 15000;

bool have(const std::string& program) {
  return runCommand({"sh", "-c", "command -v " + program}).exit_code == 0;
}

class TransparentTest : public ::testing::Test {
protected:
  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "transparent mode test needs root (network namespaces, iptables): "
                      "NOT CHECKED";
    }
    for (const char* tool : {"ip", "iptables", "setpriv", "curl"}) {
      if (!have(tool)) {
        GTEST_SKIP() << tool << " is not installed (Debian iproute2, iptables, util-linux, curl): "
                     << "NOT CHECKED";
      }
    }
    const std::string tag = std::to_string(getpid() % 100000);
    app_ = "swapp" + tag;
    svc_ = "swsvc" + tag;
    const std::string net = "10.213." + std::to_string(getpid() % 200) + ".";
    app_ip_ = net + "1";
    svc_ip_ = net + "2";
    const std::string veth_app = "swa" + tag;
    const std::string veth_svc = "sws" + tag;
    if (runCommand({"ip", "netns", "add", app_}).exit_code != 0) {
      GTEST_SKIP() << "cannot create a network namespace here (ip netns add): NOT CHECKED";
    }
    made_app_ = true;
    ASSERT_EQ(runCommand({"ip", "netns", "add", svc_}).exit_code, 0);
    made_svc_ = true;
    for (const auto& argv : std::vector<std::vector<std::string>>{
             {"ip", "link", "add", veth_app, "type", "veth", "peer", "name", veth_svc},
             {"ip", "link", "set", veth_app, "netns", app_},
             {"ip", "link", "set", veth_svc, "netns", svc_},
             {"ip", "-n", app_, "addr", "add", app_ip_ + "/24", "dev", veth_app},
             {"ip", "-n", svc_, "addr", "add", svc_ip_ + "/24", "dev", veth_svc},
             {"ip", "-n", app_, "link", "set", veth_app, "up"},
             {"ip", "-n", svc_, "link", "set", veth_svc, "up"},
             {"ip", "-n", app_, "link", "set", "lo", "up"},
             {"ip", "-n", svc_, "link", "set", "lo", "up"}}) {
      auto r = runCommand(argv);
      ASSERT_EQ(r.exit_code, 0) << argv[0] << " " << argv[1] << " " << argv[2] << ": " << r.err;
    }
    auto probe = inApp({"iptables", "-w", "5", "-t", "nat", "-L", "OUTPUT", "-n"});
    if (probe.exit_code != 0) {
      GTEST_SKIP() << "iptables nat table unusable in a namespace here: " << probe.err
                   << " NOT CHECKED";
    }
  }

  void TearDown() override {
    proxy_.stop(seconds(3));
    upstream_.stop(seconds(3));
    if (made_app_) {
      runCommand({"ip", "netns", "del", app_});
    }
    if (made_svc_) {
      runCommand({"ip", "netns", "del", svc_});
    }
  }

  CommandResult inApp(std::vector<std::string> argv, milliseconds timeout = seconds(20)) {
    argv.insert(argv.begin(), {"ip", "netns", "exec", app_});
    return runCommand(std::move(argv), timeout);
  }

  // curl from the app namespace as root (so its traffic is redirected): "<status> <headers>".
  CommandResult appCurl(const std::string& url) {
    return inApp({"curl", "-s", "-S", "-m", "10", "-D", "-", "-o", "/dev/null", url});
  }

  std::string adminGet(const std::string& path) {
    return inApp({"curl", "-s", "-m", "5", "http://127.0.0.1:" + std::to_string(kAdminPort) + path})
        .out;
  }

  void startUpstream() {
    ASSERT_TRUE(upstream_.start({"/usr/sbin/ip", "netns", "exec", svc_, SEAWALL_TEST_UPSTREAM,
                                 "--listen", svc_ip_ + ":8080", "--name", "svc"}));
    ASSERT_TRUE(upstream_.waitForOutput("LISTENING", seconds(10))) << upstream_.allOutput();
  }

  void startProxy() {
    const std::string yaml =
        "admin: { address: 127.0.0.1:" + std::to_string(kAdminPort) +
        " }\n"
        "workers: 1\n"
        "listeners:\n"
        "  - name: outbound\n"
        "    address: 127.0.0.1:" +
        std::to_string(kProxyPort) +
        "\n"
        "    transparent: true\n"
        "    routes:\n"
        "      - match: { prefix: / }\n"
        "        cluster: passthrough\n"
        "        retry: { max_retries: 2, on: [connect-failure], backoff: { base: 10ms, max: 20ms "
        "} }\n"
        "clusters:\n"
        "  - name: passthrough\n"
        "    type: original_dst\n"
        "    connect_timeout: 300ms\n";
    const std::string path = dir_.file("seawall.yaml");
    std::ofstream(path) << yaml;
    ::chmod(dir_.path().c_str(), 0755);
    ::chmod(path.c_str(), 0644);
    const std::string uid = std::to_string(kProxyUid);
    ASSERT_TRUE(
        proxy_.start({"/usr/sbin/ip", "netns", "exec", app_, "setpriv", "--reuid=" + uid,
                      "--regid=" + uid, "--clear-groups", seawallBinary(), "--config", path}));
    for (int i = 0; i < 100; ++i) {
      if (inApp({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                 "http://127.0.0.1:" + std::to_string(kAdminPort) + "/ready"})
              .out == "200") {
        return;
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
    FAIL() << "seawall did not get ready in the app namespace\n" << proxy_.allOutput();
  }

  TempDir dir_{"seawall-transparent"};
  ChildProcess upstream_;
  ChildProcess proxy_;
  std::string app_;
  std::string svc_;
  std::string app_ip_;
  std::string svc_ip_;
  bool made_app_ = false;
  bool made_svc_ = false;
};

double metricValue(const std::string& body, const std::string& series) {
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return -1;
}

TEST_F(TransparentTest, RedirectedCallsGoThroughSeawallToTheirOriginalDestination) {
  startUpstream();
  ASSERT_FALSE(HasFatalFailure());
  startProxy();
  ASSERT_FALSE(HasFatalFailure());
  const std::string service = "http://" + svc_ip_ + ":8080/orders/7";

  // Before interception: the call goes straight to the service; Seawall sees nothing.
  auto direct = appCurl(service);
  ASSERT_EQ(direct.exit_code, 0) << direct.err;
  EXPECT_NE(direct.out.find("HTTP/1.1 200"), std::string::npos) << direct.out;

  auto script =
      inApp({"sh", std::string(SEAWALL_SOURCE_DIR) + "/deploy/iptables/seawall-redirect.sh",
             "--proxy-port", std::to_string(kProxyPort), "--proxy-uid", std::to_string(kProxyUid)});
  ASSERT_EQ(script.exit_code, 0) << script.out << script.err;

  const std::string series =
      R"(seawall_requests_total{listener="outbound",cluster="passthrough",code="200"})";
  EXPECT_EQ(metricValue(adminGet("/metrics"), series), -1) << "no request went through yet";

  // Intercepted: same URL, now answered through Seawall (which adds its Via header).
  for (int i = 0; i < 3; ++i) {
    auto r = appCurl(service);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("HTTP/1.1 200"), std::string::npos) << r.out;
    EXPECT_TRUE(std::regex_search(r.out, std::regex("(^|\n)via: [^\n]*seawall", std::regex::icase)))
        << r.out;
  }
  EXPECT_EQ(metricValue(adminGet("/metrics"), series), 3);

  // A port where nothing listens: without Seawall curl would fail to connect; with it, the
  // client gets Seawall's answer after the route's retries.
  auto refused = appCurl("http://" + svc_ip_ + ":8081/x");
  ASSERT_EQ(refused.exit_code, 0) << refused.err;
  EXPECT_NE(refused.out.find("HTTP/1.1 503"), std::string::npos) << refused.out;
  EXPECT_NE(refused.out.find("x-seawall-reason: upstream-connect-failure"), std::string::npos)
      << refused.out;
  EXPECT_EQ(metricValue(adminGet("/metrics"),
                        R"(seawall_retries_total{cluster="passthrough",reason="connect-failure"})"),
            2);

  // Removing the rules restores direct calls (the script's --cleanup).
  auto cleanup =
      inApp({"sh", std::string(SEAWALL_SOURCE_DIR) + "/deploy/iptables/seawall-redirect.sh",
             "--cleanup"});
  ASSERT_EQ(cleanup.exit_code, 0) << cleanup.out << cleanup.err;
  auto after = appCurl(service);
  ASSERT_EQ(after.exit_code, 0) << after.err;
  EXPECT_EQ(after.out.find("via:"), std::string::npos) << after.out;
  EXPECT_EQ(metricValue(adminGet("/metrics"), series), 3);
}

TEST_F(TransparentTest, ADirectConnectionHasNoOriginalDestination) {
  startProxy();
  ASSERT_FALSE(HasFatalFailure());
  // Calling the transparent listener itself: nothing to send to, a clear 503.
  auto r = appCurl("http://127.0.0.1:" + std::to_string(kProxyPort) + "/x");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("HTTP/1.1 503"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("x-seawall-reason: no-original-destination"), std::string::npos) << r.out;
}

} // namespace
} // namespace seawall::test
