// The concurrency_limits filter: one `max_requests` slot of the attempt's cluster
// (info().cluster_runtime->requests()) per attempt, held from onAttemptStart until that attempt's
// onAttemptDone (or the filter's destruction). No slot left: the attempt is not sent, the
// overflow is counted (seawall_overflow_total{limit="max_requests"}) and the stream gets a local
// 503 `overflow-max_requests`. max_connections and max_pending are enforced by the connection
// pool, max_retries by the retry filter.
#pragma once

#include <memory>
#include <string_view>

#include "proxy/http_filter.h"
#include "proxy/upstream/cluster_runtime.h"

namespace seawall::filters::concurrency_limits {

class LimitsFilter final : public proxy::HttpFilter {
public:
  explicit LimitsFilter(proxy::StreamControl& control) : control_(control) {}

  proxy::FilterStatus onAttemptStart(proxy::RequestHead& attempt_request) override;
  void onAttemptDone(const proxy::AttemptResult& result) override;

private:
  proxy::StreamControl& control_;
  proxy::ResourceSlot slot_; // the current attempt's max_requests slot
};

class LimitsFilterFactory final : public proxy::FilterFactory {
public:
  LimitsFilterFactory() = default;
  std::unique_ptr<proxy::HttpFilter> create(proxy::StreamControl& control) const override;
  std::string_view name() const override { return "concurrency_limits"; }
};

} // namespace seawall::filters::concurrency_limits
