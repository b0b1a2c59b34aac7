// The redis backend of the async job store, against a real redis-server (one per test suite,
// flushed before each test): the JobStore contract as the memory store keeps it, jobs shared by
// two stores ("replicas"), Redis killed or frozen, remote cancel. Each store runs on an event_base
// that the test drives itself, with bounded waits.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <event2/event.h>
#include <gtest/gtest.h>

#include "filters/async_202/memory_job_store.h"
#include "filters/async_202/redis_job_store.h"
#include "proxy/common/event_ptr.h"
#include "tests/harness/redis_server.h"

namespace seawall::test {
namespace {

using filters::async_202::CreateOutcome;
using filters::async_202::JobResult;
using filters::async_202::JobState;
using filters::async_202::JobStore;
using filters::async_202::JobStoreLimits;
using filters::async_202::JobView;
using filters::async_202::makeJobId;
using filters::async_202::MemoryJobStore;
using filters::async_202::RedisJobStore;
using filters::async_202::RedisStoreOptions;
using filters::async_202::StoreStatus;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr milliseconds kRetention{60000};
constexpr milliseconds kWait{5000};

JobStore::TimePoint now() { return std::chrono::system_clock::now(); }
std::string idOf(uint64_t n) { return makeJobId(0x7ed15, n); }
size_t oneJob() { return MemoryJobStore::jobBytes(idOf(0), "GET", "/slow"); }

JobStoreLimits limits(size_t max_jobs, size_t max_bytes) {
  JobStoreLimits l;
  l.max_jobs = max_jobs;
  l.max_bytes = max_bytes;
  return l;
}

// One redis-server for the whole suite (flushed before each test).
std::unique_ptr<RedisServer> redis;
bool redis_ok = false;

class RedisJobStoreTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    ::signal(SIGPIPE, SIG_IGN); // hiredis writes with write(2): a closed peer must not kill us
    if (RedisServer::available()) {
      redis = std::make_unique<RedisServer>();
      redis_ok = redis->start();
    }
  }
  static void TearDownTestSuite() { redis.reset(); }

  void SetUp() override {
    if (!RedisServer::available()) {
      GTEST_SKIP() << RedisServer::kMissing;
    }
    ASSERT_TRUE(redis_ok) << redis->output();
    if (!redis->running()) { // a test killed it
      ASSERT_TRUE(redis->start()) << redis->output();
    }
    redis->resume();
    ASSERT_EQ(redis->command({"FLUSHALL"}).value_or("?"), "+OK\r\n");
    bases_.emplace_back(event_base_new());
    bases_.emplace_back(event_base_new());
  }

  void TearDown() override {
    for (auto& store : stores_) {
      store->detachSubscriber();
      store->detach();
    }
    stores_.clear();
  }

  RedisJobStore& makeStore(JobStoreLimits l = JobStoreLimits{}, size_t base = 0,
                           milliseconds timeout = milliseconds(2000)) {
    RedisStoreOptions o;
    o.port = redis->port();
    o.limits = l;
    o.command_timeout = timeout;
    stores_.push_back(std::make_unique<RedisJobStore>(o));
    stores_.back()->attach(bases_[base].get());
    return *stores_.back();
  }

  // Runs every base until `done()` or `timeout`.
  bool pumpUntil(const std::function<bool()>& done, milliseconds timeout = kWait) {
    const auto deadline = Clock::now() + timeout;
    while (!done()) {
      if (Clock::now() > deadline) {
        return false;
      }
      for (auto& base : bases_) {
        event_base_loop(base.get(), EVLOOP_NONBLOCK);
      }
      if (!done()) {
        std::this_thread::sleep_for(milliseconds(1));
      }
    }
    return true;
  }
  void pumpFor(milliseconds d) {
    const auto until = Clock::now() + d;
    pumpUntil([&] { return Clock::now() >= until; }, d + milliseconds(100));
  }

