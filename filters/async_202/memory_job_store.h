// The embedded JobStore: jobs kept in this process, shared by every worker behind one mutex.
//
// Exact semantics (on top of job_store.h):
// - Bounded: create() refuses (Full, counted `rejected`) when max_jobs jobs are stored, or when
//   the new job's jobBytes() does not fit in what is left of max_bytes. bytes() is the sum over
//   stored jobs of jobBytes(id, method, path) plus, once COMPLETED, the result's
//   JobResult::bytes(); it never exceeds max_bytes. complete() with a result larger than what is
//   left of max_bytes ends the job FAILED("result-too-large") (counted in `failed` and
//   `result_too_large`) and drops the result.
// - An id already stored (and not expired) is refused like a full store: never overwritten.
// - Expiry: a job expires at created + retention (from then on it is gone: get() answers nullopt,
//   complete()/fail()/cancel() do nothing). Expired jobs are dropped, each counted `expired`,
//   by expire(now) (earliest expiry first, O(log n) each: call it from a timer), by create()
//   (which sweeps every expired job first, so that they make room), and by any other call that
//   touches an expired job by id. Until then they still show in jobs() and bytes().
// - Callbacks are called before the method returns, on the caller's thread, outside the lock: a
//   callback may call the store again. An empty std::function is not called.
// - Results are shared (std::shared_ptr<const JobResult>): get() copies no body, and a result
//   stays valid for a caller holding it after its job expired.
//
// Threads: every method may be called from any thread; all take one mutex, do no I/O, and hold it
// for a hash lookup plus an ordered-index insert or erase (and the sweep's drops).
#pragma once

#include <array>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "filters/async_202/job_store.h"

namespace seawall::filters::async_202 {

class MemoryJobStore final : public JobStore {
public:
  // Counted per job on top of its id, method and path: what a stored job costs in this process
  // beyond those strings (hash node, expiry index node, id and path buffers, a completed job's
  // shared result block), measured with mallinfo2() on glibc 2.36 / x86-64 by
  // memory_job_store_test.cc (MemoryPerJob): 10,000 jobs with a 23-byte path take 360 bytes of
  // heap each while PROCESSING and 472 once COMPLETED with an empty result; accounted: 474.
  static constexpr size_t kJobOverheadBytes = 416;

  explicit MemoryJobStore(JobStoreLimits limits);

  // What a PROCESSING job counts against max_bytes.
  static size_t jobBytes(std::string_view id, std::string_view method, std::string_view path);

  void create(TimePoint now, const std::string& id, std::chrono::milliseconds retention,
              std::string method, std::string path,
              std::function<void(CreateOutcome)> done) override;
  void complete(TimePoint now, const std::string& id, JobResult result) override;
  void fail(TimePoint now, const std::string& id, std::string reason) override;
  void get(TimePoint now, const std::string& id,
           std::function<void(StoreStatus, std::optional<JobView>)> done) override;
  void cancel(TimePoint now, const std::string& id,
              std::function<void(StoreStatus, bool)> done) override;

  size_t jobs(JobState state) const override;
  size_t bytes() const override;
  Counters counters() const override;

  // Drops every job whose expiry is at or before `now`, earliest first; returns how many.
  size_t expire(TimePoint now) override;
  // Jobs stored, all states (expired ones not yet dropped included).
  size_t size() const;
  const JobStoreLimits& limits() const { return limits_; }

private:
  struct Job {
    JobState state = JobState::Processing;
    std::string failure_reason;
    TimePoint created;
    TimePoint expires;
    std::string method;
    std::string path;
    std::shared_ptr<const JobResult> result;
    size_t bytes = 0; // counted in bytes_
    std::multimap<TimePoint, const std::string*>::iterator expiry_pos;
  };
  using Jobs = std::unordered_map<std::string, Job>;
  using Freed = std::vector<std::shared_ptr<const JobResult>>;

  // All with mutex_ held. Results of dropped jobs go to `freed`, to be released after unlocking.
  void drop(Jobs::iterator it, Freed& freed);
  size_t expireLocked(TimePoint now, Freed& freed);
  // The job if stored and not expired (an expired one is dropped), else nullptr.
  Job* findLive(TimePoint now, const std::string& id, Freed& freed);
  // PROCESSING -> `state`.
  void finish(Job& job, JobState state, std::string reason);

  const JobStoreLimits limits_;

  mutable std::mutex mutex_;
  // All guarded by mutex_. expiry_ points at the keys of jobs_ (stable across rehashing).
  Jobs jobs_;
  std::multimap<TimePoint, const std::string*> expiry_;
  size_t bytes_ = 0;
  std::array<size_t, 3> by_state_{}; // indexed by JobState
  Counters counters_;
};

} // namespace seawall::filters::async_202
