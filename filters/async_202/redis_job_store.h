// The JobStore backed by a Redis server shared by replicas: a job accepted by one Seawall can be
// polled, completed or cancelled through another. The data model and scripts are in
// redis_scripts.h; every mutation is one Lua script, so replicas stay consistent.
//
// Same contract as MemoryJobStore (memory_job_store.h), with these differences:
// - Threads: one store per process, shared by every thread; each thread that calls it first
//   calls attach(base) on itself (its own hiredis connection on its own event_base), and
//   detach() before that base is freed. Callbacks run on that thread's loop, after the method
//   returned, except Unavailable answers given at once (no connection on this thread, or Redis
//   down: the connection is reconnecting with backoff 100ms..5s). A command with no reply within
//   `command_timeout` closes the connection: every command pending on it answers Unavailable.
// - complete() and fail() are never answered Unavailable: while Redis is away they are queued
//   (per thread, at most max_bytes) and replayed once it answers, until their job's retention has
//   passed (then dropped and counted in redisCounters().writes_dropped).
// - `now` is wall-clock time (system_clock) and must agree across replicas: it decides expiry,
//   and Redis drops each job's hash at its expiry (PEXPIREAT) by its own clock.
// - jobs(), bytes() are as of the last expire() (approximate, and shared by all replicas);
//   counters() count this process's own actions (and the expired jobs its sweeps dropped).
// - Byte accounting per job is MemoryJobStore's (jobBytes + JobResult::bytes()), over the whole
//   Redis key space shared by the replicas using the same key_prefix.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "filters/async_202/job_store.h"
#include "filters/async_202/redis_connection.h"
#include "filters/async_202/redis_scripts.h"

struct event_base;

namespace seawall::filters::async_202 {

struct RedisStoreOptions {
  std::string host = "127.0.0.1"; // an IP literal: hiredis resolves names with blocking calls
  uint16_t port = 6379;
  std::string key_prefix = "seawall:";
  JobStoreLimits limits;
  std::chrono::milliseconds command_timeout{2000};
};

class RedisJobStore final : public JobStore {
public:
  // Beyond JobStore::Counters: what only a networked store does.
  struct RedisCounters {
    uint64_t unavailable = 0;    // create/get/cancel answered Unavailable
    uint64_t writes_queued = 0;  // complete/fail kept while Redis was away (or refused them)
    uint64_t writes_dropped = 0; // ... and given up: retention passed, queue full, or detached
  };

  explicit RedisJobStore(RedisStoreOptions options);
  RedisJobStore(const RedisJobStore&) = delete;
  RedisJobStore& operator=(const RedisJobStore&) = delete;
  RedisJobStore(RedisJobStore&&) = delete;
  RedisJobStore& operator=(RedisJobStore&&) = delete;
  ~RedisJobStore() override; // every thread must have detach()ed (and detachSubscriber())

  // On the calling thread: its own connection, on `base`, which that thread runs.
  void attach(event_base* base);
  // On the calling thread, before its base is freed: pending commands answer Unavailable, queued
  // writes are dropped (counted).
  void detach();
  // On the main thread: a connection subscribed to "<prefix>cancel", calling the onRemoteCancel
  // hook for every cancel made by another store (another replica or another RedisJobStore).
  void attachSubscriber(event_base* base);
  void detachSubscriber();
  // Set before attachSubscriber(); called on the subscriber's thread with the cancelled job's id.
  void onRemoteCancel(std::function<void(const std::string& id)> hook);

  // JobStore's thread hooks, for the proxy's wiring.
  void attachThread(event_base* base) override { attach(base); }
  void detachThread() override { detach(); }
  void listenForRemoteCancels(event_base* base,
                              std::function<void(const std::string& id)> hook) override {
    onRemoteCancel(std::move(hook));
    attachSubscriber(base);
  }
  void stopListening() override { detachSubscriber(); }

  void create(TimePoint now, const std::string& id, std::chrono::milliseconds retention,
              std::string method, std::string path,
              std::function<void(CreateOutcome)> done) override;
  void complete(TimePoint now, const std::string& id, JobResult result) override;
  void fail(TimePoint now, const std::string& id, std::string reason) override;
  void get(TimePoint now, const std::string& id,
           std::function<void(StoreStatus, std::optional<JobView>)> done) override;
  void cancel(TimePoint now, const std::string& id,
              std::function<void(StoreStatus, bool)> done) override;

  // Runs the sweep script (expired jobs out of the counts) and refreshes jobs()/bytes() when it
  // answers. Returns the jobs swept by this process since the previous call. On an attached
  // thread (the main thread, every second).
  size_t expire(TimePoint now) override;

  size_t jobs(JobState state) const override;
  size_t bytes() const override;
  Counters counters() const override;
  RedisCounters redisCounters() const;

  // True when this thread's connection is up (connected or connecting); for tests and /ready.
  bool connectedHere() const;
  const RedisStoreOptions& options() const { return options_; }

private:
  RedisConnection* connection() const;
  RedisConnection::Options connectionOptions(const std::string& name);
  std::vector<std::string> scriptArgs(const std::string& id) const;
  void finish(TimePoint now, const std::string& id, std::string reason, bool publish,
              std::function<void(StoreStatus, bool)> done);
  void countSwept(long long swept);
  std::string nextToken(); // tags a durable write: see kCompleteScript
  void rememberExpiry(const std::string& id, TimePoint expires);
  // The job's expiry if this process created it, else now + a default: how long to keep a write.
  TimePoint expiryOf(const std::string& id, TimePoint now);
  void onCancelMessage(std::string_view message);

  const RedisStoreOptions options_;
  const uint64_t serial_;    // this store in the per-thread slots
  const std::string origin_; // in cancel messages, to skip our own
  const std::string job_prefix_;
  const std::string channel_;
  std::array<std::string, kScriptKeys> keys_; // the shared keys; index 0 (the job's) unused

  mutable std::mutex mutex_; // guards the three below
  std::unordered_map<std::thread::id, std::unique_ptr<RedisConnection>> connections_;
  std::unique_ptr<RedisConnection> subscriber_;
  // Expiry of jobs this process created, until they end: how long a queued write is kept.
  std::unordered_map<std::string, TimePoint> expiries_;

  std::function<void(const std::string&)> remote_cancel_;

  std::array<std::atomic<size_t>, 3> jobs_{}; // by JobState, as of the last sweep
  std::atomic<size_t> bytes_{0};
  std::atomic<uint64_t> swept_since_expire_{0};
  std::atomic<uint64_t> next_write_{1};
  struct AtomicCounters {
    std::atomic<uint64_t> accepted{0}, rejected{0}, completed{0}, failed{0}, result_too_large{0},
        expired{0}, unavailable{0}, writes_queued{0}, writes_dropped{0};
  };
  AtomicCounters counters_;
};

} // namespace seawall::filters::async_202