  std::optional<CreateOutcome> create(JobStore& store, const std::string& id,
                                      milliseconds retention = kRetention,
                                      const std::string& path = "/slow") {
    std::optional<CreateOutcome> outcome;
    store.create(now(), id, retention, "GET", path, [&](CreateOutcome o) { outcome = o; });
    pumpUntil([&] { return outcome.has_value(); });
    return outcome;
  }

  struct Got {
    StoreStatus status = StoreStatus::Unavailable;
    std::optional<JobView> view;
  };
  std::optional<Got> get(JobStore& store, const std::string& id) {
    std::optional<Got> got;
    store.get(now(), id, [&](StoreStatus s, std::optional<JobView> v) {
      got = Got{s, std::move(v)};
    });
    pumpUntil([&] { return got.has_value(); });
    return got;
  }

  std::optional<std::pair<StoreStatus, bool>> cancel(JobStore& store, const std::string& id) {
    std::optional<std::pair<StoreStatus, bool>> answer;
    store.cancel(now(), id, [&](StoreStatus s, bool c) { answer = {s, c}; });
    pumpUntil([&] { return answer.has_value(); });
    return answer;
  }

  // complete()/fail() do not answer: wait until the counters show the store's reply.
  bool settled(RedisJobStore& store, uint64_t completed, uint64_t failed,
               milliseconds timeout = kWait) {
    return pumpUntil(
        [&] {
          const auto c = store.counters();
          return c.completed == completed && c.failed == failed;
        },
        timeout);
  }

  std::string exists(const std::string& id) const {
    return redis->command({"EXISTS", "seawall:job:" + id}).value_or("?");
  }

  std::vector<proxy::EventBasePtr> bases_;
  std::vector<std::unique_ptr<RedisJobStore>> stores_; // detached before the bases are freed
};

TEST_F(RedisJobStoreTest, CreatedJobIsProcessingWithRedisTtl) {
  RedisJobStore& store = makeStore();
  const auto before = now();
  ASSERT_EQ(create(store, idOf(1), kRetention, "/orders/7?x=1"), CreateOutcome::Created);
  const auto got = get(store, idOf(1));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->status, StoreStatus::Ok);
  ASSERT_TRUE(got->view.has_value());
  EXPECT_EQ(got->view->id, idOf(1));
  EXPECT_EQ(got->view->state, JobState::Processing);
  EXPECT_EQ(got->view->method, "GET");
  EXPECT_EQ(got->view->path, "/orders/7?x=1");
  EXPECT_EQ(got->view->result, nullptr);
  EXPECT_GE(got->view->created, before - milliseconds(1));
  EXPECT_EQ(got->view->expires - got->view->created, kRetention);
  const auto ttl = redis->command({"PTTL", "seawall:job:" + idOf(1)}).value_or(":-9");
  const long pttl = std::stol(ttl.substr(1));
  EXPECT_GT(pttl, 50000);
  EXPECT_LE(pttl, 60000);
  EXPECT_EQ(store.counters().accepted, 1u);
}

