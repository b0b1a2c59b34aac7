#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "config/units.h"

namespace seawall::config {
namespace {

using std::chrono::milliseconds;

struct DurationCase {
  std::string text;
  std::optional<long long> ms;
};

TEST(UnitsTest, ParseDuration) {
  const std::vector<DurationCase> cases = {
      {"250ms", 250},
      {"3s", 3000},
      {"5m", 300000},
      {"1h", 3600000},
      {"1.5s", 1500},
      {"0.25s", 250},
      {"0s", 0},
      {"0ms", 0},
      {"007s", 7000},
      {"2562047788015h", 9223372036854000000LL},
      {"9223372036854775807ms", 9223372036854775807LL},
      {"9223372036854775808ms", std::nullopt}, // one past the maximum
      {"2562047788016h", std::nullopt},
      {"99999999999999999999h", std::nullopt},
      {"5", std::nullopt}, // missing unit
      {"0", std::nullopt}, // missing unit, even for zero
      {"-1s", std::nullopt},
      {"+1s", std::nullopt},
      {"5 seconds", std::nullopt},
      {"5 s", std::nullopt},
      {" 5s", std::nullopt},
      {"5s ", std::nullopt},
      {"5sec", std::nullopt},
      {"5d", std::nullopt},
      {"5S", std::nullopt},
      {"0.5ms", std::nullopt}, // not a whole number of milliseconds
      {"1.0005s", std::nullopt},
      {".5s", std::nullopt},
      {"5.s", std::nullopt},
      {"1.2.3s", std::nullopt},
      {"s", std::nullopt},
      {"", std::nullopt},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto got = parseDuration(c.text);
    ASSERT_EQ(got.has_value(), c.ms.has_value());
    if (c.ms) {
      EXPECT_EQ(got->count(), *c.ms);
    }
  }
}

struct SizeCase {
  std::string text;
  std::optional<size_t> bytes;
};

TEST(UnitsTest, ParseSize) {
  const std::vector<SizeCase> cases = {
      {"512", 512},
      {"512B", 512},
      {"0", 0},
      {"0B", 0},
      {"64KiB", 65536},
      {"1MiB", 1048576},
      {"2GiB", 2147483648ULL},
      {"1.5KiB", 1536},
      {"18446744073709551615", 18446744073709551615ULL},
      {"18446744073709551616", std::nullopt},
      {"17179869184GiB", std::nullopt}, // 2^64 bytes
      {"1.1B", std::nullopt},
      {"1.0001KiB", std::nullopt},
      {"64KB", std::nullopt},
      {"64kib", std::nullopt},
      {"64 KiB", std::nullopt},
      {"-1", std::nullopt},
      {"1TiB", std::nullopt},
      {"KiB", std::nullopt},
      {"abc", std::nullopt},
      {"", std::nullopt},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto got = parseSize(c.text);
    ASSERT_EQ(got.has_value(), c.bytes.has_value());
    if (c.bytes) {
      EXPECT_EQ(*got, *c.bytes);
    }
  }
}

struct RatioCase {
  std::string text;
  std::optional<double> ratio;
};

TEST(UnitsTest, ParseRatio) {
  const std::vector<RatioCase> cases = {
      {"50%", 0.5},
      {"0.5", 0.5},
      {"0%", 0.0},
      {"100%", 1.0},
      {"1", 1.0},
      {"0", 0.0},
      {"1.0", 1.0},
      {"12.5%", 0.125},
      {"0.05", 0.05},
      {"101%", std::nullopt},
      {"1.01", std::nullopt},
      {"2", std::nullopt},
      {"-0.1", std::nullopt},
      {"50 %", std::nullopt},
      {"%", std::nullopt},
      {"", std::nullopt},
      {"nan", std::nullopt},
      {"inf", std::nullopt},
      {"0.5%%", std::nullopt},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto got = parseRatio(c.text);
    ASSERT_EQ(got.has_value(), c.ratio.has_value());
    if (c.ratio) {
      EXPECT_DOUBLE_EQ(*got, *c.ratio);
    }
  }
}

TEST(UnitsTest, FormatDurationUsesLargestExactUnit) {
  const std::vector<std::pair<long long, std::string>> cases = {
      {0, "0s"},     {1, "1ms"},     {250, "250ms"},  {1000, "1s"},     {1500, "1500ms"},
      {60000, "1m"}, {90000, "90s"}, {3600000, "1h"}, {5400000, "90m"}, {-2000, "-2s"},
  };
  for (const auto& [ms, text] : cases) {
    EXPECT_EQ(formatDuration(milliseconds(ms)), text);
    if (ms >= 0) {
      EXPECT_EQ(parseDuration(text), milliseconds(ms)) << text;
    }
  }
}

TEST(UnitsTest, FormatSizeUsesLargestExactUnit) {
  const std::vector<std::pair<size_t, std::string>> cases = {
      {0, "0B"},        {1, "1B"},         {1000, "1000B"},   {1024, "1KiB"},       {1536, "1536B"},
      {65536, "64KiB"}, {1048576, "1MiB"}, {3145728, "3MiB"}, {1073741824, "1GiB"}, {1025, "1025B"},
  };
  for (const auto& [bytes, text] : cases) {
    EXPECT_EQ(formatSize(bytes), text);
    EXPECT_EQ(parseSize(text), bytes) << text;
  }
}

TEST(UnitsTest, FormatRoundTripsOverManyValues) {
  for (long long ms = 0; ms < 200000; ms += 125) {
    ASSERT_EQ(parseDuration(formatDuration(milliseconds(ms))), milliseconds(ms)) << ms;
  }
  for (size_t bytes = 0; bytes < (size_t{1} << 22); bytes += 512) {
    ASSERT_EQ(parseSize(formatSize(bytes)), bytes) << bytes;
  }
}

struct HostPortCase {
  std::string text;
  std::optional<HostPort> address;
};

TEST(UnitsTest, ParseHostPort) {
  const std::vector<HostPortCase> cases = {
      {"127.0.0.1:8080", HostPort{"127.0.0.1", 8080}},
      {"[::1]:15001", HostPort{"::1", 15001}},
      {"[2001:db8::7]:443", HostPort{"2001:db8::7", 443}},
      {"inventory.default.svc.cluster.local:8080",
       HostPort{"inventory.default.svc.cluster.local", 8080}},
      {"localhost:65535", HostPort{"localhost", 65535}},
      {"0.0.0.0:0", HostPort{"0.0.0.0", 0}}, // port 0 parses; validate() rejects it
      {"my_host-1:1", HostPort{"my_host-1", 1}},
      {"127.0.0.1:65536", std::nullopt},
      {"127.0.0.1:123456", std::nullopt},
      {"127.0.0.1", std::nullopt},
      {"127.0.0.1:", std::nullopt},
      {":8080", std::nullopt},
      {"::1:8080", std::nullopt}, // IPv6 needs brackets
      {"[::1]8080", std::nullopt},
      {"[::1:8080", std::nullopt},
      {"[not-v6]:80", std::nullopt},
      {"[]:80", std::nullopt},
      {"127.0.0.256:80", std::nullopt},
      {"bad host:80", std::nullopt},
      {"a..b:80", std::nullopt},
      {"-a:80", std::nullopt},
      {"host:8o", std::nullopt},
      {"host:-1", std::nullopt},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(parseHostPort(c.text), c.address);
  }
}

TEST(UnitsTest, HostPortToStringAndIpLiteral) {
  EXPECT_EQ((HostPort{"::1", 80}).toString(), "[::1]:80");
  EXPECT_EQ((HostPort{"127.0.0.1", 80}).toString(), "127.0.0.1:80");
  EXPECT_EQ((HostPort{"example.svc", 8080}).toString(), "example.svc:8080");
  EXPECT_TRUE((HostPort{"::1", 80}).isIpLiteral());
  EXPECT_TRUE((HostPort{"10.1.2.3", 80}).isIpLiteral());
  EXPECT_FALSE((HostPort{"example.svc", 80}).isIpLiteral());
  EXPECT_FALSE((HostPort{"", 80}).isIpLiteral());
}

TEST(UnitsTest, ConfigErrorToString) {
  EXPECT_EQ((ConfigError{"x.yaml", 3, 12, "bad"}).toString(), "x.yaml:3:12: bad");
  EXPECT_EQ((ConfigError{"x.yaml", 0, 0, "cannot read"}).toString(), "x.yaml: cannot read");
}

} // namespace
} // namespace seawall::config
