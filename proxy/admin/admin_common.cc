#include "proxy/admin/admin_common.h"

#include <array>
#include <charconv>

#include "proxy/upstream/cluster_runtime.h"

namespace seawall::proxy::admin {

namespace cb = filters::circuit_breaker;

std::string_view pathOf(std::string_view target) {
  const size_t end = target.find_first_of("?#");
  return end == std::string_view::npos ? target : target.substr(0, end);
}

std::string_view queryOf(std::string_view target) {
  const size_t q = target.find('?');
  if (q == std::string_view::npos) {
    return {};
  }
  const std::string_view rest = target.substr(q + 1);
  return rest.substr(0, rest.find('#'));
}

std::optional<std::string_view> queryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    }
  }
  return std::nullopt;
}

void appendJsonString(std::string& out, std::string_view s) {
  constexpr std::string_view kHex = "0123456789abcdef";
  out += '"';
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out.append("\\u00").append(1, kHex[u >> 4]).append(1, kHex[u & 0xf]);
    } else {
      out += c;
    }
  }
  out += '"';
}

void appendNumber(std::string& out, double value) {
  std::array<char, 32> buf{};
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  out.append(buf.data(), ec == std::errc() ? end : buf.data());
}

void appendBreakerFields(std::string& out, ClusterRuntime& rt,
                         std::chrono::steady_clock::time_point now) {
  cb::CircuitBreaker* breaker = rt.breaker();
  const cb::State state = breaker != nullptr ? breaker->state(now) : cb::State::Disabled;
  const cb::Mode mode = breaker != nullptr ? breaker->mode() : cb::Mode::Disabled;
  const cb::Rates rates = breaker != nullptr ? breaker->rates(now) : cb::Rates{};
  out += "\"name\":";
  appendJsonString(out, rt.name());
  out.append(",\"breaker\":").append(breaker != nullptr ? "true" : "false");
  out.append(",\"state\":\"").append(cb::toString(state));
  out.append("\",\"mode\":\"").append(cb::toString(mode));
  out.append("\",\"window\":{\"calls\":").append(std::to_string(rates.calls));
  out += ",\"failure_rate\":";
  appendNumber(out, rates.failure_rate);
  out += ",\"slow_rate\":";
  appendNumber(out, rates.slow_rate);
  out += "}";
}

} // namespace seawall::proxy::admin