TEST_F(RedisJobStoreTest, ResultWithTenMebibyteBinaryBodyComesBackByteIdentical) {
  RedisJobStore& store = makeStore();
  ASSERT_EQ(create(store, idOf(2)), CreateOutcome::Created);
  JobResult result;
  result.status = 207;
  result.headers = {{"content-type", "application/octet-stream"},
                    {"x-odd", std::string("a\0b\r\n3:c", 8)},
                    {"12:x", ""},
                    {"set-cookie", "a=1"},
                    {"set-cookie", "b=2"}};
  result.body.resize(size_t{10} * 1024 * 1024);
  for (size_t i = 0; i < result.body.size(); ++i) {
    result.body[i] = static_cast<char>((i * 31 + i / 4096) & 0xff);
  }
  result.trailers = {{"grpc-status", "0"}, {"x-sum", "\xff\x00"}};
  const JobResult sent = result;
  store.complete(now(), idOf(2), std::move(result));
  ASSERT_TRUE(settled(store, 1, 0));
  const auto got = get(store, idOf(2));
  ASSERT_TRUE(got && got->view && got->view->result);
  EXPECT_EQ(got->view->state, JobState::Completed);
  const JobResult& back = *got->view->result;
  EXPECT_EQ(back.status, 207);
  EXPECT_EQ(back.headers, sent.headers);
  EXPECT_EQ(back.trailers, sent.trailers);
  ASSERT_EQ(back.body.size(), sent.body.size());
  EXPECT_TRUE(back.body == sent.body);
  store.expire(now());
  ASSERT_TRUE(pumpUntil([&] { return store.jobs(JobState::Completed) == 1; }));
  EXPECT_EQ(store.bytes(), oneJob() + sent.bytes());
}

TEST_F(RedisJobStoreTest, FailEndsTheJobOnceAndLaterWritesHaveNoEffect) {
  RedisJobStore& store = makeStore();
  ASSERT_EQ(create(store, idOf(3)), CreateOutcome::Created);
  store.fail(now(), idOf(3), "upstream-reset");
  ASSERT_TRUE(settled(store, 0, 1));
  store.complete(now(), idOf(3), JobResult{200, {}, "late", {}});
  store.fail(now(), idOf(3), "timeout");
  const auto got = get(store, idOf(3)); // after both writes: one connection, in order
  ASSERT_TRUE(got && got->view);
  EXPECT_EQ(got->view->state, JobState::Failed);
  EXPECT_EQ(got->view->failure_reason, "upstream-reset");
  EXPECT_EQ(got->view->result, nullptr);
  EXPECT_EQ(store.counters().completed, 0u);
  EXPECT_EQ(store.counters().failed, 1u);
}

TEST_F(RedisJobStoreTest, CancelEndsOnlyProcessingJobs) {
  RedisJobStore& store = makeStore();
  ASSERT_EQ(create(store, idOf(4)), CreateOutcome::Created);
  ASSERT_EQ(create(store, idOf(5)), CreateOutcome::Created);
  store.complete(now(), idOf(5), JobResult{200, {}, "done", {}});
  EXPECT_EQ(cancel(store, idOf(4)), std::make_pair(StoreStatus::Ok, true));
  EXPECT_EQ(cancel(store, idOf(4)), std::make_pair(StoreStatus::Ok, false));
  EXPECT_EQ(cancel(store, idOf(5)), std::make_pair(StoreStatus::Ok, false));
  const auto got = get(store, idOf(4));
  ASSERT_TRUE(got && got->view);
  EXPECT_EQ(got->view->state, JobState::Failed);
  EXPECT_EQ(got->view->failure_reason, "cancelled");
  const auto done = get(store, idOf(5));
  ASSERT_TRUE(done && done->view);
  EXPECT_EQ(done->view->state, JobState::Completed);
}

TEST_F(RedisJobStoreTest, UnknownIdIsAbsent) {
  RedisJobStore& store = makeStore();
  const auto got = get(store, idOf(6));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->status, StoreStatus::Ok);
  EXPECT_FALSE(got->view.has_value());
  EXPECT_EQ(cancel(store, idOf(6)), std::make_pair(StoreStatus::Ok, false));
  store.complete(now(), idOf(6), JobResult{200, {}, "x", {}});
  pumpFor(milliseconds(50));
  EXPECT_EQ(exists(idOf(6)), ":0\r\n");
  EXPECT_EQ(store.counters().completed, 0u);
}

