#include <array>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "filters/retry/backoff.h"
#include "proxy/common/random.h"

namespace seawall::filters::retry {
namespace {

using namespace std::chrono;
using std::chrono::milliseconds;

constexpr uint64_t kAll = std::numeric_limits<uint64_t>::max();

// Returns the scripted draws in order, repeating the last one; counts the draws.
class ScriptedRandom final : public proxy::Random {
public:
  explicit ScriptedRandom(std::vector<uint64_t> draws) : draws_(std::move(draws)) {}
  uint64_t next() override {
    const uint64_t v = draws_[std::min(calls_, draws_.size() - 1)];
    ++calls_;
    return v;
  }
  size_t calls() const { return calls_; }

private:
  std::vector<uint64_t> draws_;
  size_t calls_ = 0;
};

// A deliberately bad source for the negative control: only the lower half of [0, 1000).
class HalfRangeRandom final : public proxy::Random {
public:
  uint64_t next() override { return seeded_.next() % 500; }

private:
  proxy::SeededRandom seeded_{7};
};

TEST(RandomTest, UniformRejectsTheBiasedTailAndStaysBounded) {
  // 2^64 mod 10 == 6: draws 0..5 are rejected for a range of 10.
  struct Case {
    const char* name;
    uint64_t max_inclusive;
    std::vector<uint64_t> draws;
    uint64_t expected;
    size_t expected_calls;
  };
  const std::vector<Case> cases = {
      {"accepted at once", 9, {17}, 7, 1},
      {"largest draw", 9, {kAll}, kAll % 10, 1},
      {"threshold itself accepted", 9, {6}, 6, 1},
      {"below threshold rejected", 9, {3, 5, 42}, 2, 3},
      {"zero range", 0, {12345}, 0, 1},
      {"full range passes through", kAll, {kAll - 3}, kAll - 3, 1},
      {"always rejected: bounded", 9, {0}, 0, proxy::Random::kMaxDraws},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ScriptedRandom random(c.draws);
    EXPECT_EQ(c.expected, random.uniform(c.max_inclusive));
    EXPECT_EQ(c.expected_calls, random.calls());
  }
}

TEST(RandomTest, SeededRandomRepeatsItsSequence) {
  proxy::SeededRandom a(42);
  proxy::SeededRandom b(42);
  proxy::SeededRandom c(43);
  bool differs = false;
  for (int i = 0; i < 16; ++i) {
    const uint64_t x = a.next();
    EXPECT_EQ(x, b.next());
    differs = differs || x != c.next();
  }
  EXPECT_TRUE(differs);
}

TEST(BackoffTest, CeilingDoublesThenSaturatesWithoutOverflow) {
  constexpr int64_t kMaxMs = std::numeric_limits<int64_t>::max();
  struct Case {
    int64_t base;
    int64_t max;
    uint32_t attempt;
    int64_t expected;
  };
  const std::vector<Case> cases = {
      {25, 1000, 0, 25}, // attempt 0 counts as 1
      {25, 1000, 1, 25},
      {25, 1000, 2, 50},
      {25, 1000, 3, 100},
      {25, 1000, 6, 800},
      {25, 1000, 7, 1000}, // 1600 capped
      {25, 1000, 63, 1000},
      {25, 1000, 64, 1000},
      {25, 1000, 65, 1000},
      {25, 1000, std::numeric_limits<uint32_t>::max(), 1000},
      {1, kMaxMs, 63, int64_t{1} << 62},
      {1, kMaxMs, 64, kMaxMs}, // 2^63 does not fit: saturates
      {kMaxMs / 2, kMaxMs, 2, kMaxMs - 1},
      {kMaxMs / 2, kMaxMs, 3, kMaxMs},
      {kMaxMs, kMaxMs, 64, kMaxMs},
      {2000, 1000, 1, 1000}, // base above max: max
      {0, 1000, 5, 0},
      {25, 0, 5, 0},
      {-5, 1000, 2, 0},
      {25, -1, 2, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message()
                 << "base=" << c.base << " max=" << c.max << " attempt=" << c.attempt);
    const BackoffPolicy policy{milliseconds{c.base}, milliseconds{c.max}};
    EXPECT_EQ(milliseconds{c.expected}, backoffCeiling(policy, c.attempt));
  }
}

TEST(BackoffTest, DelayStaysWithinZeroAndCeilingForEveryAttempt) {
  const std::vector<BackoffPolicy> policies = {
      {milliseconds{25}, milliseconds{1000}},
      {milliseconds{1}, milliseconds{std::numeric_limits<int64_t>::max()}},
      {milliseconds{0}, milliseconds{1000}},
  };
  proxy::SeededRandom random(1);
  for (const BackoffPolicy& policy : policies) {
    for (uint32_t attempt = 0; attempt <= 70; ++attempt) {
      const milliseconds ceiling = backoffCeiling(policy, attempt);
      for (int i = 0; i < 50; ++i) {
        const milliseconds d = backoffDelay(policy, attempt, random);
        ASSERT_GE(d.count(), 0) << "attempt " << attempt;
        ASSERT_LE(d, ceiling) << "attempt " << attempt;
      }
    }
  }
}

TEST(BackoffTest, DelayReachesBothEndsOfTheJitterRange) {
  const BackoffPolicy policy{milliseconds{25}, milliseconds{1000}};
  struct Case {
    uint32_t attempt;
    uint64_t draw;
    int64_t expected;
  };
  const std::vector<Case> cases = {
      {1, 0, 0},     {1, 25, 25},    {1, 26, 0},      // ceiling 25: 26 values
      {3, 100, 100}, {3, 101, 0},    {7, 1000, 1000}, // saturated ceiling is reachable
      {64, 1001, 0}, {64, 999, 999},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "attempt=" << c.attempt << " draw=" << c.draw);
    ScriptedRandom random({c.draw});
    EXPECT_EQ(milliseconds{c.expected}, backoffDelay(policy, c.attempt, random));
  }
}

// Pearson's chi-square of `samples` delays over 10 equal buckets of [0, 999].
double chiSquare(proxy::Random& random, uint32_t attempt, int samples) {
  const BackoffPolicy policy{milliseconds{999}, milliseconds{999}}; // ceiling 999: 1000 values
  std::array<int, 10> buckets{};
  for (int i = 0; i < samples; ++i) {
    const int64_t d = backoffDelay(policy, attempt, random).count();
    buckets.at(static_cast<size_t>(d / 100)) += 1;
  }
  const double expected = samples / 10.0;
  double chi = 0;
  for (const int observed : buckets) {
    chi += (observed - expected) * (observed - expected) / expected;
  }
  return chi;
}

TEST(BackoffTest, JitterIsRoughlyUniform) {
  // 9 degrees of freedom: P(chi2 > 27.88) = 0.001 for a uniform source.
  constexpr double kCritical = 27.88;
  constexpr int kSamples = 20000;
  for (const uint64_t seed : {1U, 2U, 3U}) {
    SCOPED_TRACE(testing::Message() << "seed=" << seed);
    proxy::SeededRandom random(seed);
    EXPECT_LT(chiSquare(random, 1, kSamples), kCritical);
    EXPECT_LT(chiSquare(random, 40, kSamples), kCritical);
  }
  // Negative control: the same check rejects a source that never reaches the upper half.
  HalfRangeRandom bad;
  EXPECT_GT(chiSquare(bad, 1, kSamples), kCritical);
}

TEST(BackoffTest, JitterMeanIsHalfTheCeiling) {
  const BackoffPolicy policy{milliseconds{25}, milliseconds{1000}};
  proxy::SeededRandom random(99);
  constexpr int kSamples = 20000;
  for (const uint32_t attempt : {1U, 3U, 10U}) {
    const double ceiling = static_cast<double>(backoffCeiling(policy, attempt).count());
    double sum = 0;
    for (int i = 0; i < kSamples; ++i) {
      sum += static_cast<double>(backoffDelay(policy, attempt, random).count());
    }
    EXPECT_NEAR(ceiling / 2, sum / kSamples, ceiling * 0.02) << "attempt " << attempt;
  }
}

// 1994-11-06 08:49:30 UTC, seven seconds before the RFC's example date.
system_clock::time_point exampleNow() {
  return sys_days{year{1994} / November / 6} + hours{8} + minutes{49} + seconds{30};
}

TEST(RetryAfterTest, ParsesDeltaSecondsAndHttpDates) {
  struct Case {
    const char* value;
    std::optional<int64_t> expected_ms;
  };
  const int64_t saturated = (int64_t{1} << 31) * 1000;
  const std::vector<Case> cases = {
      // delay-seconds
      {"120", 120000},
      {"0", 0},
      {"007", 7000},
      {" \t5\t ", 5000},
      {"99999999999999999999999999", saturated},
      {"", std::nullopt},
      {"  ", std::nullopt},
      {"-1", std::nullopt},
      {"+5", std::nullopt},
      {"1.5", std::nullopt},
      {"5s", std::nullopt},
      {"5 6", std::nullopt},
      // IMF-fixdate
      {"Sun, 06 Nov 1994 08:49:37 GMT", 7000},
      {"Sun, 06 Nov 1994 08:49:30 GMT", 0},
      {"Sun, 06 Nov 1994 08:49:00 GMT", 0}, // past: now
      {"Mon, 07 Nov 1994 08:49:30 GMT", 86400000},
      {"Sat, 06 Nov 1993 08:49:37 GMT", 0},
      {"Fri, 31 Dec 9999 23:59:59 GMT", saturated}, // no overflow
      {"Sun, 06 Nov 1994 08:49:37 UTC", std::nullopt},
      {"sun, 06 Nov 1994 08:49:37 GMT", std::nullopt},
      {"Sun, 06 nov 1994 08:49:37 GMT", std::nullopt},
      {"Sun, 6 Nov 1994 08:49:37 GMT", std::nullopt},
      {"Sun, 06 Nov 94 08:49:37 GMT", std::nullopt},
      {"Sun, 31 Feb 1994 08:49:37 GMT", std::nullopt},
      {"Sun, 00 Nov 1994 08:49:37 GMT", std::nullopt},
      {"Sun, 06 Nov 1994 24:00:00 GMT", std::nullopt},
      {"Sun, 06 Nov 1994 08:60:00 GMT", std::nullopt},
      {"Sun, 06 Nov 1994 08:49:61 GMT", std::nullopt},
      {"Sun, 06 Nov 1994 08:49:37", std::nullopt},
      {"Sun, 06 Nov 1994 08:49:37 GMT x", std::nullopt},
      {"Sun 06 Nov 1994 08:49:37 GMT", std::nullopt},
      {"Xyz, 06 Nov 1994 08:49:37 GMT", std::nullopt},
      // obsolete RFC 850
      {"Sunday, 06-Nov-94 08:49:37 GMT", 7000},
      {"Sun, 06-Nov-94 08:49:37 GMT", std::nullopt},
      {"Sunday, 06-Nov-1994 08:49:37 GMT", std::nullopt},
      // asctime
      {"Sun Nov  6 08:49:37 1994", 7000},
      {"Sun Nov 06 08:49:37 1994", 7000},
      {"Sun Nov 6 08:49:37 1994", std::nullopt},
      {"Sun Nov  6 08:49:37 94", std::nullopt},
      {"Sun Nov  6 08:49:37 1994 GMT", std::nullopt},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.value);
    const auto got = parseRetryAfter(c.value, exampleNow());
    ASSERT_EQ(c.expected_ms.has_value(), got.has_value());
    if (got) {
      EXPECT_EQ(*c.expected_ms, got->count());
    }
  }
}

