// The callback URL of a 202-converted job: parsed from the request's `callback_header` and checked
// against the route's `callback_allow` (the guard against server-side request forgery).
//
// Pure functions, no I/O, no DNS. Accepted form, and nothing else:
//
//   http://HOST[:PORT][/PATH][?QUERY]
//
// - scheme `http` (case-insensitive). `https` is refused: this build has no TLS client.
// - HOST: an IPv4 literal in strict dotted-decimal (four parts 0..255, no leading zeros), an IPv6
//   literal in brackets (what inet_pton accepts, no zone id), or a DNS name (labels of a-z, 0-9
//   and '-', 1..63 characters, not starting or ending with '-', 253 characters at most). Upper
//   case is lowered; one trailing dot (the root) is dropped. A host whose last label is numeric
//   but that is not a strict dotted quad (`2130706433`, `0177.0.0.1`, `0x7f.1`, `127.1`) is
//   refused: resolvers read those as IPv4 addresses in ways that differ from one library to the
//   next.
// - PORT: 1..65535, digits only; default 80. `host:` with no digits is refused.
// - PATH and QUERY: RFC 3986 characters only (unreserved, sub-delims, ':', '@', '/', '?', and
//   '%' followed by two hex digits). No PATH: "/". `http://h?q` gives "/?q".
// - Refused anywhere: userinfo (`user@host`), fragments ('#'), spaces, control characters,
//   bytes >= 0x80, and URLs longer than kMaxCallbackUrlLength.
// - Allowed only when the (lowered, dot-stripped) HOST equals an entry of `allow` exactly: no
//   resolution, no IPv6 canonicalisation (`[0::1]` does not match `::1`), no suffix match.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace seawall::filters::async_202 {

inline constexpr size_t kMaxCallbackUrlLength = 2048;

enum class CallbackHostKind { Ipv4, Ipv6, Name };

// Where a callback goes.
struct CallbackTarget {
  std::string host; // lowercase; IPv6 without brackets
  CallbackHostKind kind = CallbackHostKind::Name;
  uint16_t port = 80;
  std::string path_and_query = "/"; // origin-form, starts with '/'

  bool isIpLiteral() const { return kind != CallbackHostKind::Name; }
  // The Host header: host (IPv6 in brackets), ":port" unless 80.
  std::string authority() const;
  bool operator==(const CallbackTarget&) const = default;
};

// A target, or the reason the URL was refused (a short sentence for logs and tests).
struct CallbackUrl {
  CallbackTarget target;
  std::string error; // empty: accepted
  bool ok() const { return error.empty(); }
};

// Syntax only (no allow list).
CallbackUrl parseCallbackUrl(std::string_view url);
// Syntax, then the allow list (lowercase hosts or IP literals, as config's callback_allow).
CallbackUrl checkCallbackUrl(std::string_view url, const std::vector<std::string>& allow);

} // namespace seawall::filters::async_202