TEST_F(RedisJobStoreTest, JobDisappearsAfterRetentionAndIsCountedExpired) {
  RedisJobStore& store = makeStore();
  ASSERT_EQ(create(store, idOf(7), milliseconds(300)), CreateOutcome::Created);
  const auto early = get(store, idOf(7));
  ASSERT_TRUE(early && early->view);
  pumpFor(milliseconds(400));
  const auto late = get(store, idOf(7));
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ(late->status, StoreStatus::Ok);
  EXPECT_FALSE(late->view.has_value());
  EXPECT_EQ(exists(idOf(7)), ":0\r\n"); // Redis dropped the hash itself (PEXPIREAT)
  store.expire(now());
  ASSERT_TRUE(pumpUntil([&] { return store.counters().expired == 1; }));
  EXPECT_EQ(store.expire(now()), 1u); // swept since the previous call
  ASSERT_TRUE(pumpUntil([&] { return store.jobs(JobState::Processing) == 0; }));
  EXPECT_EQ(store.bytes(), 0u);
}

TEST_F(RedisJobStoreTest, FullByJobsOrBytesUntilJobsExpire) {
  RedisJobStore& by_jobs = makeStore(limits(2, size_t{1} << 20));
  ASSERT_EQ(create(by_jobs, idOf(10), milliseconds(300)), CreateOutcome::Created);
  ASSERT_EQ(create(by_jobs, idOf(11), milliseconds(300)), CreateOutcome::Created);
  EXPECT_EQ(create(by_jobs, idOf(12)), CreateOutcome::Full);
  EXPECT_EQ(create(by_jobs, idOf(10)), CreateOutcome::Full); // never overwritten
  pumpFor(milliseconds(350));
  EXPECT_EQ(create(by_jobs, idOf(12)), CreateOutcome::Created); // the sweep made room
  EXPECT_EQ(by_jobs.counters().rejected, 2u);
  EXPECT_EQ(by_jobs.counters().expired, 2u);

  ASSERT_EQ(redis->command({"FLUSHALL"}).value_or("?"), "+OK\r\n");
  RedisJobStore& by_bytes = makeStore(limits(100, 2 * oneJob() + 10));
  ASSERT_EQ(create(by_bytes, idOf(13), milliseconds(300)), CreateOutcome::Created);
  ASSERT_EQ(create(by_bytes, idOf(14), milliseconds(300)), CreateOutcome::Created);
  EXPECT_EQ(create(by_bytes, idOf(15)), CreateOutcome::Full);
  pumpFor(milliseconds(350));
  EXPECT_EQ(create(by_bytes, idOf(15)), CreateOutcome::Created);
}

TEST_F(RedisJobStoreTest, ResultLargerThanWhatIsLeftFailsResultTooLarge) {
  RedisJobStore& store = makeStore(limits(10, oneJob() + 100));
  ASSERT_EQ(create(store, idOf(16)), CreateOutcome::Created);
  store.complete(now(), idOf(16), JobResult{200, {}, std::string(200, 'x'), {}});
  ASSERT_TRUE(settled(store, 0, 1));
  EXPECT_EQ(store.counters().result_too_large, 1u);
  const auto got = get(store, idOf(16));
  ASSERT_TRUE(got && got->view);
  EXPECT_EQ(got->view->state, JobState::Failed);
  EXPECT_EQ(got->view->failure_reason, "result-too-large");
  EXPECT_EQ(got->view->result, nullptr);
}

TEST_F(RedisJobStoreTest, TwoReplicasShareJobs) {
  RedisJobStore& a = makeStore(JobStoreLimits{}, 0);
  RedisJobStore& b = makeStore(JobStoreLimits{}, 1);
  ASSERT_EQ(create(a, idOf(20)), CreateOutcome::Created);
  const auto seen = get(b, idOf(20));
  ASSERT_TRUE(seen && seen->view);
  EXPECT_EQ(seen->view->state, JobState::Processing);
  b.complete(now(), idOf(20), JobResult{201, {{"x-by", "b"}}, "from b", {}});
  ASSERT_TRUE(settled(b, 1, 0));
  const auto done = get(a, idOf(20));
  ASSERT_TRUE(done && done->view && done->view->result);
  EXPECT_EQ(done->view->result->status, 201);
  EXPECT_EQ(done->view->result->body, "from b");
  EXPECT_EQ(create(b, idOf(20)), CreateOutcome::Full); // an id stored by a is not overwritten
  a.expire(now());
  ASSERT_TRUE(pumpUntil([&] { return a.jobs(JobState::Completed) == 1; }));
}

