#include "filters/circuit_breaker/failure_policy.h"

#include <array>
#include <utility>

namespace seawall::filters::circuit_breaker {
namespace {

using proxy::AttemptFailure;

constexpr std::array<std::pair<std::string_view, int>, 7> kGrpcTokens = {{
    {"grpc-cancelled", 1},
    {"grpc-unknown", 2},
    {"grpc-deadline-exceeded", 4},
    {"grpc-resource-exhausted", 8},
    {"grpc-internal", 13},
    {"grpc-unavailable", 14},
    {"grpc-data-loss", 15},
}};

constexpr std::array<std::string_view, 6> kTokens = {
    "5xx", "gateway-error", "reset", "timeout", "connect-failure", "refused-stream"};

} // namespace

bool FailurePolicy::isKnownToken(std::string_view token) {
  for (std::string_view t : kTokens) {
    if (t == token) {
      return true;
    }
  }
  for (const auto& [name, code] : kGrpcTokens) {
    if (name == token) {
      return true;
    }
  }
  return false;
}

FailurePolicy FailurePolicy::parse(const std::vector<std::string>& tokens,
                                   std::vector<std::string>* unknown) {
  FailurePolicy p;
  for (const std::string& token : tokens) {
    bool known = false;
    for (size_t i = 0; i < kTokens.size(); ++i) {
      if (kTokens[i] == token) {
        p.bits_.set(i);
        known = true;
      }
    }
    for (const auto& [name, code] : kGrpcTokens) {
      if (name == token) {
        p.grpc_codes_.set(static_cast<size_t>(code));
        known = true;
      }
    }
    if (!known && unknown != nullptr) {
      unknown->push_back(token);
    }
  }
  return p;
}

bool FailurePolicy::isFailure(const proxy::AttemptResult& result) const {
  switch (result.failure) {
  case AttemptFailure::None:
    break;
  case AttemptFailure::Overflow:
  case AttemptFailure::NoEndpoint:
  case AttemptFailure::Cancelled:
    return false;
  case AttemptFailure::ConnectFailure:
    return bits_[k5xx] || bits_[kGatewayError] || bits_[kConnectFailure];
  case AttemptFailure::Reset:
  case AttemptFailure::ProtocolError:
    return bits_[k5xx] || bits_[kGatewayError] || bits_[kReset];
  case AttemptFailure::RefusedStream:
    return bits_[k5xx] || bits_[kGatewayError] || bits_[kRefusedStream];
  case AttemptFailure::Timeout:
    return bits_[k5xx] || bits_[kGatewayError] || bits_[kTimeout];
  }
  const int s = result.status;
  if (bits_[k5xx] && s >= 500 && s <= 599) {
    return true;
  }
  if (bits_[kGatewayError] && (s == 502 || s == 503 || s == 504)) {
    return true;
  }
  if (result.grpc_status && *result.grpc_status >= 0 &&
      static_cast<size_t>(*result.grpc_status) < grpc_codes_.size() &&
      grpc_codes_[static_cast<size_t>(*result.grpc_status)]) {
    return true;
  }
  return false;
}

} // namespace seawall::filters::circuit_breaker
