// Delay before a retry: exponential backoff with full jitter, and the upstream's Retry-After.
//
// Pure functions: randomness comes from the caller's Random&, time from the caller's `now`.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include "proxy/common/random.h"

namespace seawall::filters::retry {

// `retry.backoff` of a route. Negative durations count as zero.
struct BackoffPolicy {
  std::chrono::milliseconds base{25};
  std::chrono::milliseconds max{1000};
};

// Upper bound of the delay before retry `attempt` (1-based: 1 = the first retry):
// min(max, base * 2^(attempt-1)), computed without overflow (saturates at max). Attempt 0 counts
// as 1.
std::chrono::milliseconds backoffCeiling(const BackoffPolicy& policy, uint32_t attempt);

// Full jitter: uniform in [0, backoffCeiling(policy, attempt)], both ends included.
std::chrono::milliseconds backoffDelay(const BackoffPolicy& policy, uint32_t attempt,
                                       proxy::Random& random);

// Parses a Retry-After value (RFC 9110 section 10.2.3) into a delay from `now`:
// - delay-seconds: 1*DIGIT (no sign, no fraction); huge values saturate;
// - HTTP-date in any of the three formats a recipient must accept (section 5.6.7): IMF-fixdate
//   ("Sun, 06 Nov 1994 08:49:37 GMT"), obsolete RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT"; a
//   two-digit year more than 50 years ahead of `now` is taken in the previous century) and
//   asctime ("Sun Nov  6 08:49:37 1994"). Names are case-sensitive; the day name must be valid
//   but is not checked against the date. A date in the past means "now" (zero delay).
// Leading and trailing spaces and tabs are ignored. Anything else: nullopt.
std::optional<std::chrono::milliseconds> parseRetryAfter(std::string_view value,
                                                         std::chrono::system_clock::time_point now);

// The delay Seawall honours: min(parsed Retry-After, policy.max); nullopt if the value is invalid
// (the caller then uses backoffDelay).
std::optional<std::chrono::milliseconds>
honouredRetryAfter(std::string_view value, std::chrono::system_clock::time_point now,
                   const BackoffPolicy& policy);

} // namespace seawall::filters::retry
