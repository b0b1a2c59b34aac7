#include "filters/concurrency_limits/limits_filter.h"

#include <string>

#include "proxy/stats/worker_stats.h"

namespace seawall::filters::concurrency_limits {

proxy::FilterStatus LimitsFilter::onAttemptStart(proxy::RequestHead& /*attempt_request*/) {
  slot_.release(); // an earlier attempt that never reported
  proxy::ClusterRuntime* runtime = control_.info().cluster_runtime;
  if (runtime == nullptr) {
    return Continue;
  }
  proxy::Resource& requests = runtime->requests();
  slot_ = proxy::ResourceSlot::tryAcquire(requests);
  if (slot_) {
    return Continue;
  }
  if (proxy::stats::ClusterStats* stats = control_.clusterStats(runtime->name())) {
    stats->overflow(proxy::stats::OverflowLimit::MaxRequests);
  }
  control_.reply({503, "overflow-max_requests",
                  "cluster '" + runtime->name() + "' has " + std::to_string(requests.max()) +
                      " requests in flight (max_requests)",
                  std::nullopt});
  return StopIteration;
}

void LimitsFilter::onAttemptDone(const proxy::AttemptResult& /*result*/) { slot_.release(); }

std::unique_ptr<proxy::HttpFilter>
LimitsFilterFactory::create(proxy::StreamControl& control) const {
  return std::make_unique<LimitsFilter>(control);
}

} // namespace seawall::filters::concurrency_limits
