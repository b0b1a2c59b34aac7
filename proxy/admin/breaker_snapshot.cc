#include "proxy/admin/breaker_snapshot.h"

#include <algorithm>

#include "proxy/admin/admin_common.h"
#include "proxy/upstream/cluster_runtime.h"

namespace seawall::proxy::admin {
namespace {

namespace cb = filters::circuit_breaker;

constexpr std::string_view kRequestsFamily = "seawall_requests_total";

std::string_view labelValue(const prometheus::ClientMetric& metric, std::string_view name) {
  for (const auto& label : metric.label) {
    if (label.name == name) {
      return label.value;
    }
  }
  return {};
}

bool isServerError(std::string_view code) { return code.size() == 3 && code[0] == '5'; }

void appendTransitions(std::string& out, const std::vector<BreakerTransition>& recent) {
  out += "\"transitions\":[";
  for (size_t i = 0; i < recent.size(); ++i) {
    out.append(i == 0 ? "{\"at\":" : ",{\"at\":").append(std::to_string(recent[i].unix_ms));
    out.append(",\"from\":\"").append(cb::toString(recent[i].from));
    out.append("\",\"to\":\"").append(cb::toString(recent[i].to)).append("\"}");
  }
  out += "]";
}

} // namespace

RequestCountMap requestCounts(const std::vector<prometheus::MetricFamily>& families) {
  RequestCountMap out;
  for (const auto& family : families) {
    if (family.name != kRequestsFamily) {
      continue;
    }
    for (const auto& metric : family.metric) {
      const auto n = static_cast<uint64_t>(metric.counter.value);
      const std::string_view cluster = labelValue(metric, "cluster");
      auto it = out.find(cluster);
      if (it == out.end()) {
        it = out.emplace(std::string(cluster), RequestCounts{}).first;
      }
      it->second.requests += n;
      if (isServerError(labelValue(metric, "code"))) {
        it->second.errors += n;
      }
    }
  }
  return out;
}

void BreakerSnapshots::observe(const std::vector<ClusterRuntime*>& runtimes, int64_t unix_ms) {
  for (ClusterRuntime* rt : runtimes) {
    if (rt == nullptr) {
      continue;
    }
    auto it = clusters_.find(rt->name());
    if (it == clusters_.end()) {
      it = clusters_.emplace(rt->name(), Tracked{}).first;
    }
    Tracked& tracked = it->second;
    for (size_t i = 0; i < tracked.seen.size(); ++i) {
      const auto from = static_cast<cb::State>(i / kStateCount);
      const auto to = static_cast<cb::State>(i % kStateCount);
      const uint64_t now_count = rt->transitions(from, to);
      // A count never goes down; if it ever did (a new runtime under the same name), start over.
      const uint64_t fresh = now_count >= tracked.seen[i] ? now_count - tracked.seen[i] : 0;
      tracked.seen[i] = now_count;
      for (uint64_t k = 0; k < std::min<uint64_t>(fresh, kRecentTransitions); ++k) {
        tracked.recent.push_back(BreakerTransition{unix_ms, from, to});
      }
    }
    while (tracked.recent.size() > kRecentTransitions) {
      tracked.recent.pop_front();
    }
  }
}

std::string BreakerSnapshots::render(const std::vector<ClusterRuntime*>& runtimes,
                                     const RequestCountMap& counts,
                                     std::chrono::steady_clock::time_point now, int64_t unix_ms) {
  std::vector<ClusterRuntime*> sorted = runtimes;
  std::erase(sorted, nullptr);
  std::sort(sorted.begin(), sorted.end(),
            [](ClusterRuntime* a, ClusterRuntime* b) { return a->name() < b->name(); });
  std::string out = "{\"at\":" + std::to_string(unix_ms) + ",\"clusters\":[";
  for (size_t i = 0; i < sorted.size(); ++i) {
    ClusterRuntime& rt = *sorted[i];
    out += i == 0 ? "{" : ",{";
    appendBreakerFields(out, rt, now); // may itself move open to half_open: observe after it
    const auto c = counts.find(rt.name());
    const RequestCounts rc = c != counts.end() ? c->second : RequestCounts{};
    out.append(",\"requests\":").append(std::to_string(rc.requests));
    out.append(",\"errors\":").append(std::to_string(rc.errors)).append(",");
    observe({&rt}, unix_ms);
    appendTransitions(out, recent(rt.name()));
    out += "}";
  }
  out += "]}";
  return out;
}

std::vector<BreakerTransition> BreakerSnapshots::recent(std::string_view cluster) const {
  const auto it = clusters_.find(cluster);
  if (it == clusters_.end()) {
    return {};
  }
  return {it->second.recent.begin(), it->second.recent.end()};
}

} // namespace seawall::proxy::admin
