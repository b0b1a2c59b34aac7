// What counts as a failure for a cluster's breaker (`breaker.failure_on`): a pure classification
// of one attempt's outcome.
#pragma once

#include <bitset>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http_filter.h"

namespace seawall::filters::circuit_breaker {

// `failure_on` tokens:
//   5xx             a 500-599 response, or any attempt failure (no response at all)
//   gateway-error   a 502, 503 or 504 response, or any attempt failure
//   reset           the connection or stream was reset (Reset, ProtocolError)
//   timeout         the attempt timed out (per-try or the request's deadline)
//   connect-failure no connection could be made
//   refused-stream  HTTP/2 REFUSED_STREAM / GOAWAY before processing
//   grpc-<code>     grpc-status of the response: cancelled (1), unknown (2), deadline-exceeded (4),
//                   resource-exhausted (8), internal (13), unavailable (14), data-loss (15)
// Overflow, NoEndpoint and Cancelled outcomes are never failures (the upstream was not asked).
class FailurePolicy {
public:
  FailurePolicy() = default;
  // Unknown tokens are reported in `unknown` (the config loader checks them first).
  static FailurePolicy parse(const std::vector<std::string>& tokens,
                             std::vector<std::string>* unknown = nullptr);
  static bool isKnownToken(std::string_view token);
  bool isFailure(const proxy::AttemptResult& result) const;

private:
  enum Bit : size_t {
    k5xx,
    kGatewayError,
    kReset,
    kTimeout,
    kConnectFailure,
    kRefusedStream,
    kBits
  };
  std::bitset<kBits> bits_;
  std::bitset<17> grpc_codes_; // grpc-status values 0..16 that count as failures
};

} // namespace seawall::filters::circuit_breaker
