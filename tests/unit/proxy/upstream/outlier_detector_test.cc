#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "proxy/upstream/outlier_detector.h"

namespace seawall::proxy {
namespace {

using std::chrono::milliseconds;
using TimePoint = OutlierDetector::TimePoint;

// An arbitrary origin: the detector must not care where time starts.
constexpr TimePoint kT0 = TimePoint{} + std::chrono::hours(1000);

TimePoint at(int64_t ms) { return kT0 + milliseconds(ms); }

enum class Op {
  Fail,    // onResult(failed = true); `expect` = this result ejected the endpoint
  Succeed, // onResult(failed = false); `expect` = this result ejected the endpoint (never)
  Check,   // `expect` = isEjected()
};

struct Step {
  int64_t at_ms;
  Op op;
  size_t endpoint;
  bool expect;
};

struct TimelineCase {
  std::string name;
  OutlierPolicy policy;
  size_t endpoints;
  std::vector<Step> steps;
  uint64_t ejections_total;
  uint64_t ejections_refused;
};

constexpr OutlierPolicy kThree{3, milliseconds(1000), 0.5};

std::vector<TimelineCase> timelineCases() {
  using enum Op;
  return {
      {"ejects_on_the_nth_consecutive_failure_and_returns_after_ejection_time",
       kThree,
       4,
       {{0, Fail, 0, false},
        {1, Fail, 0, false},
        {2, Check, 0, false},
        {2, Fail, 0, true},
        {2, Check, 0, true},
        {1001, Check, 0, true},
        {1002, Check, 0, false},
        {1002, Check, 1, false}},
       1,
       0},
      {"success_resets_the_consecutive_count",
       kThree,
       4,
       {{0, Fail, 0, false},
        {1, Fail, 0, false},
        {2, Succeed, 0, false},
        {3, Fail, 0, false},
        {4, Fail, 0, false},
        {5, Check, 0, false},
        {5, Fail, 0, true}},
       1,
       0},
      {"failures_of_other_endpoints_do_not_count",
       kThree,
       4,
       {{0, Fail, 0, false},
        {1, Fail, 1, false},
        {2, Fail, 0, false},
        {3, Fail, 1, false},
        {4, Fail, 2, false},
        {5, Check, 0, false},
        {6, Fail, 1, true},
        {6, Check, 0, false}},
       1,
       0},
      {"kth_ejection_lasts_k_times_ejection_time",
       kThree,
       4,
       {{0, Fail, 0, false},
        {0, Fail, 0, false},
        {0, Fail, 0, true}, // 1st: until 1000
        {1000, Check, 0, false},
        {1000, Fail, 0, false},
        {1000, Fail, 0, false},
        {1000, Fail, 0, true}, // 2nd: until 3000
        {2999, Check, 0, true},
        {3000, Check, 0, false},
        {3000, Fail, 0, false},
        {3000, Fail, 0, false},
        {3000, Fail, 0, true}, // 3rd: until 6000
        {5999, Check, 0, true},
        {6000, Check, 0, false}},
       3,
       0},
      {"cap_refuses_ejection_then_allows_it_on_next_failure_once_room",
       kThree, // 4 endpoints * 50% = 2
       4,
       {{0, Fail, 0, false},
        {0, Fail, 0, false},
        {0, Fail, 0, true},
        {10, Fail, 1, false},
        {10, Fail, 1, false},
        {10, Fail, 1, true},
        {20, Fail, 2, false},
        {20, Fail, 2, false},
        {20, Fail, 2, false}, // refused: 2 of 4 already out
        {30, Fail, 2, false}, // refused again, count kept
        {30, Check, 2, false},
        {1000, Check, 0, false}, // endpoint 0 back: room for one
        {1000, Fail, 2, true},   // no need for three more failures
        {1000, Check, 2, true},
        {1000, Fail, 3, false},
        {1000, Fail, 3, false},
        {1000, Fail, 3, false}}, // refused: 1 and 2 are out
       3,
       3},
      {"success_while_capped_clears_the_pending_ejection",
       kThree,
       2, // cap 1
       {{0, Fail, 0, false},
        {0, Fail, 0, false},
        {0, Fail, 0, true},
        {0, Fail, 1, false},
        {0, Fail, 1, false},
        {0, Fail, 1, false}, // refused
        {10, Succeed, 1, false},
        {1000, Fail, 1, false}, // count restarted at 1
        {1000, Check, 1, false}},
       1,
       1},
      {"cap_of_zero_never_ejects",
       kThree, // 1 endpoint * 50% = 0
       1,
       {{0, Fail, 0, false},
        {0, Fail, 0, false},
        {0, Fail, 0, false},
        {0, Fail, 0, false},
        {0, Check, 0, false}},
       0,
       2},
      {"max_ejection_100_percent_ejects_every_endpoint",
       {2, milliseconds(500), 1.0},
       2,
       {{0, Fail, 0, false},
        {0, Fail, 0, true},
        {0, Fail, 1, false},
        {0, Fail, 1, true},
        {499, Check, 0, true},
        {499, Check, 1, true},
        {500, Check, 0, false},
        {500, Check, 1, false}},
       2,
       0},
      {"consecutive_failures_zero_disables_ejection",
       {0, milliseconds(1000), 1.0},
       2,
       {{0, Fail, 0, false}, {0, Fail, 0, false}, {0, Fail, 0, false}, {0, Check, 0, false}},
       0,
       0},
      {"results_while_ejected_are_ignored",
       kThree,
       4,
       {{0, Fail, 0, false},
        {0, Fail, 0, false},
        {0, Fail, 0, true},
        {100, Succeed, 0, false},
        {100, Check, 0, true}, // a success does not bring it back early
        {200, Fail, 0, false},
        {300, Fail, 0, false},
        {400, Fail, 0, false}, // neither counted nor a second ejection
        {999, Check, 0, true},
        {1000, Check, 0, false},
        {1000, Fail, 0, false}, // back: counting starts from zero
        {1000, Fail, 0, false},
        {1000, Check, 0, false},
        {1000, Fail, 0, true}},
       2,
       0},
      {"out_of_range_endpoint_is_ignored",
       kThree,
       2,
       {{0, Fail, 2, false},
        {0, Fail, 2, false},
        {0, Fail, 2, false},
        {0, Check, 2, false},
        {0, Check, 0, false}},
       0,
       0},
      {"threshold_of_one_ejects_on_first_failure",
       {1, milliseconds(100), 0.5},
       2,
       {{0, Succeed, 0, false}, {5, Fail, 0, true}, {104, Check, 0, true}, {105, Check, 0, false}},
       1,
       0},
  };
}

TEST(OutlierDetectorTest, Timelines) {
  for (const TimelineCase& tc : timelineCases()) {
    SCOPED_TRACE(tc.name);
    OutlierDetector detector(tc.policy, tc.endpoints);
    for (size_t i = 0; i < tc.steps.size(); ++i) {
      const Step& step = tc.steps[i];
      SCOPED_TRACE("step " + std::to_string(i) + " at " + std::to_string(step.at_ms) + "ms");
      switch (step.op) {
      case Op::Fail:
        EXPECT_EQ(step.expect, detector.onResult(at(step.at_ms), step.endpoint, true));
        break;
      case Op::Succeed:
        EXPECT_EQ(step.expect, detector.onResult(at(step.at_ms), step.endpoint, false));
        break;
      case Op::Check:
        EXPECT_EQ(step.expect, detector.isEjected(at(step.at_ms), step.endpoint));
        break;
      }
    }
    EXPECT_EQ(tc.ejections_total, detector.ejectionsTotal());
    EXPECT_EQ(tc.ejections_refused, detector.ejectionsRefused());
  }
}

TEST(OutlierDetectorTest, MaxEjectedIsFloorOfRatio) {
  struct Case {
    size_t endpoints;
    double ratio;
    size_t expected;
  };
  const std::vector<Case> cases = {
      {0, 0.5, 0},     {1, 0.5, 0},  {2, 0.5, 1},   {3, 0.5, 1},   {5, 0.5, 2},   {10, 0.3, 3},
      {100, 0.29, 29}, {10, 0.0, 0}, {10, 1.0, 10}, {10, 1.5, 10}, {10, -0.2, 0}, {7, 0.99, 6},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::to_string(c.endpoints) + " * " + std::to_string(c.ratio));
    const OutlierDetector detector({3, milliseconds(1000), c.ratio}, c.endpoints);
    EXPECT_EQ(c.expected, detector.maxEjected());
    EXPECT_EQ(c.endpoints, detector.endpointCount());
  }
}

TEST(OutlierDetectorTest, CallbackReportsEachEjection) {
  std::vector<OutlierEjection> seen;
  OutlierDetector detector({2, milliseconds(1000), 0.5}, 4,
                           [&seen](const OutlierEjection& e) { seen.push_back(e); });
  detector.onResult(at(0), 3, true);
  detector.onResult(at(0), 3, true); // 1st, until 1000
  detector.onResult(at(1500), 3, true);
  detector.onResult(at(1500), 3, true); // 2nd, until 3500
  detector.onResult(at(1500), 1, true);
  detector.onResult(at(1500), 1, true); // 1st, until 2500
  detector.onResult(at(1600), 2, true);
  detector.onResult(at(1600), 2, true); // refused: cap 2: no callback

  ASSERT_EQ(3U, seen.size());
  EXPECT_EQ(3U, seen[0].endpoint);
  EXPECT_EQ(1U, seen[0].ejection_number);
  EXPECT_EQ(at(1000), seen[0].until);
  EXPECT_EQ(3U, seen[1].endpoint);
  EXPECT_EQ(2U, seen[1].ejection_number);
  EXPECT_EQ(at(3500), seen[1].until);
  EXPECT_EQ(1U, seen[2].endpoint);
  EXPECT_EQ(1U, seen[2].ejection_number);
  EXPECT_EQ(at(2500), seen[2].until);
  EXPECT_EQ(2U, detector.ejectionCount(3));
  EXPECT_EQ(1U, detector.ejectionCount(1));
  EXPECT_EQ(0U, detector.ejectionCount(2));
  EXPECT_EQ(0U, detector.ejectionCount(99));
  EXPECT_EQ(2U, detector.ejectedCount(at(1600)));
  EXPECT_EQ(1U, detector.ejectedCount(at(2500)));
  EXPECT_EQ(0U, detector.ejectedCount(at(3500)));
}

TEST(OutlierDetectorTest, CallbackMayCallBackIntoTheDetector) {
  bool ejected_inside = false;
  OutlierDetector* self = nullptr;
  OutlierDetector detector({1, milliseconds(1000), 1.0}, 1, [&](const OutlierEjection& e) {
    ejected_inside = self->isEjected(at(0), e.endpoint); // would deadlock under the lock
  });
  self = &detector;
  EXPECT_TRUE(detector.onResult(at(0), 0, true));
  EXPECT_TRUE(ejected_inside);
}

TEST(OutlierDetectorTest, HugeEjectionTimeSaturates) {
  OutlierDetector detector({1, milliseconds::max() / 2, 1.0}, 1);
  EXPECT_TRUE(detector.onResult(at(0), 0, true));
  EXPECT_TRUE(detector.isEjected(TimePoint::max() - milliseconds(1), 0));
}

// Two workers report on their own endpoints at once; every ejection is counted exactly once.
TEST(OutlierDetectorTest, ConcurrentWorkersSmoke) {
  constexpr int kRounds = 2000;
  std::atomic<uint64_t> callbacks{0};
  OutlierDetector detector({2, milliseconds(0), 1.0}, 2,
                           [&callbacks](const OutlierEjection&) { callbacks.fetch_add(1); });
  auto worker = [&detector](size_t endpoint) {
    for (int i = 0; i < kRounds; ++i) {
      // ejection_time 0: each ejection ends at once, so every second failure ejects.
      detector.onResult(at(i), endpoint, true);
      (void)detector.isEjected(at(i), endpoint);
    }
  };
  std::thread a(worker, 0);
  std::thread b(worker, 1);
  a.join();
  b.join();
  EXPECT_EQ(static_cast<uint64_t>(kRounds), detector.ejectionsTotal());
  EXPECT_EQ(detector.ejectionsTotal(), callbacks.load());
}

} // namespace
} // namespace seawall::proxy
