// The grpc-timeout request header (gRPC over HTTP/2, "Requests"):
//
//   Timeout      -> "grpc-timeout" TimeoutValue TimeoutUnit
//   TimeoutValue -> {positive integer as ASCII string of at most 8 digits}
//   TimeoutUnit  -> Hour / Minute / Second / Millisecond / Microsecond / Nanosecond
//                   ("H" / "M" / "S" / "m" / "u" / "n")
//
// Pure functions, no allocation when parsing.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace seawall::filters::timeout {

// 1 to 8 ASCII digits then exactly one unit; nothing before, between or after (no spaces, no
// sign). "0S" is valid (zero: the deadline has already passed). Anything else: nullopt. Values
// beyond what nanoseconds hold (over ~292 years, e.g. "99999999H") saturate at
// nanoseconds::max().
std::optional<std::chrono::nanoseconds> parseGrpcTimeout(std::string_view value);

// The shortest encoding of `remaining` to send upstream: the finest unit (n, u, m, S, M, H) in
// which the value fits 8 digits, truncated (rounded down) in that unit. Truncation never makes
// the upstream's deadline later than ours and loses less than one part in 10^5 (a coarser unit
// is only chosen when the finer one needs more than 8 digits); a positive duration never
// encodes as 0 (below 10^8 ns it is sent in nanoseconds, exactly). A zero or negative
// duration encodes as "1n" (the smallest positive timeout: the upstream gives up at once).
std::string formatGrpcTimeout(std::chrono::nanoseconds remaining);

} // namespace seawall::filters::timeout
