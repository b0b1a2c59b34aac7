#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "filters/timeout/grpc_timeout.h"

namespace seawall::filters::timeout {
namespace {

using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::nanoseconds;
using std::chrono::seconds;

TEST(GrpcTimeoutTest, ParsesEveryUnit) {
  struct Case {
    std::string_view value;
    nanoseconds expected;
  };
  const std::vector<Case> cases = {
      {"1n", nanoseconds(1)},
      {"250u", microseconds(250)},
      {"100m", milliseconds(100)},
      {"5S", seconds(5)},
      {"2M", minutes(2)},
      {"3H", hours(3)},
      {"0S", nanoseconds(0)},
      {"00000007m", milliseconds(7)},       // leading zeros, 8 digits
      {"99999999n", nanoseconds(99999999)}, // the largest 8-digit value
      {"99999999S", seconds(99999999)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.value));
    const std::optional<nanoseconds> parsed = parseGrpcTimeout(c.value);
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(c.expected, *parsed);
  }
}

TEST(GrpcTimeoutTest, RejectsMalformedValues) {
  const std::vector<std::string_view> cases = {
      "",           // empty
      "S",          // no digits
      "5",          // no unit
      "123456789S", // 9 digits
      "5s",         // unit is case-sensitive (s is not a unit)
      "5h",         "5x", "5 S", " 5S", "5S ", "-5S", "+5S", "5.0S", "5SS", "S5", "0x5S",
      "５S", // non-ASCII digit
  };
  for (const std::string_view value : cases) {
    SCOPED_TRACE(std::string(value));
    EXPECT_FALSE(parseGrpcTimeout(value).has_value());
  }
}

TEST(GrpcTimeoutTest, HugeValuesSaturate) {
  // 99999999 hours is ~11,400 years: more than int64 nanoseconds hold.
  EXPECT_EQ(nanoseconds::max(), parseGrpcTimeout("99999999H"));
  EXPECT_EQ(nanoseconds::max(), parseGrpcTimeout("2562048H"));
  // 2,562,047 hours and 99999999 minutes (~190 years) still fit.
  EXPECT_EQ(hours(2562047), parseGrpcTimeout("2562047H"));
  EXPECT_EQ(minutes(99999999), parseGrpcTimeout("99999999M"));
}

TEST(GrpcTimeoutTest, FormatsInTheFinestUnitThatFits) {
  struct Case {
    nanoseconds value;
    std::string_view expected;
  };
  const std::vector<Case> cases = {
      {nanoseconds(1), "1n"},
      {nanoseconds(99999999), "99999999n"},
      {nanoseconds(100000000), "100000u"}, // 100ms: too many digits in n
      {milliseconds(250), "250000u"},
      {nanoseconds(100000001), "100000u"}, // truncated, not rounded up
      {nanoseconds(123456789), "123456u"}, // truncated by 789ns
      {seconds(99), "99000000u"},          // 8 digits in u
      {seconds(100), "100000m"},           // 9 digits in u
      {seconds(5) + nanoseconds(999999), "5000999u"},
      {seconds(99999) + milliseconds(999), "99999999m"},
      {seconds(100000), "100000S"},
      {hours(24), "86400000m"},
      {hours(1000), "3600000S"},
      {hours(30000), "1800000M"}, // 108,000,000 S: 9 digits
      {nanoseconds::max(), "2562047H"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.expected));
    EXPECT_EQ(c.expected, formatGrpcTimeout(c.value));
  }
}

TEST(GrpcTimeoutTest, NonPositiveFormatsAsOneNanosecond) {
  EXPECT_EQ("1n", formatGrpcTimeout(nanoseconds(0)));
  EXPECT_EQ("1n", formatGrpcTimeout(nanoseconds(-5)));
  EXPECT_EQ("1n", formatGrpcTimeout(nanoseconds::min()));
}

// What we send never exceeds what we have left, is never zero, and loses < 1 part in 10^5.
TEST(GrpcTimeoutTest, FormatThenParseNeverLengthensAndStaysClose) {
  int64_t value = 1;
  for (int i = 0; i < 62; ++i) { // bounded: 1, 3, 7, ... up to ~2^62 ns
    const nanoseconds d(value);
    SCOPED_TRACE(value);
    const std::optional<nanoseconds> back = parseGrpcTimeout(formatGrpcTimeout(d));
    ASSERT_TRUE(back.has_value());
    EXPECT_LE(*back, d);
    EXPECT_GT(back->count(), 0);
    EXPECT_LE((d - *back).count(), d.count() / 100000);
    value = value * 2 + 1;
  }
}

} // namespace
} // namespace seawall::filters::timeout
