// Shared set-up for the 202-conversion tests (async_202_test.cc, async_jobs_test.cc): the proxy
// of proxy_test_base.h with `async` routes put first, an `async_store:` block, and helpers to
// poll jobs and read the async metrics.
#pragma once

#include <chrono>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/harness/json_lite.h"
#include "tests/integration/proxy_test_base.h"

namespace seawall::test {

enum class Client { H1, H2 };

inline void PrintTo(Client c, std::ostream* os) { *os << (c == Client::H1 ? "h1" : "h2"); }

inline std::string clientName(const ::testing::TestParamInfo<Client>& info) {
  return info.param == Client::H1 ? "h1" : "h2";
}

class AsyncTest : public ProxyTest {
protected:
  static constexpr const char* kDefaultStore =
      "async_store: { backend: memory, max_jobs: 100, max_bytes: 64MiB }\n";

  // `routes`: route items (6-space indent) tried before the base routes.
  void startWith(const std::string& routes, const std::string& store = kDefaultStore) {
    ASSERT_TRUE(h1_.start({"--name", "up-h1"}));
    ASSERT_TRUE(h2_.start({"--name", "up-h2"}));
    admin_port_ = freeTcpPort();
    port_ = freeTcpPort();
    ProxyOptions o;
    o.top_extra = store;
    std::string yaml = proxyConfig(admin_port_, port_, h1_.port(), h2_.port(), o);
    yaml.replace(yaml.find("    routes:\n") + 12, 0, routes);
    ASSERT_TRUE(proxy_.start(yaml, admin_port_)) << proxy_.output() << "\n" << yaml;
  }

  // One request through the proxy with curl (h2: prior knowledge). `target` starts with '/'.
  CurlResult fetch(const std::string& target, Client client, std::vector<std::string> args = {},
                   std::chrono::milliseconds timeout = std::chrono::seconds(8)) const {
    CurlOptions o;
    o.http2_prior_knowledge = client == Client::H2;
    o.timeout = timeout;
    return curl(std::move(args), url(target), o);
  }

  // Polls the status URL until it stops answering PROCESSING (303, FAILED, 404, ...).
  CurlResult pollUntilDone(const std::string& status_path, Client client,
                           std::chrono::milliseconds timeout = std::chrono::seconds(6)) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    CurlResult r;
    for (int i = 0; i < 1000; ++i) {
      r = fetch(status_path, client);
      const bool processing =
          r.status == 200 && jsonString(r.body, "state").value_or("") == "PROCESSING";
      if (!processing || std::chrono::steady_clock::now() >= deadline) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return r;
  }

  ::testing::AssertionResult upstreamActiveBecomes(const TestUpstream& up, int64_t want,
                                                   std::chrono::milliseconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int64_t got = -1;
    for (int i = 0; i < 10000; ++i) {
      auto s = up.stats();
      got = s ? s->connections_active : -1;
      if (got == want || std::chrono::steady_clock::now() >= deadline) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (got == want) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure()
           << "upstream connections_active = " << got << ", want " << want;
  }

  static std::string total(const std::string& outcome) {
    return "seawall_async_jobs_total{outcome=\"" + outcome + "\"}";
  }
  static std::string jobs(const std::string& state) {
    return "seawall_async_jobs{state=\"" + state + "\"}";
  }

  // Checks a 202 answer (headers and JSON body) and returns its status path, "" if it is not one.
  static std::string expectAccepted(const CurlResult& r, const std::string& retry_after = "1") {
    EXPECT_EQ(r.status, 202) << r.body << r.err;
    const std::string location = r.header("location").value_or("");
    EXPECT_TRUE(location.starts_with("/.seawall/jobs/")) << location;
    EXPECT_EQ(r.header("x-status-url").value_or(""), location);
    EXPECT_EQ(r.header("retry-after").value_or(""), retry_after);
    const std::string id = location.substr(std::min(location.size(), size_t{15}));
    EXPECT_EQ(id.size(), 32U) << id; // 128 bits in hex
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
    EXPECT_EQ(jsonString(r.body, "id").value_or(""), id) << r.body;
    EXPECT_EQ(jsonString(r.body, "state").value_or(""), "PROCESSING") << r.body;
    EXPECT_EQ(jsonString(r.body, "status_url").value_or(""), location) << r.body;
    return r.status == 202 ? location : "";
  }
};

} // namespace seawall::test