TEST(RetryAfterTest, DateDelayKeepsSubSecondPrecisionOfNow) {
  const auto now = exampleNow() + milliseconds{250};
  EXPECT_EQ(milliseconds{6750}, parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now));
}

TEST(RetryAfterTest, TwoDigitYearsMoreThanFiftyYearsAheadAreInThePast) {
  struct Case {
    sys_days now;
    const char* value;
    sys_seconds meant; // the instant the value must be read as
  };
  const sys_days y2024 = year{2024} / January / 1;
  const sys_days y2099 = year{2099} / January / 1;
  const std::vector<Case> cases = {
      {y2024, "Monday, 01-Jan-24 00:00:10 GMT", y2024 + seconds{10}},
      {y2024, "Wednesday, 01-Jan-70 00:00:00 GMT", sys_days{year{2070} / January / 1}}, // +46y
      {y2024, "Monday, 01-Jan-74 00:00:00 GMT", sys_days{year{2074} / January / 1}},    // +50y
      {y2024, "Wednesday, 01-Jan-75 00:00:00 GMT", sys_days{year{1975} / January / 1}}, // not +51y
      {y2024, "Sunday, 31-Dec-23 23:59:59 GMT",
       sys_days{year{2023} / December / 31} + seconds{86399}},
      {y2099, "Friday, 01-Jan-00 00:00:00 GMT", sys_days{year{2100} / January / 1}}, // not -99y
      {y2099, "Friday, 01-Jan-48 00:00:00 GMT", sys_days{year{2148} / January / 1}}, // +49y
      {y2099, "Friday, 01-Jan-49 00:00:00 GMT", sys_days{year{2149} / January / 1}}, // +50y
      {y2099, "Friday, 01-Jan-50 00:00:00 GMT", sys_days{year{2050} / January / 1}}, // not +51y
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.value);
    const system_clock::time_point now = c.now;
    const auto expected =
        c.meant > now ? duration_cast<milliseconds>(c.meant - now) : milliseconds{0};
    EXPECT_EQ(expected, parseRetryAfter(c.value, now));
  }
}

TEST(RetryAfterTest, HonouredDelayIsCappedByBackoffMax) {
  struct Case {
    const char* value;
    int64_t max_ms;
    std::optional<int64_t> expected_ms;
  };
  const std::vector<Case> cases = {
      {"120", 1000, 1000},
      {"0", 1000, 0},
      {"1", 5000, 1000},
      {"Sun, 06 Nov 1994 08:49:37 GMT", 10000, 7000},
      {"Sun, 06 Nov 1994 08:49:37 GMT", 2000, 2000},
      {"Fri, 31 Dec 9999 23:59:59 GMT", 1000, 1000},
      {"soon", 1000, std::nullopt},
      {"3", -5, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << c.value << " max=" << c.max_ms);
    const BackoffPolicy policy{milliseconds{25}, milliseconds{c.max_ms}};
    const auto got = honouredRetryAfter(c.value, exampleNow(), policy);
    ASSERT_EQ(c.expected_ms.has_value(), got.has_value());
    if (got) {
      EXPECT_EQ(*c.expected_ms, got->count());
    }
  }
}

} // namespace
} // namespace seawall::filters::retry