TEST_F(RedisJobStoreTest, OneStoreSharedByThreadsEachWithItsOwnConnection) {
  RedisJobStore& store = makeStore();
  std::optional<CreateOutcome> outcome;
  std::thread worker([&] {
    proxy::EventBasePtr base(event_base_new());
    store.attach(base.get());
    store.create(now(), idOf(21), kRetention, "POST", "/w", [&](CreateOutcome o) { outcome = o; });
    const auto deadline = Clock::now() + kWait;
    while (!outcome && Clock::now() < deadline) {
      event_base_loop(base.get(), EVLOOP_ONCE | EVLOOP_NONBLOCK);
      std::this_thread::sleep_for(milliseconds(1));
    }
    store.detach();
  });
  worker.join();
  EXPECT_EQ(outcome, CreateOutcome::Created);
  const auto got = get(store, idOf(21));
  ASSERT_TRUE(got && got->view);
  EXPECT_EQ(got->view->method, "POST");
}

TEST_F(RedisJobStoreTest, ThreadWithoutConnectionAnswersUnavailableAtOnce) {
  RedisStoreOptions o;
  o.port = redis->port();
  RedisJobStore store(o); // never attached
  std::optional<CreateOutcome> outcome;
  store.create(now(), idOf(22), kRetention, "GET", "/", [&](CreateOutcome c) { outcome = c; });
  EXPECT_EQ(outcome, CreateOutcome::Unavailable);
  std::optional<StoreStatus> status;
  store.get(now(), idOf(22), [&](StoreStatus s, const std::optional<JobView>&) { status = s; });
  EXPECT_EQ(status, StoreStatus::Unavailable);
  EXPECT_EQ(store.redisCounters().unavailable, 2u);
}

TEST_F(RedisJobStoreTest, RedisKilledAnswersUnavailablePromptlyAndReplaysWrites) {
  RedisJobStore& a = makeStore(JobStoreLimits{}, 0);
  ASSERT_EQ(create(a, idOf(30)), CreateOutcome::Created);
  redis->kill();
  const auto t0 = Clock::now();
  EXPECT_EQ(create(a, idOf(31)), CreateOutcome::Unavailable);
  const auto got = get(a, idOf(30));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->status, StoreStatus::Unavailable);
  EXPECT_EQ(cancel(a, idOf(30)), std::make_pair(StoreStatus::Unavailable, false));
  const auto took = Clock::now() - t0;
  EXPECT_LT(took, milliseconds(500)) << "create, get and cancel while Redis is down";
  a.complete(now(), idOf(30), JobResult{200, {}, "kept while down", {}});
  pumpFor(milliseconds(200));
  EXPECT_EQ(a.redisCounters().writes_queued, 1u);
  EXPECT_EQ(a.counters().completed, 0u);

  // Redis comes back empty (no persistence): replica b re-creates the job before a reconnects
  // (a's loop is not run meanwhile), then a replays its complete().
  ASSERT_TRUE(redis->start()) << redis->output();
  RedisJobStore& b = makeStore(JobStoreLimits{}, 1);
  std::optional<CreateOutcome> again;
  b.create(now(), idOf(30), kRetention, "GET", "/slow", [&](CreateOutcome o) { again = o; });
  const auto deadline = Clock::now() + kWait;
  while (!again && Clock::now() < deadline) {
    event_base_loop(bases_[1].get(), EVLOOP_NONBLOCK);
    std::this_thread::sleep_for(milliseconds(1));
  }
  ASSERT_EQ(again, CreateOutcome::Created);
  ASSERT_TRUE(pumpUntil([&] { return a.counters().completed == 1; }, milliseconds(8000)));
  const auto replayed = get(b, idOf(30));
  ASSERT_TRUE(replayed && replayed->view && replayed->view->result);
  EXPECT_EQ(replayed->view->result->body, "kept while down");
  EXPECT_EQ(a.redisCounters().writes_dropped, 0u);
}

