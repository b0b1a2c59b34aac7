// The store of 202-converted jobs (the asynchronous request-reply pattern): what a client polls
// at /.seawall/jobs/<id>. One store per process, shared by every worker; the memory backend keeps
// jobs in this process, the redis backend (later) in a Redis server shared by replicas.
//
// The interface is asynchronous (answers come through callbacks) so that a networked backend fits
// behind it; the memory backend answers before returning. Callbacks run on the caller's thread.
//
// Lifecycle of a job: create() -> PROCESSING; then exactly one of complete() -> COMPLETED,
// fail(reason) -> FAILED, cancel() -> FAILED("cancelled"); every job, finished or not, disappears
// `retention` after its creation (a poll then answers 404). Nothing is dropped silently: a job the
// store cannot keep is refused at create() (store full), before the client got its 202.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct event_base;

namespace seawall::filters::async_202 {

enum class JobState { Processing, Completed, Failed };

// FAILED reason of a result over max_result_bytes or the store's byte budget.
inline constexpr std::string_view kResultTooLarge = "result-too-large";
std::string_view toString(JobState s); // "PROCESSING", "COMPLETED", "FAILED"

// The upstream's response as it was: status, headers, body, trailers.
struct JobResult {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::vector<std::pair<std::string, std::string>> trailers;
  size_t bytes() const; // what it counts against max_bytes
};

struct JobView {
  std::string id;
  JobState state = JobState::Processing;
  std::string failure_reason; // FAILED: "timeout", "breaker-open", "upstream-reset", ...
  std::chrono::system_clock::time_point created;
  std::chrono::system_clock::time_point expires;
  std::string method; // of the original request, for the status document
  std::string path;
  std::shared_ptr<const JobResult> result; // COMPLETED only
};

// Unavailable: a networked store could not be reached (nothing was created; the client gets 503
// `async-store-unavailable`, never a 202 for a job that may not exist).
enum class CreateOutcome { Created, Full, Unavailable };

// How a get() or cancel() went: Unavailable means the store could not be reached, so the job may
// well exist (a poll answers 503 with Retry-After, not 404).
enum class StoreStatus { Ok, Unavailable };

struct JobStoreLimits {
  size_t max_jobs = 10000;
  size_t max_bytes = size_t{256} * 1024 * 1024;
};

class JobStore {
public:
  using TimePoint = std::chrono::system_clock::time_point;
  JobStore() = default;
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;
  JobStore(JobStore&&) = delete;
  JobStore& operator=(JobStore&&) = delete;
  virtual ~JobStore() = default;

  // Creates a PROCESSING job with `id` (128-bit random, hex, made by the caller), expiring at
  // now + retention. Full (max_jobs or max_bytes reached): nothing is created.
  virtual void create(TimePoint now, const std::string& id, std::chrono::milliseconds retention,
                      std::string method, std::string path,
                      std::function<void(CreateOutcome)> done) = 0;
  // PROCESSING -> COMPLETED with `result`. If the result does not fit in max_bytes, the job ends
  // FAILED("result-too-large") instead. No effect on a job that already ended or expired.
  virtual void complete(TimePoint now, const std::string& id, JobResult result) = 0;
  // PROCESSING -> FAILED(reason). No effect on a job that already ended or expired.
  virtual void fail(TimePoint now, const std::string& id, std::string reason) = 0;
  // The job, or nullopt (with Ok) when unknown or expired.
  virtual void get(TimePoint now, const std::string& id,
                   std::function<void(StoreStatus, std::optional<JobView>)> done) = 0;
  // PROCESSING -> FAILED("cancelled"); true (with Ok) when the job existed and was PROCESSING.
  // The caller aborts the upstream call (the store does not know where it runs).
  virtual void cancel(TimePoint now, const std::string& id,
                      std::function<void(StoreStatus, bool)> done) = 0;

  // Networked backends: each thread that uses the store (every worker, and the main thread)
  // calls attachThread() with its event loop before its first call, and detachThread() before
  // that loop goes away; a call from a thread that did not attach answers Unavailable.
  virtual void attachThread(event_base* /*base*/) {}
  virtual void detachThread() {}
  // Networked backends: cancels made by other replicas sharing the store; `hook(id)` runs on
  // `base`'s thread (the main thread) so the replica running the job can abort its upstream call.
  virtual void listenForRemoteCancels(event_base* /*base*/,
                                      std::function<void(const std::string& id)> /*hook*/) {}
  virtual void stopListening() {}

  // Drops the jobs expired at `now` (memory backend; a networked one relies on its own TTLs).
  // Returns how many. Called from a periodic timer on the main thread.
  virtual size_t expire(TimePoint /*now*/) { return 0; }

  // Gauges for metrics (approximate for networked backends).
  virtual size_t jobs(JobState state) const = 0;
  virtual size_t bytes() const = 0;
  // Counters for seawall_async_jobs_total{outcome}: accepted (created), rejected (store full),
  // completed, failed (cancelled ones included), result_too_large (also counted in failed),
  // expired (jobs dropped at retention, whatever their state).
  struct Counters {
    uint64_t accepted = 0;
    uint64_t rejected = 0;
    uint64_t completed = 0;
    uint64_t failed = 0;
    uint64_t result_too_large = 0;
    uint64_t expired = 0;
  };
  virtual Counters counters() const = 0;
};

// "9f86d081884c7d659a2feaa0c55ad015": 32 lowercase hex digits from two 64-bit random draws.
std::string makeJobId(uint64_t high, uint64_t low);
// makeJobId over 128 bits from getrandom(2) (the kernel's CSPRNG).
std::string makeSecureJobId();
// True for a string makeJobId could have produced.
bool isJobId(std::string_view id);

} // namespace seawall::filters::async_202
