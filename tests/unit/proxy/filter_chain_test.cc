#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <event2/buffer.h>
#include <gtest/gtest.h>

#include "proxy/filter_chain.h"
#include "tests/unit/proxy/filter_chain_fakes.h"

namespace seawall::proxy {
namespace {

using namespace std::chrono_literals;
using testing::Action;
using testing::CallLog;
using testing::calls;
using testing::Hook;
using testing::RecordingCallbacks;
using testing::Script;
using testing::ScriptedFactory;
using testing::ScriptedFilter;
using Result = FilterChain::Result;

constexpr size_t kNotSet = 999;

Script stopOn(Hook h) { return Script{h, std::nullopt, Action::None, true}; }
Script actOn(Hook h, Action a) { return Script{std::nullopt, h, a, true}; }
Script actAndStopOn(Hook h, Action a) { return Script{h, h, a, true}; }
Script noFilter() { return Script{std::nullopt, std::nullopt, Action::None, false}; }

class FilterChainTest : public ::testing::Test {
protected:
  // Builds a chain of one scripted factory per script (factory ids 0, 1, ...).
  FilterChain& build(const std::vector<Script>& scripts) {
    chain_.reset();
    factories_.clear();
    created_.clear();
    for (size_t i = 0; i < scripts.size(); ++i) {
      factories_.push_back(
          std::make_unique<ScriptedFactory>(static_cast<int>(i), log_, scripts[i], created_));
    }
    chain_ = std::make_unique<FilterChain>(stream_, factories_);
    return *chain_;
  }
  FilterChain& buildPlain(size_t n) { return build(std::vector<Script>(n)); }

  Result requestHeaders(size_t from, size_t& stopped_at) {
    return chain_->requestHeaders(from, request_, true, stopped_at);
  }
  Result responseHeaders(size_t end) { return chain_->responseHeaders(end, response_, false); }

