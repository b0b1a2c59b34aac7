#include "config/units.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <charconv>
#include <cstdint>
#include <limits>
#include <system_error>
#include <utility>

namespace seawall::config {
namespace {

struct Unit {
  std::string_view suffix;
  uint64_t factor;
};

// Largest first: the formatters pick the first unit that divides the value.
constexpr std::array<Unit, 4> kDurationUnits{
    {{"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}}};
constexpr std::array<Unit, 4> kSizeUnits{
    {{"GiB", uint64_t{1} << 30}, {"MiB", uint64_t{1} << 20}, {"KiB", 1024}, {"B", 1}}};

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// A non-negative decimal number "123" or "1.25", as mantissa / scale (scale a power of ten).
struct Decimal {
  uint64_t mantissa = 0;
  uint64_t scale = 1;
};

bool appendDigit(uint64_t& value, char digit) {
  return !__builtin_mul_overflow(value, uint64_t{10}, &value) &&
         !__builtin_add_overflow(value, static_cast<uint64_t>(digit - '0'), &value);
}

std::optional<Decimal> parseDecimal(std::string_view text) {
  Decimal d;
  size_t i = 0;
  for (; i < text.size() && isDigit(text[i]); ++i) {
    if (!appendDigit(d.mantissa, text[i])) {
      return std::nullopt;
    }
  }
  if (i == 0) {
    return std::nullopt; // no integer part: "", ".5", "-1"
  }
  if (i == text.size()) {
    return d;
  }
  if (text[i] != '.' || i + 1 == text.size()) {
    return std::nullopt;
  }
  for (++i; i < text.size(); ++i) {
    if (!isDigit(text[i]) || !appendDigit(d.mantissa, text[i]) ||
        __builtin_mul_overflow(d.scale, uint64_t{10}, &d.scale)) {
      return std::nullopt;
    }
  }
  return d;
}

// decimal * factor, if it is a whole number that fits in uint64_t.
std::optional<uint64_t> scaleExactly(const Decimal& d, uint64_t factor) {
  uint64_t product = 0;
  if (__builtin_mul_overflow(d.mantissa, factor, &product) || product % d.scale != 0) {
    return std::nullopt;
  }
  return product / d.scale;
}

// Splits "1.5KiB" into "1.5" and "KiB".
std::pair<std::string_view, std::string_view> splitNumber(std::string_view text) {
  size_t end = 0;
  while (end < text.size() && (isDigit(text[end]) || text[end] == '.')) {
    ++end;
  }
  return {text.substr(0, end), text.substr(end)};
}

template <size_t N>
std::optional<uint64_t> parseWithUnits(std::string_view text, const std::array<Unit, N>& units,
                                       bool unit_optional) {
  auto [number, suffix] = splitNumber(text);
  auto decimal = parseDecimal(number);
  if (!decimal) {
    return std::nullopt;
  }
  if (suffix.empty()) {
    return unit_optional ? scaleExactly(*decimal, 1) : std::nullopt;
  }
  for (const Unit& unit : units) {
    if (unit.suffix == suffix) {
      return scaleExactly(*decimal, unit.factor);
    }
  }
  return std::nullopt;
}

template <size_t N>
std::string formatWithUnits(uint64_t value, const std::array<Unit, N>& units,
                            std::string_view zero) {
  if (value == 0) {
    return std::string(zero);
  }
  for (const Unit& unit : units) {
    if (value % unit.factor == 0) {
      return std::to_string(value / unit.factor) + std::string(unit.suffix);
    }
  }
  return std::to_string(value); // unreachable: the last unit has factor 1
}

std::optional<uint16_t> parsePort(std::string_view text) {
  if (text.empty() || text.size() > 5) {
    return std::nullopt;
  }
  uint64_t value = 0;
  for (char c : text) {
    if (!isDigit(c) || !appendDigit(value, c)) {
      return std::nullopt;
    }
  }
  if (value > std::numeric_limits<uint16_t>::max()) {
    return std::nullopt;
  }
  return static_cast<uint16_t>(value);
}

bool isInet(int family, std::string_view host) {
  std::array<unsigned char, sizeof(in6_addr)> buf{};
  const std::string copy(host);
  return inet_pton(family, copy.c_str(), buf.data()) == 1;
}

bool isHostName(std::string_view host) {
  if (host.empty() || host.size() > 253 || host.front() == '.' || host.front() == '-' ||
      host.find("..") != std::string_view::npos) {
    return false;
  }
  bool digits_and_dots = true;
  for (char c : host) {
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alpha && !isDigit(c) && c != '.' && c != '-' && c != '_') {
      return false;
    }
    digits_and_dots = digits_and_dots && (isDigit(c) || c == '.');
  }
  // "127.0.0.256" is a typo for an IPv4 literal, not a DNS name.
  return !digits_and_dots || isInet(AF_INET, host);
}

// One row of RFC 3629's table of well-formed byte sequences.
struct Utf8Form {
  unsigned char lead_low;
  unsigned char lead_high;
  unsigned char second_low; // the second byte's range (later bytes are always 80..BF)
  unsigned char second_high;
  size_t length;
};
constexpr std::array<Utf8Form, 9> kUtf8Forms{{{0x00, 0x7F, 0x00, 0xFF, 1},
                                              {0xC2, 0xDF, 0x80, 0xBF, 2},
                                              {0xE0, 0xE0, 0xA0, 0xBF, 3},
                                              {0xE1, 0xEC, 0x80, 0xBF, 3},
                                              {0xED, 0xED, 0x80, 0x9F, 3},
                                              {0xEE, 0xEF, 0x80, 0xBF, 3},
                                              {0xF0, 0xF0, 0x90, 0xBF, 4},
                                              {0xF1, 0xF3, 0x80, 0xBF, 4},
                                              {0xF4, 0xF4, 0x80, 0x8F, 4}}};

// Length of the well-formed sequence starting at text[i] (i < text.size()), 0 if there is none.
size_t utf8SequenceLength(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[i + k]); };
  for (const Utf8Form& form : kUtf8Forms) {
    if (byte(0) < form.lead_low || byte(0) > form.lead_high) {
      continue;
    }
    if (text.size() - i < form.length ||
        (form.length > 1 && (byte(1) < form.second_low || byte(1) > form.second_high))) {
      return 0;
    }
    for (size_t k = 2; k < form.length; ++k) {
      if (byte(k) < 0x80 || byte(k) > 0xBF) {
        return 0;
      }
    }
    return form.length;
  }
  return 0;
}

} // namespace

bool isUtf8Text(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const size_t length = utf8SequenceLength(text, i);
    if (length == 0) {
      return false;
    }
    i += length;
  }
  return true;
}