TEST_F(RedisJobStoreTest, FrozenRedisTimesOutCommandsThenReplaysWrites) {
  RedisJobStore& store = makeStore(JobStoreLimits{}, 0, milliseconds(500));
  ASSERT_EQ(create(store, idOf(40)), CreateOutcome::Created);
  redis->pause();
  store.complete(now(), idOf(40), JobResult{200, {}, "after the freeze", {}});
  const auto t0 = Clock::now();
  const auto got = get(store, idOf(40));
  const auto took = Clock::now() - t0;
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->status, StoreStatus::Unavailable);
  EXPECT_GE(took, milliseconds(400));
  EXPECT_LT(took, milliseconds(1500));
  EXPECT_GE(store.redisCounters().writes_queued, 1u); // the complete() pending at the timeout
  redis->resume();
  ASSERT_TRUE(pumpUntil([&] { return store.counters().completed == 1; }, milliseconds(8000)));
  const auto done = get(store, idOf(40));
  ASSERT_TRUE(done && done->view && done->view->result);
  EXPECT_EQ(done->view->result->body, "after the freeze");
}

TEST_F(RedisJobStoreTest, CancelIsPublishedToOtherStores) {
  RedisJobStore& a = makeStore(JobStoreLimits{}, 0);
  RedisJobStore& b = makeStore(JobStoreLimits{}, 1);
  std::vector<std::string> heard_by_a;
  std::vector<std::string> heard_by_b;
  a.onRemoteCancel([&](const std::string& id) { heard_by_a.push_back(id); });
  b.onRemoteCancel([&](const std::string& id) { heard_by_b.push_back(id); });
  a.attachSubscriber(bases_[0].get());
  b.attachSubscriber(bases_[1].get());
  // Subscribed once a PUBSUB NUMSUB shows both.
  ASSERT_TRUE(pumpUntil([&] {
    return redis->command({"PUBSUB", "NUMSUB", "seawall:cancel"}).value_or("").find(":2\r\n") !=
           std::string::npos;
  }));
  ASSERT_EQ(create(a, idOf(50)), CreateOutcome::Created);
  EXPECT_EQ(cancel(a, idOf(50)), std::make_pair(StoreStatus::Ok, true));
  ASSERT_TRUE(pumpUntil([&] { return !heard_by_b.empty(); }));
  EXPECT_EQ(heard_by_b, std::vector<std::string>{idOf(50)});
  EXPECT_TRUE(heard_by_a.empty()) << "a store's own cancel is not reported back to it";
  EXPECT_EQ(cancel(a, idOf(50)), std::make_pair(StoreStatus::Ok, false)); // nothing published
  pumpFor(milliseconds(100));
  EXPECT_EQ(heard_by_b.size(), 1u);
}