  RecordingCallbacks stream_;
  CallLog log_;
  std::vector<ScriptedFilter*> created_;
  std::vector<std::unique_ptr<FilterFactory>> factories_;
  std::unique_ptr<FilterChain> chain_;
  RequestHead request_;
  ResponseHead response_{200, {}};
};

// ---- request headers ----

TEST_F(FilterChainTest, RequestHeadersRunEveryFilterInOrder) {
  FilterChain& chain = buildPlain(3);
  ASSERT_EQ(chain.size(), 3U);
  size_t stopped_at = kNotSet;
  EXPECT_EQ(requestHeaders(0, stopped_at), Result::Done);
  EXPECT_EQ(log_, calls({0, 1, 2}, Hook::RequestHeaders));
}

TEST_F(FilterChainTest, EmptyChainIsDone) {
  FilterChain& chain = buildPlain(0);
  size_t stopped_at = kNotSet;
  EXPECT_EQ(chain.size(), 0U);
  EXPECT_EQ(requestHeaders(0, stopped_at), Result::Done);
  EXPECT_EQ(chain.attemptStart(request_), Result::Done);
  EXPECT_EQ(responseHeaders(0), Result::Done);
  EXPECT_TRUE(log_.empty());
}

TEST_F(FilterChainTest, RequestHeadersStopIterationReportsWhereAndStops) {
  struct Case {
    size_t stopper;
    std::vector<int> expected;
  };
  const std::vector<Case> cases = {{0, {0}}, {1, {0, 1}}, {2, {0, 1, 2}}};
  for (const Case& c : cases) {
    SCOPED_TRACE("stopper " + std::to_string(c.stopper));
    std::vector<Script> scripts(3);
    scripts[c.stopper] = stopOn(Hook::RequestHeaders);
    log_.clear();
    build(scripts);
    size_t stopped_at = kNotSet;
    EXPECT_EQ(requestHeaders(0, stopped_at), Result::Stopped);
    EXPECT_EQ(stopped_at, c.stopper);
    EXPECT_EQ(log_, calls(c.expected, Hook::RequestHeaders));
    EXPECT_TRUE(stream_.replied_from.empty());
  }
}

TEST_F(FilterChainTest, RequestHeadersStartAtFrom) {
  struct Case {
    size_t from;
    std::vector<int> expected;
  };
  const std::vector<Case> cases = {{0, {0, 1, 2}}, {1, {1, 2}}, {2, {2}}, {3, {}}, {7, {}}};
  for (const Case& c : cases) {
    SCOPED_TRACE("from " + std::to_string(c.from));
    log_.clear();
    buildPlain(3);
    size_t stopped_at = kNotSet;
    EXPECT_EQ(requestHeaders(c.from, stopped_at), Result::Done);
    EXPECT_EQ(log_, calls(c.expected, Hook::RequestHeaders));
  }
}

TEST_F(FilterChainTest, StoppedAtIsAnAbsolutePositionWhenResumingFromLater) {
  std::vector<Script> scripts(4);
  scripts[0] = stopOn(Hook::RequestHeaders); // the filter that stopped first and then resumed
  scripts[2] = stopOn(Hook::RequestHeaders);
  build(scripts);
  size_t stopped_at = kNotSet;
  ASSERT_EQ(requestHeaders(0, stopped_at), Result::Stopped);
  ASSERT_EQ(stopped_at, 0U);
  log_.clear();
  EXPECT_EQ(requestHeaders(1, stopped_at), Result::Stopped);
  EXPECT_EQ(stopped_at, 2U);
  EXPECT_EQ(log_, calls({1, 2}, Hook::RequestHeaders));
}

// Every takeover (reply, respond, retry, reset, an accepted cluster switch) from filter i
// interrupts the iteration there and reaches the stream with position i, whether the filter
// returns Continue or StopIteration.
struct TakeoverCase {
  Action action;
  bool also_stop;
};

void expectTakeoverFrom(const RecordingCallbacks& s, Action action, size_t index) {
  switch (action) {
  case Action::Reply:
    EXPECT_EQ(s.replied_from, std::vector<size_t>{index});
    EXPECT_EQ(s.reply_reasons, std::vector<std::string>{"scripted-" + std::to_string(index)});
    break;
  case Action::Respond:
    EXPECT_EQ(s.responded_from, std::vector<size_t>{index});
    EXPECT_EQ(s.respond_statuses, std::vector<int>{200});
    break;
  case Action::Retry:
    EXPECT_EQ(s.retries, std::vector<std::chrono::milliseconds>{10ms * (index + 1)});
    break;
  case Action::SwitchCluster:
    EXPECT_EQ(s.switched, std::vector<std::string>{"backup"});
    break;
  case Action::Reset:
    EXPECT_EQ(s.resets, std::vector<std::string>{"scripted"});
    break;
  case Action::None:
  case Action::Resume:
    ADD_FAILURE() << "not a takeover";
    break;
  }
}

const std::vector<TakeoverCase>& takeoverCases() {
  static const std::vector<TakeoverCase> cases = {
      {Action::Reply, false}, {Action::Reply, true},         {Action::Respond, false},
      {Action::Retry, false}, {Action::SwitchCluster, true}, {Action::SwitchCluster, false},
      {Action::Reset, false}, {Action::Reset, true},
  };
  return cases;
}

TEST_F(FilterChainTest, TakeoverFromRequestHeadersInterrupts) {
  for (const TakeoverCase& c : takeoverCases()) {
    for (size_t actor = 0; actor < 3; ++actor) {
      SCOPED_TRACE("action " + std::to_string(static_cast<int>(c.action)) + " stop " +
                   std::to_string(c.also_stop) + " actor " + std::to_string(actor));
      stream_ = RecordingCallbacks{};
      stream_.switch_result = true;
      log_.clear();
      std::vector<Script> scripts(3);
      scripts[actor] = c.also_stop ? actAndStopOn(Hook::RequestHeaders, c.action)
                                   : actOn(Hook::RequestHeaders, c.action);
      FilterChain& chain = build(scripts);
      const uint64_t epoch = chain.epoch();
      size_t stopped_at = kNotSet;
      EXPECT_EQ(requestHeaders(0, stopped_at), Result::Interrupted);
      EXPECT_EQ(stopped_at, kNotSet);
      std::vector<int> expected;
      for (size_t i = 0; i <= actor; ++i) {
        expected.push_back(static_cast<int>(i));
      }
      EXPECT_EQ(log_, calls(expected, Hook::RequestHeaders));
      EXPECT_GT(chain.epoch(), epoch);
      expectTakeoverFrom(stream_, c.action, actor);
    }
  }
}

TEST_F(FilterChainTest, ResumeFromRequestHeadersDoesNotInterrupt) {
  std::vector<Script> scripts(3);
  scripts[1] = actOn(Hook::RequestHeaders, Action::Resume);
  FilterChain& chain = build(scripts);
  const uint64_t epoch = chain.epoch();
  size_t stopped_at = kNotSet;
  EXPECT_EQ(requestHeaders(0, stopped_at), Result::Done);
  EXPECT_EQ(log_, calls({0, 1, 2}, Hook::RequestHeaders));
  EXPECT_EQ(stream_.resumed_from, std::vector<size_t>{1});
  EXPECT_EQ(chain.epoch(), epoch);
}

// A takeover made outside any iteration (a timer) moves the epoch but does not poison the next
// iteration: each iteration compares against the epoch it started with.
TEST_F(FilterChainTest, TakeoverBeforeAnIterationDoesNotInterruptIt) {
  FilterChain& chain = buildPlain(3);
  ASSERT_EQ(created_.size(), 3U);
  const uint64_t epoch = chain.epoch();
  created_[1]->act(Action::Reply);
  EXPECT_EQ(chain.epoch(), epoch + 1);
  EXPECT_EQ(stream_.replied_from, std::vector<size_t>{1});
  size_t stopped_at = kNotSet;
  EXPECT_EQ(requestHeaders(0, stopped_at), Result::Done);
  EXPECT_EQ(chain.attemptStart(request_), Result::Done);
  EXPECT_EQ(responseHeaders(3), Result::Done);
  EXPECT_EQ(log_.size(), 9U);
}

// ---- attempts ----

TEST_F(FilterChainTest, AttemptStartRunsInOrder) {
  FilterChain& chain = buildPlain(3);
  EXPECT_EQ(chain.attemptStart(request_), Result::Done);
  EXPECT_EQ(log_, calls({0, 1, 2}, Hook::AttemptStart));
}

TEST_F(FilterChainTest, AttemptStartStopsOrIsInterrupted) {
  struct Case {
    Script script;
    Result result;
    bool replied;
  };
  const std::vector<Case> cases = {
      {stopOn(Hook::AttemptStart), Result::Stopped, false},
      {actAndStopOn(Hook::AttemptStart, Action::Reply), Result::Interrupted, true}, // a veto
      {actOn(Hook::AttemptStart, Action::Reply), Result::Interrupted, true},
  };
  for (const Case& c : cases) {
    for (size_t actor = 0; actor < 3; ++actor) {
      SCOPED_TRACE("result " + std::to_string(static_cast<int>(c.result)) + " actor " +
                   std::to_string(actor));
      stream_ = RecordingCallbacks{};
      log_.clear();
      std::vector<Script> scripts(3);
      scripts[actor] = c.script;
      FilterChain& chain = build(scripts);
      EXPECT_EQ(chain.attemptStart(request_), c.result);
      std::vector<int> expected;
      for (size_t i = 0; i <= actor; ++i) {
        expected.push_back(static_cast<int>(i));
      }
      EXPECT_EQ(log_, calls(expected, Hook::AttemptStart));
      EXPECT_EQ(stream_.replied_from,
                c.replied ? std::vector<size_t>{actor} : std::vector<size_t>{});
    }
  }
}

TEST_F(FilterChainTest, AttemptDoneReachesEveryFilterEvenAfterATakeover) {
  std::vector<Script> scripts(3);
  scripts[0] = actOn(Hook::AttemptDone, Action::Retry); // the retry filter schedules another
  FilterChain& chain = build(scripts);
  AttemptResult result;
  result.attempt = 2;
  result.status = 503;
  chain.attemptDone(result);
  EXPECT_EQ(log_, calls({0, 1, 2}, Hook::AttemptDone));
  ASSERT_EQ(created_.size(), 3U);
  for (const ScriptedFilter* f : created_) {
    EXPECT_EQ(f->last_attempt, 2U);
  }
  EXPECT_EQ(stream_.retries, std::vector<std::chrono::milliseconds>{10ms});
}

// ---- response headers ----

TEST_F(FilterChainTest, ResponseHeadersRunInReverseBelowEnd) {
  struct Case {
    size_t end;
    std::vector<int> expected;
  };
  const std::vector<Case> cases = {
      {3, {2, 1, 0}}, {2, {1, 0}}, {1, {0}}, {0, {}}, {9, {2, 1, 0}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("end " + std::to_string(c.end));
    log_.clear();
    buildPlain(3);
    EXPECT_EQ(responseHeaders(c.end), Result::Done);
    EXPECT_EQ(log_, calls(c.expected, Hook::ResponseHeaders));
  }
}

TEST_F(FilterChainTest, ResponseHeadersStopIteration) {
  std::vector<Script> scripts(4);
  scripts[1] = stopOn(Hook::ResponseHeaders);
  build(scripts);
  EXPECT_EQ(responseHeaders(4), Result::Stopped);
  EXPECT_EQ(log_, calls({3, 2, 1}, Hook::ResponseHeaders));
  log_.clear();
  // Below the stopper it is never reached.
  EXPECT_EQ(responseHeaders(1), Result::Done);
  EXPECT_EQ(log_, calls({0}, Hook::ResponseHeaders));
}

TEST_F(FilterChainTest, TakeoverFromResponseHeadersInterrupts) {
  for (const TakeoverCase& c : takeoverCases()) {
    for (size_t actor = 0; actor < 3; ++actor) {
      SCOPED_TRACE("action " + std::to_string(static_cast<int>(c.action)) + " stop " +
                   std::to_string(c.also_stop) + " actor " + std::to_string(actor));
      stream_ = RecordingCallbacks{};
      stream_.switch_result = true;
      log_.clear();
      std::vector<Script> scripts(3);
      scripts[actor] = c.also_stop ? actAndStopOn(Hook::ResponseHeaders, c.action)
                                   : actOn(Hook::ResponseHeaders, c.action);
      build(scripts);
      EXPECT_EQ(responseHeaders(3), Result::Interrupted);
      std::vector<int> expected;
      for (size_t i = 3; i-- > actor;) {
        expected.push_back(static_cast<int>(i));
      }
      EXPECT_EQ(log_, calls(expected, Hook::ResponseHeaders));
      expectTakeoverFrom(stream_, c.action, actor);
    }
  }
}

TEST_F(FilterChainTest, RejectedSwitchClusterDoesNotInterrupt) {
  struct Case {
    bool accepted;
    bool stop;
    Result result;
    std::vector<int> expected;
  };
  const std::vector<Case> cases = {
      {false, false, Result::Done, {2, 1, 0}},
      {false, true, Result::Stopped, {2, 1}},
      {true, false, Result::Interrupted, {2, 1}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("accepted " + std::to_string(c.accepted) + " stop " + std::to_string(c.stop));
    stream_ = RecordingCallbacks{};
    stream_.switch_result = c.accepted;
    log_.clear();
    std::vector<Script> scripts(3);
    scripts[1] = c.stop ? actAndStopOn(Hook::ResponseHeaders, Action::SwitchCluster)
                        : actOn(Hook::ResponseHeaders, Action::SwitchCluster);
    FilterChain& chain = build(scripts);
    const uint64_t epoch = chain.epoch();
    EXPECT_EQ(responseHeaders(3), c.result);
    EXPECT_EQ(log_, calls(c.expected, Hook::ResponseHeaders));
    EXPECT_EQ(stream_.switched, std::vector<std::string>{"backup"});
    ASSERT_EQ(created_.size(), 3U);
    EXPECT_EQ(created_[1]->switch_results, std::vector<bool>{c.accepted});
    EXPECT_EQ(chain.epoch() != epoch, c.accepted);
  }
}

TEST_F(FilterChainTest, RejectedSwitchClusterDoesNotInterruptRequestOrAttempt) {
  std::vector<Script> scripts(3);
  scripts[0] = actOn(Hook::AttemptStart, Action::SwitchCluster);
  FilterChain& chain = build(scripts);
  stream_.switch_result = false;
  EXPECT_EQ(chain.attemptStart(request_), Result::Done);
  EXPECT_EQ(log_, calls({0, 1, 2}, Hook::AttemptStart));
}

// ---- body, trailers, end ----

TEST_F(FilterChainTest, RequestDataAndTrailersRunInOrderThroughAll) {
  FilterChain& chain = buildPlain(3);
  evbuffer* data = evbuffer_new();
  ASSERT_NE(data, nullptr);
  HeaderMap trailers;
  chain.requestData(data, false);
  chain.requestTrailers(trailers);
  CallLog expected = calls({0, 1, 2}, Hook::RequestData);
  const CallLog tail = calls({0, 1, 2}, Hook::RequestTrailers);
  expected.insert(expected.end(), tail.begin(), tail.end());
  EXPECT_EQ(log_, expected);
  for (const ScriptedFilter* f : created_) {
    EXPECT_EQ(f->last_data, data);
    EXPECT_EQ(f->last_trailers, &trailers);
  }
  evbuffer_free(data);
}

TEST_F(FilterChainTest, ResponseDataAndTrailersRunInReverseBelowEnd) {
  struct Case {
    size_t end;
    std::vector<int> expected;
  };
  const std::vector<Case> cases = {{3, {2, 1, 0}}, {2, {1, 0}}, {0, {}}, {5, {2, 1, 0}}};
  evbuffer* data = evbuffer_new();
  ASSERT_NE(data, nullptr);
  HeaderMap trailers;
  for (const Case& c : cases) {
    SCOPED_TRACE("end " + std::to_string(c.end));
    log_.clear();
    FilterChain& chain = buildPlain(3);
    chain.responseData(c.end, data, true);
    EXPECT_EQ(log_, calls(c.expected, Hook::ResponseData));
    log_.clear();
    chain.responseTrailers(c.end, trailers);
    EXPECT_EQ(log_, calls(c.expected, Hook::ResponseTrailers));
    for (int id : c.expected) {
      EXPECT_EQ(created_[static_cast<size_t>(id)]->last_data, data);
      EXPECT_EQ(created_[static_cast<size_t>(id)]->last_trailers, &trailers);
    }
  }
  evbuffer_free(data);
}

TEST_F(FilterChainTest, StreamDoneReachesEveryFilter) {
  std::vector<Script> scripts(3);
  scripts[0] = actOn(Hook::StreamDone, Action::Reset);
  FilterChain& chain = build(scripts);
  StreamInfo info;
  chain.streamDone(info);
  EXPECT_EQ(log_, calls({0, 1, 2}, Hook::StreamDone));
  for (const ScriptedFilter* f : created_) {
    EXPECT_EQ(f->last_info, &info);
  }
}

// ---- factories returning nullptr ----

TEST_F(FilterChainTest, NullFiltersAreSkippedAndIndexesCountRealFilters) {
  // Factories 0..4; 1 and 3 create nothing, so the real filters are 0, 2, 4 at positions 0, 1, 2.
  FilterChain& chain = build(
      {Script{}, noFilter(), actOn(Hook::RequestHeaders, Action::Reply), noFilter(), Script{}});
  EXPECT_EQ(chain.size(), 3U);
  size_t stopped_at = kNotSet;
  EXPECT_EQ(requestHeaders(0, stopped_at), Result::Interrupted);
  EXPECT_EQ(log_, calls({0, 2}, Hook::RequestHeaders));
  EXPECT_EQ(stream_.replied_from, std::vector<size_t>{1});
  EXPECT_EQ(stream_.reply_reasons, std::vector<std::string>{"scripted-2"});

  log_.clear();
  EXPECT_EQ(requestHeaders(2, stopped_at), Result::Done); // position 2 is factory 4
  EXPECT_EQ(log_, calls({4}, Hook::RequestHeaders));

  log_.clear();
  EXPECT_EQ(responseHeaders(2), Result::Done); // positions 1, 0
  EXPECT_EQ(log_, calls({2, 0}, Hook::ResponseHeaders));
}

TEST_F(FilterChainTest, NullFiltersPositionsForEveryAction) {
  FilterChain& chain = build({noFilter(), Script{}, noFilter(), Script{}});
  ASSERT_EQ(chain.size(), 2U);
  ASSERT_EQ(created_.size(), 2U);
  EXPECT_EQ(created_[0]->id(), 1);
  EXPECT_EQ(created_[1]->id(), 3);
  created_[1]->act(Action::Reply);
  created_[1]->act(Action::Respond);
  created_[1]->act(Action::Resume);
  created_[0]->act(Action::Resume);
  EXPECT_EQ(stream_.replied_from, std::vector<size_t>{1});
  EXPECT_EQ(stream_.responded_from, std::vector<size_t>{1});
  EXPECT_EQ(stream_.resumed_from, (std::vector<size_t>{1, 0}));
}

TEST_F(FilterChainTest, AllFactoriesNullMakeAnEmptyChain) {
  FilterChain& chain = build({noFilter(), noFilter()});
  EXPECT_EQ(chain.size(), 0U);
  size_t stopped_at = kNotSet;
  EXPECT_EQ(requestHeaders(0, stopped_at), Result::Done);
  EXPECT_EQ(responseHeaders(2), Result::Done);
  EXPECT_TRUE(log_.empty());
}

// ---- StreamControl plumbing ----

TEST_F(FilterChainTest, EpochMovesOnTakeoversOnly) {
  struct Case {
    Action action;
    bool switch_result;
    uint64_t bump;
  };
  const std::vector<Case> cases = {
      {Action::Reply, false, 1},        {Action::Respond, false, 1},
      {Action::Retry, false, 1},        {Action::Reset, false, 1},
      {Action::SwitchCluster, true, 1}, {Action::SwitchCluster, false, 0},
      {Action::Resume, false, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("action " + std::to_string(static_cast<int>(c.action)));
    stream_.switch_result = c.switch_result;
    FilterChain& chain = buildPlain(2);
    const uint64_t epoch = chain.epoch();
    created_[1]->act(c.action);
    EXPECT_EQ(chain.epoch(), epoch + c.bump);
  }
}

TEST_F(FilterChainTest, ControlForwardsToTheStream) {
  buildPlain(2);
  ASSERT_EQ(created_.size(), 2U);
  StreamControl& control = created_[1]->control();
  EXPECT_EQ(&control.info(), &stream_.stream_info);
  EXPECT_EQ(&control.attemptRequest(), &stream_.attempt_request);
  EXPECT_EQ(&control.random(), &stream_.rng);
  EXPECT_EQ(control.now(), stream_.clock);
  EXPECT_EQ(control.logPrefix(), "[C7][S9] ");
  EXPECT_EQ(control.clusterStats("inventory"), nullptr);
  EXPECT_EQ(stream_.stats_asked, std::vector<std::string>{"inventory"});
  EXPECT_EQ(control.createTimer([] {}), nullptr);
  EXPECT_EQ(stream_.timers_requested, 1);
  created_[1]->act(Action::Retry);
  EXPECT_EQ(stream_.retries, std::vector<std::chrono::milliseconds>{20ms});
}

} // namespace
} // namespace seawall::proxy
