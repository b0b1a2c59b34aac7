// Whether a failed attempt is retried: a pure function of the route's policy, what we know about
// the request, and how the attempt ended. Admission (budget, limits) and the delay come after.
//
// Order of the checks, and the reason reported when the answer is no:
//   1. "response-started": response bytes already went downstream; nothing can be taken back.
//   2. "not-retriable":    the outcome matches no condition in `on` (a 2xx, a 404, ...).
//   3. "body-too-large":   the request body outgrew request_buffer and was streamed, not kept.
//   4. "non-idempotent":   the method is not idempotent, the route does not allow retrying it,
//                          and the request carries no Idempotency-Key the route accepts.
//                          Exception: connect-failure and refused-stream outcomes are retried for
//                          any method, because the upstream never processed the request (no
//                          connection; or HTTP/2 REFUSED_STREAM / GOAWAY below our stream id,
//                          which RFC 9113 section 8.7 guarantees were not processed).
//   5. "max-retries":      attempts_so_far - 1 retries were already made and that is max_retries.
// When the answer is yes, the reason is the condition that matched, most specific first (see
// decideRetry in the .cc): it is the `reason` label of seawall_retries_total.
#pragma once

#include <bitset>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string_view>
#include <vector>

namespace seawall::filters::retry {

// `retry.on` conditions; retryOnName() gives the config token, also the metric reason.
enum class RetryOn {
  Http5xx,               // "5xx": status 500-599, or no response (any FailureKind)
  GatewayError,          // "gateway-error": 502, 503, 504, or no response (any FailureKind)
  Reset,                 // "reset": connection closed or stream reset mid-attempt
  ConnectFailure,        // "connect-failure": no connection (refused, unreachable, timed out)
  RefusedStream,         // "refused-stream": HTTP/2 REFUSED_STREAM, or GOAWAY before processing
  RetriableStatus,       // "retriable-status": a status listed in retriable_status
  GrpcCancelled,         // "grpc-cancelled": grpc-status 1
  GrpcDeadlineExceeded,  // "grpc-deadline-exceeded": grpc-status 4
  GrpcResourceExhausted, // "grpc-resource-exhausted": grpc-status 8
  GrpcInternal,          // "grpc-internal": grpc-status 13
  GrpcUnavailable,       // "grpc-unavailable": grpc-status 14
};
inline constexpr size_t kRetryOnCount = static_cast<size_t>(RetryOn::GrpcUnavailable) + 1;

std::string_view retryOnName(RetryOn condition);
// Config token -> condition; nullopt for an unknown token (the loader reports it).
std::optional<RetryOn> parseRetryOn(std::string_view token);

class RetryOnSet {
public:
  RetryOnSet() = default;
  RetryOnSet(std::initializer_list<RetryOn> conditions);
  void add(RetryOn condition) { bits_.set(static_cast<size_t>(condition)); }
  bool has(RetryOn condition) const { return bits_.test(static_cast<size_t>(condition)); }
  bool empty() const { return bits_.none(); }

private:
  std::bitset<kRetryOnCount> bits_;
};

// The route's `retry:` block, as far as the decision goes.
struct RetryPolicy {
  uint32_t max_retries = 1;
  RetryOnSet on;
  std::vector<int> retriable_status;  // used by RetryOn::RetriableStatus
  bool retry_non_idempotent = false;  // retry POST, PATCH, ... like idempotent methods
  bool allow_idempotency_key = false; // a non-idempotent request with Idempotency-Key is retried
};

// What the stream knows about the downstream request when an attempt ends.
struct RetryRequest {
  std::string_view method;          // case-sensitive (RFC 9110 section 9.1)
  bool has_idempotency_key = false; // carries an Idempotency-Key header
  bool body_too_large = false;      // body outgrew request_buffer: streamed, cannot be replayed
  bool response_started = false;    // response bytes (headers included) already went downstream
};

// Why an attempt ended without a response (the router synthesizes the response headers).
enum class FailureKind { None, ConnectFailure, Reset, RefusedStream, Timeout };

// How one attempt ended: a response (status, maybe grpc-status), or a failure.
struct AttemptOutcome {
  FailureKind failure = FailureKind::None;
  int http_status = 0;            // meaningful when failure == None
  std::optional<int> grpc_status; // grpc-status from headers or trailers, if any

  static AttemptOutcome response(int status, std::optional<int> grpc = std::nullopt) {
    return {FailureKind::None, status, grpc};
  }
  static AttemptOutcome failed(FailureKind kind) { return {kind, 0, std::nullopt}; }
};

struct RetryDecision {
  bool retry = false;
  std::string_view reason; // a condition name when retry, else one of the kNo* reasons
};

inline constexpr std::string_view kNoResponseStarted = "response-started";
inline constexpr std::string_view kNoNotRetriable = "not-retriable";
inline constexpr std::string_view kNoBodyTooLarge = "body-too-large";
inline constexpr std::string_view kNoNonIdempotent = "non-idempotent";
inline constexpr std::string_view kNoMaxRetries = "max-retries";

// GET HEAD OPTIONS TRACE PUT DELETE (RFC 9110 section 9.2.2).
bool isIdempotentMethod(std::string_view method);

// `attempts_so_far` counts the attempt that just ended (1 after the first try; 0 counts as 1).
RetryDecision decideRetry(const RetryPolicy& policy, const RetryRequest& request,
                          const AttemptOutcome& outcome, uint32_t attempts_so_far);

} // namespace seawall::filters::retry
