#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "filters/async_202/callback_url.h"

namespace seawall::filters::async_202 {
namespace {

const std::vector<std::string> allowed_hosts = {"127.0.0.1", "::1", "hooks.internal", "10.0.0.7"};

struct Accepted {
  std::string url;
  std::string host;
  CallbackHostKind kind;
  uint16_t port;
  std::string path_and_query;
  std::string authority;
};

TEST(CallbackUrlTest, AcceptsAllowedHttpUrls) {
  const std::vector<Accepted> cases = {
      {"http://127.0.0.1/done", "127.0.0.1", CallbackHostKind::Ipv4, 80, "/done", "127.0.0.1"},
      {"http://127.0.0.1:8080/a/b?x=1&y=%2F", "127.0.0.1", CallbackHostKind::Ipv4, 8080,
       "/a/b?x=1&y=%2F", "127.0.0.1:8080"},
      {"http://127.0.0.1", "127.0.0.1", CallbackHostKind::Ipv4, 80, "/", "127.0.0.1"},
      {"http://127.0.0.1?q=1", "127.0.0.1", CallbackHostKind::Ipv4, 80, "/?q=1", "127.0.0.1"},
      {"http://127.0.0.1:1/", "127.0.0.1", CallbackHostKind::Ipv4, 1, "/", "127.0.0.1:1"},
      {"http://127.0.0.1:65535/", "127.0.0.1", CallbackHostKind::Ipv4, 65535, "/",
       "127.0.0.1:65535"},
      {"http://127.0.0.1:80/", "127.0.0.1", CallbackHostKind::Ipv4, 80, "/", "127.0.0.1"},
      {"HTTP://127.0.0.1/", "127.0.0.1", CallbackHostKind::Ipv4, 80, "/", "127.0.0.1"},
      {"http://[::1]:9000/cb", "::1", CallbackHostKind::Ipv6, 9000, "/cb", "[::1]:9000"},
      {"http://[::1]/", "::1", CallbackHostKind::Ipv6, 80, "/", "[::1]"},
      {"http://hooks.internal/x", "hooks.internal", CallbackHostKind::Name, 80, "/x",
       "hooks.internal"},
      // Upper case is lowered; the root's trailing dot is dropped.
      {"http://HOOKS.Internal/x", "hooks.internal", CallbackHostKind::Name, 80, "/x",
       "hooks.internal"},
      {"http://hooks.internal./x", "hooks.internal", CallbackHostKind::Name, 80, "/x",
       "hooks.internal"},
      {"http://127.0.0.1./x", "127.0.0.1", CallbackHostKind::Ipv4, 80, "/x", "127.0.0.1"},
      {"http://10.0.0.7/p:@!$&'()*+,;=-._~", "10.0.0.7", CallbackHostKind::Ipv4, 80,
       "/p:@!$&'()*+,;=-._~", "10.0.0.7"},
  };
  for (const Accepted& c : cases) {
    SCOPED_TRACE(c.url);
    CallbackUrl parsed = checkCallbackUrl(c.url, allowed_hosts);
    ASSERT_TRUE(parsed.ok()) << parsed.error;
    EXPECT_EQ(parsed.target.host, c.host);
    EXPECT_EQ(parsed.target.kind, c.kind);
    EXPECT_EQ(parsed.target.port, c.port);
    EXPECT_EQ(parsed.target.path_and_query, c.path_and_query);
    EXPECT_EQ(parsed.target.authority(), c.authority);
    EXPECT_EQ(parsed.target.isIpLiteral(), c.kind != CallbackHostKind::Name);
  }
}

struct Refused {
  std::string url;
  std::string error_part; // a substring of the reason
};

TEST(CallbackUrlTest, RefusesBadSyntax) {
  const std::vector<Refused> cases = {
      {"https://127.0.0.1/", "https callback URLs are not supported in this build"},
      {"HTTPS://127.0.0.1/", "https callback URLs are not supported"},
      {"ftp://127.0.0.1/", "must start with http://"},
      {"127.0.0.1/cb", "must start with http://"},
      {"http:/127.0.0.1/", "must start with http://"},
      {"//127.0.0.1/", "must start with http://"},
      {"", "must start with http://"},
      {"http://", "has no host"},
      {"http:///path", "has no host"},
      {"http://:80/", "has no host"},
      {"http://127.0.0.1:/", "invalid port"},
      {"http://127.0.0.1:0/", "port must be 1..65535"},
      {"http://127.0.0.1:65536/", "port must be 1..65535"},
      {"http://127.0.0.1:123456/", "invalid port"},
      {"http://127.0.0.1:+80/", "invalid port"},
      {"http://127.0.0.1:8x/", "invalid port"},
      {"http://[::1/", "unterminated IPv6"},
      {"http://[::1]x/", "characters after the IPv6 literal"},
      {"http://[::g]/", "not a valid IPv6 address"},
      {"http://[fe80::1%25eth0]/", "not a valid IPv6 address"},
      {"http://::1/", "has no host"},
      {"http://a..b/", "not a valid host name"},
      {"http://hooks.internal../", "not a valid host name"},
      {"http://-hooks.internal/", "not a valid host name"},
      {"http://hooks_internal/", "not a valid host name"},
      {"http://hooks%2einternal/", "not a valid host name"},
      {"http://127.0.0.1\\@evil/", "user information"},
      {"http://127.0.0.1/a b", "contains a space"},
      {"http://127.0.0.1/a\tb", "control character"},
      {"http://127.0.0.1/a\r\nx-injected: 1", "control character"},
      {std::string("http://127.0.0.1/a\0b", 20), "control character"},
      {"http://127.0.0.1/a\x7f", "control character"},
      {"http://127.0.0.1/caf\xc3\xa9", "non-ASCII"},
      {"http://127.0.0.1/a\\b", "must be percent-encoded"},
      {"http://127.0.0.1/a%zz", "bad percent-encoding"},
      {"http://127.0.0.1/a%2", "bad percent-encoding"},
      {"http://127.0.0.1/#frag", "fragment"},
      {"http://127.0.0.1/" + std::string(kMaxCallbackUrlLength, 'a'), "longer than 2048"},
      {"http://" + std::string(64, 'a') + ".internal/", "not a valid host name"},
  };
  for (const Refused& c : cases) {
    SCOPED_TRACE(c.url);
    CallbackUrl parsed = parseCallbackUrl(c.url);
    EXPECT_FALSE(parsed.ok());
    EXPECT_NE(parsed.error.find(c.error_part), std::string::npos) << parsed.error;
  }
}

// Server-side request forgery: whatever a parser elsewhere might read, only a host written exactly
// as in the allow list passes.
TEST(CallbackUrlTest, RefusesSsrfTricks) {
  const std::vector<Refused> cases = {
      // Userinfo: a browser would go to "evil" (or to 127.0.0.1).
      {"http://127.0.0.1@evil/", "user information"},
      {"http://evil@127.0.0.1/", "user information"},
      {"http://user:pw@127.0.0.1/", "user information"},
      {"http://127.0.0.1:80@evil/", "user information"},
      // Fragment hiding the real host from a naive "last @" parser.
      {"http://evil#@127.0.0.1/", "fragment"},
      {"http://127.0.0.1#@evil/", "fragment"},
      // Numeric hosts that resolvers read as 127.0.0.1.
      {"http://2130706433/", "numeric host"},
      {"http://0177.0.0.1/", "numeric host"},
      {"http://0x7f.0.0.1/", "numeric host"},
      {"http://0x7f000001/", "numeric host"},
      {"http://127.1/", "numeric host"},
      {"http://127.0.0.01/", "numeric host"},
      {"http://127.000.000.001/", "numeric host"},
      {"http://256.0.0.1/", "numeric host"},
      // Not in the list: near misses and other spellings of listed hosts.
      {"http://127.0.0.2/", "not in callback_allow"},
      {"http://evil/", "not in callback_allow"},
      {"http://hooks.internal.evil/", "not in callback_allow"},
      {"http://evilhooks.internal/", "not in callback_allow"},
      {"http://sub.hooks.internal/", "not in callback_allow"},
      {"http://localhost/", "not in callback_allow"},
      {"http://[0:0:0:0:0:0:0:1]/", "not in callback_allow"},
      {"http://[::ffff:127.0.0.1]/", "not in callback_allow"},
      {"http://[::]/", "not in callback_allow"},
      {"http://0.0.0.0/", "not in callback_allow"},
      {"http://evil/http://127.0.0.1/", "not in callback_allow"},
      {"http://evil?@127.0.0.1/", "not in callback_allow"},
  };
  for (const Refused& c : cases) {
    SCOPED_TRACE(c.url);
    CallbackUrl parsed = checkCallbackUrl(c.url, allowed_hosts);
    EXPECT_FALSE(parsed.ok());
    EXPECT_NE(parsed.error.find(c.error_part), std::string::npos) << parsed.error;
  }
}

TEST(CallbackUrlTest, EmptyAllowListRefusesEverything) {
  CallbackUrl parsed = checkCallbackUrl("http://127.0.0.1/", {});
  EXPECT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error, "callback host '127.0.0.1' is not in callback_allow");
}

TEST(CallbackUrlTest, LongestAcceptedUrl) {
  std::string url = "http://127.0.0.1/";
  url += std::string(kMaxCallbackUrlLength - url.size(), 'a');
  EXPECT_TRUE(checkCallbackUrl(url, allowed_hosts).ok());
  EXPECT_FALSE(checkCallbackUrl(url + "a", allowed_hosts).ok());
}

} // namespace
} // namespace seawall::filters::async_202
