#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "proxy/codec/http1_common.h"
#include "proxy/common/event_ptr.h"

namespace seawall::proxy::http1 {
namespace {

std::string written(const HeaderMap& headers) {
  EvBufferPtr out = makeEvBuffer();
  writeHeaderLines(out.get(), headers);
  std::string text(evbuffer_get_length(out.get()), '\0');
  evbuffer_remove(out.get(), text.data(), text.size());
  return text;
}

TEST(Http1CommonTest, TokenCharactersAreExactlyRfc9110Tchar) {
  const std::string_view tchar =
      "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  for (int c = 0; c < 256; ++c) {
    const bool want = tchar.find(static_cast<char>(c)) != std::string_view::npos;
    EXPECT_EQ(isTokenChar(static_cast<char>(c)), want) << c;
  }
  EXPECT_TRUE(isToken("x-request-id"));
  EXPECT_FALSE(isToken(""));
  EXPECT_FALSE(isToken("bad name"));
  EXPECT_FALSE(isToken("colon:"));
}

TEST(Http1CommonTest, HeaderBlockIsWrittenInOrderAndSkipsWhatCouldSplitIt) {
  HeaderMap h;
  h.add("content-type", "text/plain");
  h.add("bad name", "dropped: not a token");
  h.add("x-split", std::string("a\r\nx-injected: 1"));
  h.add("x-lf", "a\nb");
  h.add("x-nul", std::string("a\0b", 3));
  h.add("x-empty", "");
  h.add("set-cookie", "a=1");
  h.add("set-cookie", "b=2");
  EXPECT_EQ(written(h), "content-type: text/plain\r\nx-empty: \r\nset-cookie: a=1\r\n"
                        "set-cookie: b=2\r\n");
  EXPECT_EQ(written(HeaderMap{}), "");
}

TEST(Http1CommonTest, AHugeBlockIsWrittenWholeAndTheNextOneIsUnaffected) {
  HeaderMap big;
  big.add("x-big", std::string(200 * 1024, 'v'));
  EXPECT_EQ(written(big).size(), 200U * 1024 + 9);
  HeaderMap small;
  small.add("a", "b");
  EXPECT_EQ(written(small), "a: b\r\n");
}

} // namespace
} // namespace seawall::proxy::http1