TEST_F(RedisJobStoreTest, CountersAndGauges) {
  RedisJobStore& store = makeStore(limits(3, size_t{1} << 20));
  for (uint64_t n = 60; n < 63; ++n) {
    ASSERT_EQ(create(store, idOf(n)), CreateOutcome::Created);
  }
  EXPECT_EQ(create(store, idOf(63)), CreateOutcome::Full);
  const JobResult result{200, {{"a", "b"}}, "body", {}};
  store.complete(now(), idOf(60), result);
  store.fail(now(), idOf(61), std::string(filters::async_202::kResultTooLarge));
  ASSERT_TRUE(settled(store, 1, 1));
  store.expire(now());
  ASSERT_TRUE(pumpUntil([&] { return store.jobs(JobState::Completed) == 1; }));
  EXPECT_EQ(store.jobs(JobState::Processing), 1u);
  EXPECT_EQ(store.jobs(JobState::Failed), 1u);
  EXPECT_EQ(store.bytes(), 3 * oneJob() + result.bytes());
  const auto c = store.counters();
  EXPECT_EQ(c.accepted, 3u);
  EXPECT_EQ(c.rejected, 1u);
  EXPECT_EQ(c.completed, 1u);
  EXPECT_EQ(c.failed, 1u);
  EXPECT_EQ(c.result_too_large, 1u);
  EXPECT_EQ(c.expired, 0u);
}

long usedMemory(const RedisServer& server) {
  const std::string info = server.command({"INFO", "memory"}).value_or("");
  const size_t at = info.find("used_memory:");
  return at == std::string::npos ? -1 : std::stol(info.substr(at + 12));
}

// Measured numbers for docs/async.md: jobs/s through one connection (pipelined: create, then
// complete, then get), and what a stored job costs in Redis (used_memory).
TEST_F(RedisJobStoreTest, ThroughputAndMemoryPerJob) {
#ifdef SEAWALL_SANITIZED
  constexpr uint64_t kJobs = 2000; // the numbers then mean little; the test still runs
#else
  constexpr uint64_t kJobs = 10000;
#endif
  constexpr milliseconds kLong{30000};
  RedisJobStore& store = makeStore(limits(2 * kJobs, size_t{256} << 20), 0, kLong);
  ASSERT_TRUE(get(store, idOf(0))); // connected, scripts loaded: EVALSHA from here on
  const long memory_before = usedMemory(*redis);
  const auto t0 = Clock::now();
  uint64_t created = 0;
  for (uint64_t n = 0; n < kJobs; ++n) {
    store.create(now(), idOf(1000 + n), kRetention, "GET", "/stock/lookup?sku=12345",
                 [&](CreateOutcome o) { created += o == CreateOutcome::Created ? 1 : 0; });
  }
  ASSERT_TRUE(pumpUntil([&] { return store.counters().accepted == kJobs; }, kLong));
  const auto t1 = Clock::now();
  const long memory_processing = usedMemory(*redis);
  for (uint64_t n = 0; n < kJobs; ++n) {
    store.complete(now(), idOf(1000 + n), JobResult{});
  }
  ASSERT_TRUE(settled(store, kJobs, 0, kLong));
  const auto t2 = Clock::now();
  const long memory_completed = usedMemory(*redis);
  uint64_t got = 0;
  for (uint64_t n = 0; n < kJobs; ++n) {
    store.get(now(), idOf(1000 + n), [&](StoreStatus, std::optional<JobView> v) {
      got += v && v->state == JobState::Completed ? 1 : 0;
    });
  }
  ASSERT_TRUE(pumpUntil([&] { return got == kJobs; }, kLong));
  const auto t3 = Clock::now();
  EXPECT_EQ(created, kJobs);
  const auto rate = [](std::chrono::steady_clock::duration d) {
    return static_cast<long>(kJobs / std::chrono::duration<double>(d).count());
  };
  std::printf("[ throughput ] one connection, pipelined, %lu jobs: create %ld/s, complete %ld/s, "
              "get %ld/s; all three %ld jobs/s\n",
              static_cast<unsigned long>(kJobs), rate(t1 - t0), rate(t2 - t1), rate(t3 - t2),
              rate(t3 - t0));
  std::printf("[ memory ] Redis used_memory per job: %ld bytes PROCESSING, %ld COMPLETED with an "
              "empty result\n",
              (memory_processing - memory_before) / static_cast<long>(kJobs),
              (memory_completed - memory_before) / static_cast<long>(kJobs));
}

} // namespace
} // namespace seawall::test
