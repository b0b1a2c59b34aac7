#include "filters/async_202/callback_url.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>

namespace seawall::filters::async_202 {
namespace {

constexpr size_t kMaxHostLength = 253;
constexpr size_t kMaxLabelLength = 63;
constexpr uint32_t kMaxPort = 65535;

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool isHex(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowered(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

// RFC 3986 pchar plus '/' and '?' (path and query), '%' checked separately.
bool isPathChar(char c) {
  static constexpr std::string_view kOther = "-._~!$&'()*+,;=:@/?";
  return isAlpha(c) || isDigit(c) || kOther.find(c) != std::string_view::npos;
}

// Digits only, at most `max_digits` of them: the value; else -1.
int smallNumber(std::string_view digits, size_t max_digits) {
  if (digits.empty() || digits.size() > max_digits ||
      !std::all_of(digits.begin(), digits.end(), isDigit)) {
    return -1;
  }
  int value = 0;
  for (char c : digits) {
    value = value * 10 + (c - '0');
  }
  return value;
}

// Strict dotted-decimal: exactly four parts 0..255, no leading zeros.
bool isDottedQuad(std::string_view host) {
  if (std::count(host.begin(), host.end(), '.') != 3) {
    return false;
  }
  size_t start = 0;
  for (int part = 0; part < 4; ++part) {
    const size_t dot = std::min(host.find('.', start), host.size());
    const std::string_view digits = host.substr(start, dot - start);
    const int value = smallNumber(digits, 3);
    if (value < 0 || value > 255 || (digits.size() > 1 && digits.front() == '0')) {
      return false;
    }
    start = dot + 1;
  }
  return true;
}

bool isLabel(std::string_view label) {
  if (label.empty() || label.size() > kMaxLabelLength || label.front() == '-' ||
      label.back() == '-') {
    return false;
  }
  return std::all_of(label.begin(), label.end(),
                     [](char c) { return isAlpha(c) || isDigit(c) || c == '-'; });
}

// Host (lowercase, trailing dot already dropped) -> kind, or an error.
std::string classifyHost(const std::string& host, CallbackHostKind& kind) {
  if (host.empty()) {
    return "callback URL has no host";
  }
  if (isDottedQuad(host)) {
    kind = CallbackHostKind::Ipv4;
    return "";
  }
  if (host.size() > kMaxHostLength) {
    return "callback host is too long";
  }
  size_t start = 0;
  std::string_view last;
  while (start <= host.size()) {
    size_t dot = std::min(host.find('.', start), host.size());
    last = std::string_view(host).substr(start, dot - start);
    if (!isLabel(last)) {
      return "callback host '" + host + "' is not a valid host name or IP address";
    }
    start = dot + 1;
  }
  // WHATWG's "ends in a number": 2130706433, 0177.0.0.1, 0x7f.1, 127.1 read as IPv4 somewhere.
  const bool hex = last.size() > 1 && last[0] == '0' && last[1] == 'x' &&
                   std::all_of(last.begin() + 2, last.end(), isHex);
  if (std::all_of(last.begin(), last.end(), isDigit) || hex) {
    return "callback host '" + host +
           "' is a numeric host that is not a dotted-decimal IPv4 address";
  }
  kind = CallbackHostKind::Name;
  return "";
}

// ":digits" after the host, or nothing. Fills port.
std::string parsePort(std::string_view rest, CallbackTarget& target) {
  if (rest.empty()) {
    return "";
  }
  if (rest.front() != ':') {
    return "callback URL has characters after the IPv6 literal";
  }
  const int port = smallNumber(rest.substr(1), 5);
  if (port < 0) {
    return "callback URL has an invalid port";
  }
  if (port < 1 || static_cast<uint32_t>(port) > kMaxPort) {
    return "callback URL port must be 1..65535";
  }
  target.port = static_cast<uint16_t>(port);
  return "";
}

// "[v6]" then the rest of the authority (":port" or nothing).
std::string parseBracketed(std::string_view authority, CallbackTarget& target,
                           std::string_view& rest) {
  const size_t close = authority.find(']');
  if (close == std::string_view::npos) {
    return "callback URL has an unterminated IPv6 literal";
  }
  target.host = lowered(authority.substr(1, close - 1));
  rest = authority.substr(close + 1);
  in6_addr addr{};
  if (inet_pton(AF_INET6, target.host.c_str(), &addr) != 1) {
    return "callback host '[" + target.host + "]' is not a valid IPv6 address";
  }
  target.kind = CallbackHostKind::Ipv6;
  return "";
}

// "[v6]" or "host", then optional ":port". Fills host, kind, port.
std::string parseAuthority(std::string_view authority, CallbackTarget& target) {
  if (authority.find('@') != std::string_view::npos) {
    return "callback URL must not carry user information ('@')";
  }
  std::string_view rest;
  if (!authority.empty() && authority.front() == '[') {
    if (std::string error = parseBracketed(authority, target, rest); !error.empty()) {
      return error;
    }
  } else {
    const size_t colon = std::min(authority.find(':'), authority.size());
    rest = authority.substr(colon);
    target.host = lowered(authority.substr(0, colon));
    if (!target.host.empty() && target.host.back() == '.') {
      target.host.pop_back(); // the root label: "hooks.internal." is "hooks.internal"
    }
    if (std::string error = classifyHost(target.host, target.kind); !error.empty()) {
      return error;
    }
  }
  return parsePort(rest, target);
}

std::string checkPathAndQuery(std::string_view path) {
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%') {
      if (i + 2 >= path.size() || !isHex(path[i + 1]) || !isHex(path[i + 2])) {
        return "callback URL has a bad percent-encoding";
      }
      i += 2;
    } else if (!isPathChar(path[i])) {
      return "callback URL path has a character that must be percent-encoded";
    }
  }
  return "";
}

// Characters refused anywhere in the URL, before any parsing.
std::string checkCharacters(std::string_view url) {
  for (char c : url) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      return "callback URL contains a control character";
    }
    if (c == ' ') {
      return "callback URL contains a space";
    }
    if (byte >= 0x80) {
      return "callback URL contains a non-ASCII byte (percent-encode it)";
    }
    if (c == '#') {
      return "callback URL must not carry a fragment ('#')";
    }
  }
  return "";
}

