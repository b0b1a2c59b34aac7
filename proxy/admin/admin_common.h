// Small pieces the admin endpoints share: target parsing and the JSON fields of one breaker.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace seawall::proxy {
class ClusterRuntime;
}

namespace seawall::proxy::admin {

// Origin-form target without its query string (and fragment, should a client send one).
std::string_view pathOf(std::string_view target);
// The query string of an origin-form target ("" when it has none).
std::string_view queryOf(std::string_view target);
// The value of the first `name=value` pair of `query`; nullopt when absent.
std::optional<std::string_view> queryParam(std::string_view query, std::string_view name);

// Appends `s` as a JSON string literal; control characters as \u00XX.
void appendJsonString(std::string& out, std::string_view s);
// Appends `value` in its shortest round-trip form (JSON number).
void appendNumber(std::string& out, double value);
// Appends the leading fields of a cluster's /breakers object, without braces:
// "name":..,"breaker":..,"state":..,"mode":..,"window":{"calls":..,"failure_rate":..,"slow_rate":..}
// Reading the state may move an open breaker whose open_for has passed to half_open.
void appendBreakerFields(std::string& out, ClusterRuntime& rt,
                         std::chrono::steady_clock::time_point now);

} // namespace seawall::proxy::admin
