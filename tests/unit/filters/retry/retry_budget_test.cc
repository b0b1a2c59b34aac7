#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "filters/retry/retry_budget.h"

namespace seawall::filters::retry {
namespace {

using std::chrono::milliseconds;
using TimePoint = RetryBudget::TimePoint;

constexpr TimePoint kT0 = TimePoint{} + std::chrono::hours{1};

TEST(RetryBudgetTest, RatioOfActiveRequests) {
  struct Case {
    double ratio;
    uint64_t active_requests;
    uint64_t active_retries;
    bool expected;
  };
  const std::vector<Case> cases = {
      {0.2, 10, 0, true},
      {0.2, 10, 1, true},
      {0.2, 10, 2, false}, // a third would be 30%
      {0.2, 4, 0, false},  // 1 retry would be 25%
      {0.2, 5, 0, true},
      {0.29, 100, 28, true}, // 29 of 100: exact, no floating-point shortfall
      {0.29, 100, 29, false},
      {0.07, 100, 6, true},
      {1.0, 5, 4, true},
      {1.0, 5, 5, false},
      {2.0, 3, 5, true},
      {0.5, 0, 0, false},
      {0.0, 100, 0, false},
      {-1.0, 100, 0, false},
      {std::nan(""), 100, 0, false},
      {1e9, std::numeric_limits<uint64_t>::max(), 5, true}, // clamped, no overflow
      {0.5, std::numeric_limits<uint64_t>::max(), std::numeric_limits<uint64_t>::max(), false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "ratio=" << c.ratio << " requests=" << c.active_requests
                                    << " retries=" << c.active_retries);
    RetryBudget budget({c.ratio, 0}, kT0);
    EXPECT_EQ(c.expected, budget.canRetry(kT0, c.active_requests, c.active_retries));
  }
}

TEST(RetryBudgetTest, FloorIsATokenBucketRefilledByTimePassedIn) {
  struct Step {
    int64_t at_ms; // since kT0
    bool expected;
    const char* why;
  };
  // ratio 0: only the floor of 4 per second admits retries; the bucket starts full.
  const std::vector<Step> steps = {
      {0, true, "full bucket: 4"},
      {0, true, "3 left"},
      {0, true, "2 left"},
      {0, true, "1 left"},
      {0, false, "empty"},
      {249, false, "0.996 token"},
      {250, true, "one token after 250ms"},
      {250, false, "spent"},
      {500, true, "another 250ms"},
      {500, false, "spent"},
      {10500, true, "10s idle refills to 4, not 40"},
      {10500, true, "3 left"},
      {10500, true, "2 left"},
      {10500, true, "1 left"},
      {10500, false, "capped at one second's worth"},
      {10000, false, "earlier than the last call (another worker's clock read): no refill"},
      {10750, true, "250ms after the latest time seen, not after 10000"},
      {10750, false, "spent"},
      {20000, true, "full again: 3 left"},
      {20000, true, "2 left"},
      {25000, true, "2 left plus 5s idle is still 4: 3 left"},
      {25000, true, "2 left"},
      {25000, true, "1 left"},
      {25000, true, "0 left"},
      {25000, false, "never above one second's worth, even from a part-full bucket"},
  };
  RetryBudget budget({0.0, 4}, kT0);
  for (size_t i = 0; i < steps.size(); ++i) {
    SCOPED_TRACE(testing::Message()
                 << "step " << i << " at " << steps[i].at_ms << "ms: " << steps[i].why);
    EXPECT_EQ(steps[i].expected, budget.canRetry(kT0 + milliseconds{steps[i].at_ms}, 0, 0));
  }
}

TEST(RetryBudgetTest, FloorTokensAreSpentOnlyWhenTheRatioRefuses) {
  RetryBudget budget({0.5, 1}, kT0);
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(budget.canRetry(kT0, 10, 4)); // 5 of 10: within the ratio, bucket untouched
  }
  EXPECT_TRUE(budget.canRetry(kT0, 10, 5));  // over the ratio: the one floor token
  EXPECT_FALSE(budget.canRetry(kT0, 10, 5)); // spent
}

TEST(RetryBudgetTest, NoFloorMeansRatioOnly) {
  RetryBudget budget({0.0, 0}, kT0);
  EXPECT_FALSE(budget.canRetry(kT0, 100, 0));
  EXPECT_FALSE(budget.canRetry(kT0 + std::chrono::hours{1}, 100, 0));
}

TEST(RetryBudgetTest, SlotsCountRetriesInFlight) {
  RetryBudget budget({0.5, 0}, kT0); // 4 active requests: 2 retries
  RetryBudget::Slot a = budget.tryStartRetry(kT0, 4);
  RetryBudget::Slot b = budget.tryStartRetry(kT0, 4);
  RetryBudget::Slot c = budget.tryStartRetry(kT0, 4);
  EXPECT_TRUE(a);
  EXPECT_TRUE(b);
  EXPECT_FALSE(c);
  EXPECT_EQ(2U, budget.activeRetries());
  {
    const RetryBudget::Slot moved = std::move(a);
    EXPECT_TRUE(moved);
    EXPECT_FALSE(a); // NOLINT(bugprone-use-after-move): checking the moved-from state
    EXPECT_EQ(2U, budget.activeRetries());
  }
  EXPECT_EQ(1U, budget.activeRetries());
  c = budget.tryStartRetry(kT0, 4);
  EXPECT_TRUE(c);
  EXPECT_EQ(2U, budget.activeRetries());
  b.release();
  b.release(); // once only
  EXPECT_EQ(1U, budget.activeRetries());
  c = RetryBudget::Slot{}; // assigning releases the held slot
  EXPECT_EQ(0U, budget.activeRetries());
}

TEST(RetryBudgetTest, ExplicitStartAndFinish) {
  RetryBudget budget({0.5, 0}, kT0);
  budget.onRetryStarted();
  budget.onRetryStarted();
  EXPECT_EQ(2U, budget.activeRetries());
  EXPECT_FALSE(budget.tryStartRetry(kT0, 4));
  budget.onRetryFinished();
  EXPECT_EQ(1U, budget.activeRetries());
  EXPECT_TRUE(budget.tryStartRetry(kT0, 4)); // released again at the end of the statement
  EXPECT_EQ(1U, budget.activeRetries());
}

// Workers share one budget: admissions through tryStartRetry never exceed it.
TEST(RetryBudgetTest, SharedByThreadsWithoutOvershoot) {
  struct Case {
    RetryBudgetPolicy policy;
    uint64_t active_requests;
    size_t expected_admitted;
  };
  const std::vector<Case> cases = {
      {{0.0, 10}, 0, 10},  // floor only: the 10 tokens
      {{0.25, 0}, 40, 10}, // ratio only: 25% of 40
      {{0.25, 3}, 40, 13}, // ratio, then the floor
  };
  constexpr int kThreads = 4;
  constexpr int kTriesPerThread = 50;
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "ratio=" << c.policy.ratio);
    RetryBudget budget(c.policy, kT0);
    std::vector<std::vector<RetryBudget::Slot>> held(kThreads);
    std::vector<std::thread> threads;
    threads.reserve(kThreads);
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&budget, &c, &mine = held[static_cast<size_t>(t)]] {
        for (int i = 0; i < kTriesPerThread; ++i) {
          if (RetryBudget::Slot s = budget.tryStartRetry(kT0, c.active_requests)) {
            mine.push_back(std::move(s));
          }
        }
      });
    }
    for (std::thread& t : threads) {
      t.join();
    }
    size_t admitted = 0;
    for (const auto& v : held) {
      admitted += v.size();
    }
    EXPECT_EQ(c.expected_admitted, admitted);
    EXPECT_EQ(c.expected_admitted, budget.activeRetries());
    held.clear();
    EXPECT_EQ(0U, budget.activeRetries());
  }
}

} // namespace
} // namespace seawall::filters::retry