CallbackUrl refused(std::string error) { return CallbackUrl{CallbackTarget{}, std::move(error)}; }

} // namespace

std::string CallbackTarget::authority() const {
  std::string out = kind == CallbackHostKind::Ipv6 ? "[" + host + "]" : host;
  if (port != 80) {
    out += ":" + std::to_string(port);
  }
  return out;
}

CallbackUrl parseCallbackUrl(std::string_view url) {
  if (url.size() > kMaxCallbackUrlLength) {
    return refused("callback URL is longer than " + std::to_string(kMaxCallbackUrlLength) +
                   " bytes");
  }
  if (std::string error = checkCharacters(url); !error.empty()) {
    return refused(std::move(error));
  }
  size_t sep = url.find("://");
  std::string scheme = lowered(url.substr(0, sep == std::string_view::npos ? 0 : sep));
  if (scheme == "https") {
    return refused("https callback URLs are not supported in this build (no TLS client): use "
                   "http://");
  }
  if (scheme != "http") {
    return refused("callback URL must start with http://");
  }
  std::string_view rest = url.substr(sep + 3);
  size_t end = std::min(rest.find('/'), rest.find('?'));
  std::string_view authority = rest.substr(0, std::min(end, rest.size()));
  CallbackUrl out;
  if (std::string error = parseAuthority(authority, out.target); !error.empty()) {
    return refused(std::move(error));
  }
  std::string_view path = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (std::string error = checkPathAndQuery(path); !error.empty()) {
    return refused(std::move(error));
  }
  if (path.empty() || path.front() == '?') {
    out.target.path_and_query = "/" + std::string(path);
  } else {
    out.target.path_and_query = std::string(path);
  }
  return out;
}

CallbackUrl checkCallbackUrl(std::string_view url, const std::vector<std::string>& allow) {
  CallbackUrl parsed = parseCallbackUrl(url);
  if (!parsed.ok()) {
    return parsed;
  }
  if (std::find(allow.begin(), allow.end(), parsed.target.host) == allow.end()) {
    return refused("callback host '" + parsed.target.host + "' is not in callback_allow");
  }
  return parsed;
}

} // namespace seawall::filters::async_202
