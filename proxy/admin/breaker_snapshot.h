// The payload of GET /breakers/stream (the live dashboard's feed): one JSON snapshot of every
// cluster's breaker, its cumulative request and error counts, and its recent transitions. Pure:
// the caller passes the runtimes, the counts and the clocks. The transitions are found by diffing
// each runtime's transition counters between observe() calls and kept, with the wall time of the
// call that saw them, in a small ring per cluster.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/metric_family.h>

#include "filters/circuit_breaker/circuit_breaker.h"

namespace seawall::proxy {
class ClusterRuntime;
}

namespace seawall::proxy::admin {

// Requests answered downstream for one cluster, all codes, and those among them with a 5xx code
// (local replies such as an open breaker's 503 or a timeout's 504 included).
struct RequestCounts {
  uint64_t requests = 0;
  uint64_t errors = 0;
};
using RequestCountMap = std::map<std::string, RequestCounts, std::less<>>;

// Sums seawall_requests_total by cluster (all listeners) out of a metrics collection.
RequestCountMap requestCounts(const std::vector<prometheus::MetricFamily>& families);

struct BreakerTransition {
  int64_t unix_ms = 0; // wall time of the observation that saw it
  filters::circuit_breaker::State from = filters::circuit_breaker::State::Closed;
  filters::circuit_breaker::State to = filters::circuit_breaker::State::Closed;
};

class BreakerSnapshots {
public:
  static constexpr size_t kRecentTransitions = 8; // per cluster, oldest dropped first
  static constexpr size_t kStateCount = 5;

  // Records the transitions each runtime counted since the previous call. A cluster seen for the
  // first time is compared against zero counts (runtimes are created with the server).
  // Transitions seen in one call are ordered by (from, to); one call every quarter second keeps
  // their times and order meaningful.
  void observe(const std::vector<ClusterRuntime*>& runtimes, int64_t unix_ms);

  // observe(), then one line of JSON (no newline):
  // {"at":<unix ms>,"clusters":[{"name":..,"breaker":..,"state":..,"mode":..,"window":{..},
  //   "requests":N,"errors":N,"transitions":[{"at":<unix ms>,"from":..,"to":..},..]},..]}
  // Clusters sorted by name; transitions oldest first. A cluster absent from `counts` shows 0.
  std::string render(const std::vector<ClusterRuntime*>& runtimes, const RequestCountMap& counts,
                     std::chrono::steady_clock::time_point now, int64_t unix_ms);

  // The ring of one cluster (empty when unknown).
  std::vector<BreakerTransition> recent(std::string_view cluster) const;

private:
  struct Tracked {
    std::array<uint64_t, kStateCount * kStateCount> seen{};
    std::deque<BreakerTransition> recent;
  };

  std::map<std::string, Tracked, std::less<>> clusters_;
};

} // namespace seawall::proxy::admin
