// Value syntax shared by the config file and the admin endpoint: durations, sizes, ratios and
// host:port addresses. Pure functions; nullopt means "not valid", the caller words the error.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"

namespace seawall::config {

// "250ms", "3s", "5m", "1h", "1.5s", "0s": a non-negative decimal number and a unit (ms, s, m, h)
// with nothing between them. Rejects a missing unit, a sign, whitespace, a value that is not a
// whole number of milliseconds ("0.5ms") and anything that does not fit in Duration.
std::optional<Duration> parseDuration(std::string_view text);

// "512" or "512B" (bytes), "64KiB", "1MiB", "2GiB" (powers of 1024), "1.5KiB" if the result is a
// whole number of bytes. Rejects signs, whitespace, other units and overflow.
std::optional<size_t> parseSize(std::string_view text);

// "50%" or "0.5": a number in [0, 1], or a percentage in [0%, 100%].
std::optional<double> parseRatio(std::string_view text);

// The inverses, in the largest unit that represents the value exactly: 1500ms -> "1500ms",
// 90000ms -> "90s", 3600000ms -> "1h", 0 -> "0s"; 65536 -> "64KiB", 1000 -> "1000B", 0 -> "0B".
std::string formatDuration(Duration duration);
std::string formatSize(size_t bytes);
// The shortest decimal ("0.5", "0.2", "1", "0.333") that parseRatio() reads back as exactly
// `ratio`; a ratio outside [0, 1] (not valid in a config) is still written, as the nearest number.
std::string formatRatio(double ratio);

// Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF): what a
// YAML text scalar can hold, so what a fallback body must be to show in the dumped config.
bool isUtf8Text(std::string_view text);

// "127.0.0.1:8080", "[::1]:8080", "inventory.default.svc:8080". The host is an IPv4 literal, a
// bracketed IPv6 literal or a DNS name ([A-Za-z0-9._-], at most 253 characters); the port is
// decimal, 0..65535 (validate() rejects 0). Brackets are not kept in HostPort::host.
std::optional<HostPort> parseHostPort(std::string_view text);

} // namespace seawall::config
