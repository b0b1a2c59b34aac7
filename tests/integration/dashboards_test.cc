// dashboards/: the Grafana dashboard (seawall.json) and the Prometheus alert rules (alerts.yml),
// proven rather than assumed. A real Prometheus on loopback scrapes a real Seawall in front of a
// failing upstream and evaluates alerts.yml; every panel query of the dashboard and every alert
// expression (its final threshold comparison removed) must return data, and so must every
// `seawall_*` selector in them on its own, so every metric name and label value used exists.
// promtool checks the rules and runs their unit tests (alerts_test.yml).
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <csignal>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "tests/harness/command.h"
#include "tests/harness/json_value.h"
#include "tests/harness/prometheus_server.h"
#include "tests/harness/temp_files.h"
#include "tests/integration/proxy_test_base.h"

namespace seawall::test {
namespace {

using std::chrono::milliseconds;

// Metrics that dashboards/ uses but the binary does not export yet. Each must be ABSENT from a
// real scrape: the test fails once one appears, so remove it here when the binary exports it.
// Queries that use one are checked for syntax only.
const std::vector<std::string> metrics_awaiting_lead = {};

bool isAwaited(std::string_view name) {
  return std::find(metrics_awaiting_lead.begin(), metrics_awaiting_lead.end(), name) !=
         metrics_awaiting_lead.end();
}

std::string dashboardsDir() { return std::string(SEAWALL_SOURCE_DIR) + "/dashboards"; }

struct Query {
  std::string where; // panel title and refId, or alert name
  std::string expr;  // as written in the file
};

// Grafana's variables as Grafana would expand them for "All" clusters and a short range.
std::string expandGrafanaVariables(std::string expr) {
  const std::vector<std::pair<std::string, std::string>> values = {
      {"${cluster}", ".*"}, {"$cluster", ".*"}, {"$__rate_interval", "30s"}, {"$__range", "1m"}};
  for (const auto& [name, value] : values) {
    for (size_t at = expr.find(name); at != std::string::npos; at = expr.find(name, at)) {
      expr.replace(at, name.size(), value);
      at += value.size();
    }
  }
  return expr;
}

// The `seawall_*` selectors of an expression: the metric name with its {...} matchers, if any.
struct Selector {
  std::string name;
  std::string text;
};
std::vector<Selector> selectors(const std::string& expr) {
  std::vector<Selector> out;
  auto is_name_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == ':';
  };
  for (size_t at = expr.find("seawall_"); at != std::string::npos;
       at = expr.find("seawall_", at + 1)) {
    if (at > 0 && (is_name_char(expr[at - 1]) || expr[at - 1] == '"')) {
      continue; // part of another word, or a label value
    }
    size_t end = at;
    while (end < expr.size() && is_name_char(expr[end])) {
      ++end;
    }
    Selector s{expr.substr(at, end - at), expr.substr(at, end - at)};
    if (end < expr.size() && expr[end] == '{') {
      const size_t close = expr.find('}', end);
      s.text = expr.substr(at, close == std::string::npos ? std::string::npos : close + 1 - at);
    }
    out.push_back(s);
  }
  return out;
}

bool usesAwaited(const std::string& expr) {
  return std::any_of(metrics_awaiting_lead.begin(), metrics_awaiting_lead.end(),
                     [&](std::string_view name) { return expr.find(name) != std::string::npos; });
}

// `expr` without its final "<op> <number>" comparison (alert thresholds), or "" if none.
std::string withoutThreshold(std::string expr) {
  while (!expr.empty() && std::isspace(static_cast<unsigned char>(expr.back())) != 0) {
    expr.pop_back();
  }
  size_t at = expr.size();
  while (at > 0 && (std::isdigit(static_cast<unsigned char>(expr[at - 1])) != 0 ||
                    expr[at - 1] == '.' || expr[at - 1] == '-' || expr[at - 1] == 'e')) {
    --at;
  }
  if (at == expr.size()) {
    return "";
  }
  while (at > 0 && expr[at - 1] == ' ') {
    --at;
  }
  const size_t op_end = at;
  while (at > 0 && std::string_view("=!<>").find(expr[at - 1]) != std::string_view::npos) {
    --at;
  }
  return at < op_end ? expr.substr(0, at) : "";
}

// Every panel (rows' nested panels included) of the dashboard, in order.
void collectPanels(const JsonValue& list, std::vector<const JsonValue*>& out) {
  for (const JsonValue& panel : list.array) {
    out.push_back(&panel);
    if (const JsonValue* nested = panel.find("panels"); nested != nullptr && nested->isArray()) {
      collectPanels(*nested, out);
    }
  }
}

struct Dashboard {
  JsonValue doc;
  std::vector<const JsonValue*> panels;
  std::vector<Query> queries;
};

::testing::AssertionResult loadDashboard(Dashboard& d) {
  const std::optional<std::string> text = readFile(dashboardsDir() + "/seawall.json");
  if (!text) {
    return ::testing::AssertionFailure() << "cannot read dashboards/seawall.json";
  }
  std::string error;
  std::optional<JsonValue> doc = parseJson(*text, &error);
  if (!doc || !doc->isObject()) {
    return ::testing::AssertionFailure() << "seawall.json is not a JSON object: " << error;
  }
  d.doc = std::move(*doc);
  const JsonValue* panels = d.doc.find("panels");
  if (panels == nullptr || !panels->isArray()) {
    return ::testing::AssertionFailure() << "no panels";
  }
  collectPanels(*panels, d.panels);
  for (const JsonValue* panel : d.panels) {
    if (const JsonValue* targets = panel->find("targets"); targets != nullptr) {
      for (const JsonValue& t : targets->array) {
        d.queries.push_back({panel->str("title") + " [" + t.str("refId") + "]", t.str("expr")});
      }
    }
  }
  return ::testing::AssertionSuccess();
}

struct AlertRule {
  std::string name;
  std::string expr;
  std::string for_duration;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
};

::testing::AssertionResult loadAlerts(std::vector<AlertRule>& out) {
  try {
    const YAML::Node doc = YAML::LoadFile(dashboardsDir() + "/alerts.yml");
    for (const YAML::Node& group : doc["groups"]) {
      for (const YAML::Node& rule : group["rules"]) {
        AlertRule r;
        r.name = rule["alert"].as<std::string>("");
        r.expr = rule["expr"].as<std::string>("");
        r.for_duration = rule["for"].as<std::string>("");
        for (const auto& kv : rule["labels"]) {
          r.labels[kv.first.as<std::string>()] = kv.second.as<std::string>();
        }
        for (const auto& kv : rule["annotations"]) {
          r.annotations[kv.first.as<std::string>()] = kv.second.as<std::string>();
        }
        out.push_back(r);
      }
    }
  } catch (const YAML::Exception& e) {
    return ::testing::AssertionFailure() << "alerts.yml: " << e.what();
  }
  return out.empty() ? ::testing::AssertionFailure() << "alerts.yml has no rules"
                     : ::testing::AssertionSuccess();
}

// The elements of `value` if it is an array (none otherwise).
const std::vector<JsonValue>& elements(const JsonValue* value) {
  static const std::vector<JsonValue> none;
  return value != nullptr && value->isArray() ? value->array : none;
}

const JsonValue* templateVariable(const JsonValue& doc, const std::string& name) {
  const JsonValue* templating = doc.find("templating");
  for (const JsonValue& variable :
       elements(templating != nullptr ? templating->find("list") : nullptr)) {
    if (variable.str("name") == name) {
      return &variable;
    }
  }
  return nullptr;
}

bool usesDatasourceVariable(const JsonValue& node) {
  const JsonValue* ds = node.find("datasource");
  return ds != nullptr && ds->str("type") == "prometheus" && ds->str("uid") == "${datasource}";
}

// ---- Static checks ----

TEST(GrafanaDashboard, IsJsonWithDatasourceAndClusterVariables) {
  Dashboard d;
  ASSERT_TRUE(loadDashboard(d));
  const JsonValue* schema = d.doc.find("schemaVersion");
  ASSERT_NE(schema, nullptr);
  EXPECT_GE(schema->number, 36);
  EXPECT_FALSE(d.doc.str("uid").empty());
  EXPECT_FALSE(d.doc.str("title").empty());

  const JsonValue* ds = templateVariable(d.doc, "datasource");
  ASSERT_NE(ds, nullptr) << "no datasource variable";
  EXPECT_EQ(ds->str("type"), "datasource");
  EXPECT_EQ(ds->str("query"), "prometheus");

  const JsonValue* cluster = templateVariable(d.doc, "cluster");
  ASSERT_NE(cluster, nullptr) << "no cluster variable";
  EXPECT_EQ(cluster->str("type"), "query");
  EXPECT_TRUE(usesDatasourceVariable(*cluster));
  EXPECT_EQ(cluster->str("definition"), "label_values(seawall_requests_total, cluster)");
  const JsonValue* query = cluster->find("query");
  ASSERT_NE(query, nullptr);
  EXPECT_EQ(query->str("query"), "label_values(seawall_requests_total, cluster)");
  for (const char* flag : {"multi", "includeAll"}) {
    const JsonValue* value = cluster->find(flag);
    EXPECT_TRUE(value != nullptr && value->boolean) << flag;
  }
  EXPECT_EQ(cluster->str("allValue"), ".*");
}

TEST(GrafanaDashboard, EveryPanelQueriesThroughTheDatasourceVariable) {
  Dashboard d;
  ASSERT_TRUE(loadDashboard(d));
  std::set<double> ids;
  size_t timelines = 0;
  for (const JsonValue* panel : d.panels) {
    const std::string title = panel->str("title");
    const JsonValue* id = panel->find("id");
    ASSERT_NE(id, nullptr) << title;
    EXPECT_TRUE(ids.insert(id->number).second) << "duplicate id in " << title;
    const JsonValue* grid = panel->find("gridPos");
    ASSERT_NE(grid, nullptr) << title;
    EXPECT_LE(grid->find("x")->number + grid->find("w")->number, 24) << title;
    if (panel->str("type") == "row") {
      continue;
    }
    EXPECT_FALSE(title.empty());
    EXPECT_TRUE(usesDatasourceVariable(*panel)) << title;
    const JsonValue* targets = panel->find("targets");
    ASSERT_TRUE(targets != nullptr && targets->size() > 0) << title;
    for (const JsonValue& t : targets->array) {
      EXPECT_TRUE(usesDatasourceVariable(t)) << title;
      EXPECT_FALSE(t.str("expr").empty()) << title;
    }
    if (panel->str("type") == "state-timeline") {
      ++timelines;
      EXPECT_NE(targets->array[0].str("expr").find("seawall_breaker_state"), std::string::npos);
    }
  }
  EXPECT_EQ(timelines, 1U) << "one state timeline: breaker state per cluster";
  for (const Query& q : d.queries) {
    // Ranges follow Grafana's: a fixed [5m] would hide short spikes and break at long steps.
    for (size_t at = q.expr.find('['); at != std::string::npos; at = q.expr.find('[', at + 1)) {
      const std::string range = q.expr.substr(at, q.expr.find(']', at) - at + 1);
      EXPECT_TRUE(range == "[$__rate_interval]" || range == "[$__range]")
          << q.where << ": " << range;
    }
  }
}

TEST(AlertRules, EveryAlertHasForSeverityAndAnnotations) {
  std::vector<AlertRule> rules;
  ASSERT_TRUE(loadAlerts(rules));
  for (const AlertRule& r : rules) {
    EXPECT_FALSE(r.name.empty());
    EXPECT_FALSE(r.for_duration.empty()) << r.name;
    EXPECT_TRUE(r.labels.count("severity") == 1) << r.name;
    for (const char* key : {"summary", "description", "runbook"}) {
      const auto it = r.annotations.find(key);
      EXPECT_TRUE(it != r.annotations.end() && !it->second.empty()) << r.name << " " << key;
    }
    EXPECT_FALSE(withoutThreshold(r.expr).empty()) << r.name << ": no final threshold";
  }
  const std::vector<std::string> required = {"SeawallBreakerOpen", "SeawallRetryRatioHigh",
                                             "SeawallAsyncStoreNearFull",
                                             "SeawallConfigReloadFailed"};
  for (const std::string& name : required) {
    EXPECT_TRUE(std::any_of(rules.begin(), rules.end(), [&](const AlertRule& r) {
      return r.name == name;
    })) << name;
  }
}

TEST(AlertRules, PassPromtoolCheckAndUnitTests) {
  if (findProgram("promtool").empty()) {
    GTEST_SKIP() << "*** promtool is not installed (Debian package prometheus): NOT CHECKED ***";
  }
  const CommandResult check =
      runCommand({"promtool", "check", "rules", dashboardsDir() + "/alerts.yml"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  const CommandResult test =
      runCommand({"promtool", "test", "rules", dashboardsDir() + "/alerts_test.yml"});
  EXPECT_EQ(test.exit_code, 0) << test.out << test.err;
  EXPECT_NE(test.out.find("SUCCESS"), std::string::npos) << test.out << test.err;
}

// ---- On a real Prometheus ----

// A route per resilience feature, so that every metric family has happened at least once.
constexpr const char* kConfig = R"(admin: { address: 127.0.0.1:{{ADMIN_PORT}} }
workers: 2
listeners:
  - name: main
    address: 127.0.0.1:{{PORT}}
    routes:
      - match: { prefix: /slow/ }
        cluster: steady
        timeout: 5s
        async: { after: 100ms, retry_after: 1s, retention: 1m }
      - match: { prefix: /flaky/ }
        cluster: flaky
        timeout: 2s
        retry:
          max_retries: 2
          on: [5xx, reset, connect-failure]
          per_try_timeout: 150ms
          backoff: { base: 5ms, max: 20ms }
          budget: { ratio: 100%, min_per_second: 1000 }
        fallback: { status: 200, body: fallback, on_upstream_5xx: false }
      - match: { prefix: /timeout/ }
        cluster: sluggish
        timeout: 1s
        retry: { max_retries: 1, on: [5xx], per_try_timeout: 150ms, backoff: { base: 5ms } }
      - match: { prefix: /dead/ }
        cluster: dead
      - match: { prefix: / }
        cluster: steady
clusters:
  - name: steady
    endpoints: [{{UPSTREAM}}]
  - name: flaky
    endpoints: [{{UPSTREAM}}]
    limits: { max_connections: 64, max_pending: 64, max_requests: 64, max_retries: 16 }
    breaker:
      window: { type: count, size: 10 }
      minimum_calls: 6
      failure_rate: 50%
      open_for: 60s
      failure_on: [5xx, timeout]
    outlier: { consecutive_failures: 100, ejection_time: 1s, max_ejection: 50% }
  - name: sluggish
    endpoints: [{{UPSTREAM}}]
  - name: dead
    endpoints: [127.0.0.1:{{DEAD_PORT}}]
    connect_timeout: 100ms
async_store: { max_jobs: 100, max_bytes: 64MiB }
)";

class DashboardsOnPrometheus : public ProxyTest {
protected:
  void SetUp() override {
    if (findProgram("prometheus").empty()) {
      GTEST_SKIP() << "*** prometheus is not installed (Debian package prometheus): the "
                      "dashboard and alert queries are NOT CHECKED ***";
    }
    ASSERT_TRUE(h1_.start({"--name", "flaky"}));
    admin_port_ = freeTcpPort();
    port_ = freeTcpPort();
    config_ = fillPlaceholders(kConfig, {{"PORT", std::to_string(port_)},
                                         {"UPSTREAM", h1_.address()},
                                         {"DEAD_PORT", std::to_string(freeTcpPort())}});
    ASSERT_TRUE(proxy_.start(config_, admin_port_)) << proxy_.output();
    firstRound();
    PrometheusServer::Options options;
    options.targets = {"127.0.0.1:" + std::to_string(admin_port_)};
    options.rule_files = {dashboardsDir() + "/alerts.yml"};
    ASSERT_TRUE(prometheus_.start(options));
    ASSERT_TRUE(prometheus_.waitForScrapes(2));
  }

  void sendBadRequest() {
    const RawResult bad = rawExchange(port_, "NOT HTTP AT ALL\r\n\r\n", milliseconds(2000));
    EXPECT_NE(bad.data.find(" 400 "), std::string::npos) << bad.data;
  }

  // Sequential requests by one curl process; returns the status codes.
  std::vector<int> get(const std::string& path, int count) {
    std::vector<std::string> argv = {"curl", "-s", "-w", "%{http_code}\\n"};
    for (int i = 0; i < count; ++i) {
      argv.insert(argv.end(), {"-o", "/dev/null", url(path)});
    }
    std::vector<int> codes;
    std::istringstream lines(runCommand(argv, std::chrono::seconds(20)).out);
    for (int code = 0; lines >> code;) {
      codes.push_back(code);
    }
    return codes;
  }

  // Before Prometheus starts, every data-path series is born (a series first seen with its
  // events already counted shows no rate), and flaky's breaker stays closed (3 of its 6 minimum
  // calls).
  void firstRound() {
    EXPECT_EQ(get("/ok", 2), std::vector<int>(2, 200));
    EXPECT_EQ(get("/timeout/x?delay=400", 1), std::vector<int>{504});
    EXPECT_EQ(get("/flaky/x?status=503", 1), std::vector<int>{503});
    EXPECT_EQ(get("/dead/x", 1), std::vector<int>{503});
    EXPECT_EQ(get("/slow/x?delay=300", 1), std::vector<int>{202});
    sendBadRequest();
    EXPECT_EQ(metric(R"(seawall_breaker_state{cluster="flaky",state="closed"})"), 1.0);
  }

  // While Prometheus scrapes: per-try timeouts, upstream 503s retried until the breaker opens,
  // its fallback, connect failures, a 202 job, a request the codec refuses.
  void secondRound() {
    EXPECT_EQ(get("/ok", 3), std::vector<int>(3, 200));
    EXPECT_EQ(get("/timeout/x?delay=400", 2), std::vector<int>(2, 504));
    EXPECT_EQ(get("/flaky/x?status=503", 1), std::vector<int>{503}); // 6 failed attempts
    EXPECT_TRUE(metricBecomes(R"(seawall_breaker_state{cluster="flaky",state="open"})", 1));
    EXPECT_EQ(get("/flaky/x", 3), std::vector<int>(3, 200)); // breaker open: fallback
    EXPECT_EQ(get("/dead/x", 2), std::vector<int>(2, 503));
    EXPECT_EQ(get("/slow/x?delay=300", 1), std::vector<int>{202});
    sendBadRequest();
    EXPECT_TRUE(metricBecomes(R"(seawall_async_jobs{state="completed"})", 2));
  }

  // Every selector must return series on its own (unless awaited); with `cluster_rule`, a
  // selector of a metric that has a cluster label must filter on the cluster variable.
  void expectSelectorsExist(const Query& q, bool cluster_rule) {
    for (const Selector& s : selectors(q.expr)) {
      if (!checked_.insert(s.text).second) {
        continue;
      }
      const std::string query = "count by (cluster) (" + expandGrafanaVariables(s.text) + ")";
      const PromQueryResult r = prometheus_.query(query);
      ASSERT_TRUE(r.ok) << q.where << ": " << query << ": " << r.error;
      if (isAwaited(s.name)) {
        EXPECT_EQ(r.count(), 0U) << s.name
                                 << " is exported now: remove it from metrics_awaiting_lead";
        continue;
      }
      EXPECT_GT(r.count(), 0U) << q.where << ": no series for " << s.text;
      const bool has_cluster = std::any_of(r.series.begin(), r.series.end(), [](const auto& v) {
        const JsonValue* metric = v.find("metric");
        return metric != nullptr && !metric->str("cluster").empty();
      });
      if (cluster_rule && has_cluster) {
        EXPECT_NE(s.text.find(R"(cluster=~"$cluster")"), std::string::npos)
            << q.where << ": " << s.text << " is not filtered by the cluster variable";
      }
    }
  }

  // The whole expression returns data (awaited metrics: valid PromQL, no data yet).
  PromQueryResult expectData(const Query& q, const std::string& promql) {
    PromQueryResult r = prometheus_.query(promql);
    EXPECT_TRUE(r.ok) << q.where << ": " << promql << "\n" << r.error << r.body;
    if (usesAwaited(promql)) {
      std::cout << "AWAITING: " << q.where << " (syntax only)\n";
    } else {
      EXPECT_GT(r.count(), 0U) << q.where << ": no data for\n" << promql << "\n" << r.body;
    }
    return r;
  }

  // Whether the alert `name` (with label cluster, if not empty) is pending or firing, polled
  // for up to `wait`.
  bool alertActive(const std::string& name, const std::string& cluster,
                   milliseconds wait = milliseconds(5000)) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    for (int i = 0; i < 1000; ++i) {
      const std::optional<JsonValue> doc = prometheus_.getJson("/api/v1/alerts");
      const JsonValue* data = doc ? doc->find("data") : nullptr;
      const JsonValue* alerts = data != nullptr ? data->find("alerts") : nullptr;
      for (const JsonValue& a : elements(alerts)) {
        const JsonValue* labels = a.find("labels");
        if (labels != nullptr && labels->str("alertname") == name &&
            (cluster.empty() || labels->str("cluster") == cluster)) {
          return true;
        }
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        break;
      }
      std::this_thread::sleep_for(milliseconds(200));
    }
    return false;
  }

  PrometheusServer prometheus_;
  std::string config_;
  std::set<std::string> checked_; // selectors already queried
};

TEST_F(DashboardsOnPrometheus, EveryPanelAndAlertQueryReturnsData) {
  secondRound();
  ASSERT_TRUE(prometheus_.waitForScrapes(6));

  Dashboard d;
  ASSERT_TRUE(loadDashboard(d));
  std::map<std::string, std::vector<double>> values; // by panel [refId]
  for (const Query& q : d.queries) {
    values[q.where] = expectData(q, expandGrafanaVariables(q.expr)).values();
    expectSelectorsExist(q, true);
  }
  // The failures driven above show where they should, not only as zeros.
  auto max_of = [&](const std::string& where) {
    const std::vector<double>& v = values[where];
    double best = -1;
    for (double x : v) {
      best = std::isnan(x) ? best : std::max(best, x);
    }
    return best;
  };
  EXPECT_EQ(max_of("Breaker state per cluster [A]"), 2.0) << "flaky's breaker is open (2)";
  for (const char* panel :
       {"Request rate [A]", "Error ratio (5xx) [A]", "Retries by reason [A]",
        "Timeouts by kind [A]", "Fallbacks by kind [A]", "Upstream failures by reason [A]",
        "Latency p50 / p99 [B]", "Breaker transitions [A]", "Downstream rejections [A]"}) {
    EXPECT_GT(max_of(panel), 0) << panel;
  }

  // The cluster variable's query, as Grafana sends it.
  const std::optional<JsonValue> names =
      prometheus_.getJson("/api/v1/label/cluster/values?match[]=seawall_requests_total");
  ASSERT_TRUE(names);
  std::set<std::string> clusters;
  for (const JsonValue& v : elements(names->find("data"))) {
    clusters.insert(v.string);
  }
  EXPECT_EQ(clusters, (std::set<std::string>{"dead", "flaky", "sluggish", "steady"}));

  std::vector<AlertRule> rules;
  ASSERT_TRUE(loadAlerts(rules));
  for (const AlertRule& rule : rules) {
    const Query q{rule.name, rule.expr};
    expectData(q, withoutThreshold(rule.expr));
    expectSelectorsExist(q, false);
  }
  // Prometheus evaluates every rule without error; the breaker and the retries are pending.
  const std::optional<JsonValue> loaded = prometheus_.getJson("/api/v1/rules");
  ASSERT_TRUE(loaded);
  size_t healthy = 0;
  const JsonValue* data = loaded->find("data");
  for (const JsonValue& group : elements(data != nullptr ? data->find("groups") : nullptr)) {
    for (const JsonValue& r : elements(group.find("rules"))) {
      EXPECT_EQ(r.str("health"), "ok") << r.str("name") << ": " << r.str("lastError");
      healthy += r.str("health") == "ok" ? 1 : 0;
    }
  }
  EXPECT_EQ(healthy, rules.size());
  EXPECT_TRUE(alertActive("SeawallBreakerOpen", "flaky"));
  EXPECT_TRUE(alertActive("SeawallRetryRatioHigh", "sluggish")); // 1 retry per request
  EXPECT_FALSE(alertActive("SeawallConfigReloadFailed", "", milliseconds(0)));
}

// A reload that fails makes SeawallConfigReloadFailed pending on the real metric.
TEST_F(DashboardsOnPrometheus, AFailedReloadRaisesTheReloadAlert) {
  ASSERT_TRUE(proxy_.writeConfig(config_ + "this is not: [valid\n"));
  proxy_.signal(SIGHUP);
  EXPECT_TRUE(metricBecomes("seawall_config_last_reload_successful", 0, milliseconds(5000)));
  ASSERT_TRUE(prometheus_.waitForScrapes(4));
  EXPECT_TRUE(alertActive("SeawallConfigReloadFailed", ""));
  EXPECT_TRUE(proxy_.running()) << "the previous config keeps running";
}

} // namespace
} // namespace seawall::test
