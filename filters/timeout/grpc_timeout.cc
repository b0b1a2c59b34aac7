#include "filters/timeout/grpc_timeout.h"

#include <array>
#include <cstdint>
#include <limits>

namespace seawall::filters::timeout {
namespace {

constexpr size_t kMaxDigits = 8;
constexpr int64_t kMaxValue = 99'999'999; // 8 digits

struct Unit {
  char symbol;
  int64_t nanos;
};

// Finest first: formatGrpcTimeout takes the first that fits.
constexpr std::array<Unit, 6> kUnits = {{
    {'n', 1},
    {'u', 1'000},
    {'m', 1'000'000},
    {'S', 1'000'000'000},
    {'M', int64_t{60} * 1'000'000'000},
    {'H', int64_t{3600} * 1'000'000'000},
}};

std::optional<int64_t> unitNanos(char symbol) {
  for (const Unit& u : kUnits) {
    if (u.symbol == symbol) {
      return u.nanos;
    }
  }
  return std::nullopt;
}

} // namespace

std::optional<std::chrono::nanoseconds> parseGrpcTimeout(std::string_view value) {
  if (value.size() < 2 || value.size() > kMaxDigits + 1) {
    return std::nullopt;
  }
  const std::optional<int64_t> unit = unitNanos(value.back());
  if (!unit) {
    return std::nullopt;
  }
  int64_t n = 0;
  for (const char c : value.substr(0, value.size() - 1)) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    n = n * 10 + (c - '0');
  }
  if (n > std::numeric_limits<int64_t>::max() / *unit) {
    return std::chrono::nanoseconds::max();
  }
  return std::chrono::nanoseconds(n * *unit);
}

std::string formatGrpcTimeout(std::chrono::nanoseconds remaining) {
  const int64_t ns = remaining.count();
  if (ns <= 0) {
    return "1n";
  }
  for (const Unit& u : kUnits) {
    const int64_t v = ns / u.nanos;
    if (v <= kMaxValue) {
      std::string out = std::to_string(v);
      out.push_back(u.symbol);
      return out;
    }
  }
  // Unreachable: int64 nanoseconds are below 2.6 million hours (7 digits).
  return std::to_string(kMaxValue) + "H";
}

} // namespace seawall::filters::timeout