std::optional<Duration> parseDuration(std::string_view text) {
  auto ms = parseWithUnits(text, kDurationUnits, /*unit_optional=*/false);
  if (!ms || *ms > static_cast<uint64_t>(std::numeric_limits<Duration::rep>::max())) {
    return std::nullopt;
  }
  return Duration(static_cast<Duration::rep>(*ms));
}

std::optional<size_t> parseSize(std::string_view text) {
  auto bytes = parseWithUnits(text, kSizeUnits, /*unit_optional=*/true);
  if (!bytes || *bytes > std::numeric_limits<size_t>::max()) {
    return std::nullopt;
  }
  return static_cast<size_t>(*bytes);
}

std::optional<double> parseRatio(std::string_view text) {
  const bool percent = !text.empty() && text.back() == '%';
  if (percent) {
    text.remove_suffix(1);
  }
  auto decimal = parseDecimal(text);
  if (!decimal) {
    return std::nullopt;
  }
  const uint64_t whole = percent ? 100 : 1;
  uint64_t limit = 0; // the largest mantissa allowed: value <= 1 (or 100%)
  if (!__builtin_mul_overflow(decimal->scale, whole, &limit) && decimal->mantissa > limit) {
    return std::nullopt;
  }
  return static_cast<double>(decimal->mantissa) / static_cast<double>(decimal->scale) /
         static_cast<double>(whole);
}

std::string formatDuration(Duration duration) {
  const auto count = duration.count();
  if (count < 0) {
    // Not valid in a config, but the admin endpoint should still say what it holds.
    return "-" + formatWithUnits(0 - static_cast<uint64_t>(count), kDurationUnits, "0s");
  }
  return formatWithUnits(static_cast<uint64_t>(count), kDurationUnits, "0s");
}

std::string formatSize(size_t bytes) { return formatWithUnits(bytes, kSizeUnits, "0B"); }

std::string formatRatio(double ratio) {
  std::array<char, 64> buf{};
  std::string best;
  // The fewest decimals that read back exactly. Ratios written in a config file read back with
  // their own decimals; a computed one may need up to 17. Past that parseRatio's mantissa would
  // lose precision, so the 17-decimal text (the nearest) is the answer.
  for (int decimals = 1; decimals <= 17; ++decimals) {
    auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), ratio,
                                   std::chars_format::fixed, decimals);
    if (ec != std::errc()) {
      break;
    }
    std::string text(buf.data(), end);
    while (text.size() > 1 && text.back() == '0' && text.find('.') != std::string::npos) {
      text.pop_back();
    }
    if (text.back() == '.') {
      text.pop_back();
    }
    best = text;
    if (parseRatio(text) == ratio) {
      return text;
    }
  }
  return best;
}

std::optional<HostPort> parseHostPort(std::string_view text) {
  std::string_view host;
  std::string_view port;
  const bool bracketed = !text.empty() && text.front() == '[';
  if (bracketed) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return std::nullopt;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  auto port_number = parsePort(port);
  if (!port_number || !(bracketed ? isInet(AF_INET6, host) : isHostName(host))) {
    return std::nullopt;
  }
  return HostPort{std::string(host), *port_number};
}

} // namespace seawall::config
