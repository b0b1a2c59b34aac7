#include "filters/async_202/memory_job_store.h"

#include <utility>

namespace seawall::filters::async_202 {
namespace {

size_t stateIndex(JobState state) { return static_cast<size_t>(state); }

} // namespace

MemoryJobStore::MemoryJobStore(JobStoreLimits limits) : limits_(limits) {}

size_t MemoryJobStore::jobBytes(std::string_view id, std::string_view method,
                                std::string_view path) {
  return kJobOverheadBytes + id.size() + method.size() + path.size();
}

void MemoryJobStore::drop(Jobs::iterator it, Freed& freed) {
  Job& job = it->second;
  if (job.result) {
    freed.push_back(std::move(job.result));
  }
  expiry_.erase(job.expiry_pos);
  bytes_ -= job.bytes;
  --by_state_[stateIndex(job.state)];
  ++counters_.expired;
  jobs_.erase(it);
}

size_t MemoryJobStore::expireLocked(TimePoint now, Freed& freed) {
  size_t dropped = 0;
  while (!expiry_.empty() && expiry_.begin()->first <= now) {
    drop(jobs_.find(*expiry_.begin()->second), freed);
    ++dropped;
  }
  return dropped;
}

MemoryJobStore::Job* MemoryJobStore::findLive(TimePoint now, const std::string& id, Freed& freed) {
  const auto it = jobs_.find(id);
  if (it == jobs_.end()) {
    return nullptr;
  }
  if (it->second.expires <= now) {
    drop(it, freed);
    return nullptr;
  }
  return &it->second;
}

void MemoryJobStore::finish(Job& job, JobState state, std::string reason) {
  --by_state_[stateIndex(job.state)];
  ++by_state_[stateIndex(state)];
  job.state = state;
  job.failure_reason = std::move(reason);
  if (state == JobState::Completed) {
    ++counters_.completed;
  } else {
    ++counters_.failed;
  }
}

void MemoryJobStore::create(TimePoint now, const std::string& id,
                            std::chrono::milliseconds retention, std::string method,
                            std::string path, std::function<void(CreateOutcome)> done) {
  const size_t job_bytes = jobBytes(id, method, path);
  CreateOutcome outcome = CreateOutcome::Full;
  Freed freed;
  {
    const std::lock_guard lock(mutex_);
    expireLocked(now, freed);
    const bool fits = jobs_.size() < limits_.max_jobs && job_bytes <= limits_.max_bytes &&
                      bytes_ <= limits_.max_bytes - job_bytes;
    if (!fits || jobs_.find(id) != jobs_.end()) {
      ++counters_.rejected;
    } else {
      const auto [it, inserted] = jobs_.try_emplace(id);
      Job& job = it->second;
      job.created = now;
      job.expires = now + retention;
      job.method = std::move(method);
      job.path = std::move(path);
      job.bytes = job_bytes;
      job.expiry_pos = expiry_.emplace(job.expires, &it->first);
      bytes_ += job_bytes;
      ++by_state_[stateIndex(JobState::Processing)];
      ++counters_.accepted;
      outcome = CreateOutcome::Created;
    }
  }
  if (done) {
    done(outcome);
  }
}

void MemoryJobStore::complete(TimePoint now, const std::string& id, JobResult result) {
  // Built before taking the lock; a refused result is freed after releasing it.
  const size_t result_bytes = result.bytes();
  auto shared = std::make_shared<const JobResult>(std::move(result));
  Freed freed;
  const std::lock_guard lock(mutex_);
  Job* job = findLive(now, id, freed);
  if (job == nullptr || job->state != JobState::Processing) {
    return;
  }
  if (result_bytes > limits_.max_bytes - bytes_) {
    ++counters_.result_too_large;
    finish(*job, JobState::Failed, std::string(kResultTooLarge));
    return;
  }
  job->result = std::move(shared);
  job->bytes += result_bytes;
  bytes_ += result_bytes;
  finish(*job, JobState::Completed, "");
}

void MemoryJobStore::fail(TimePoint now, const std::string& id, std::string reason) {
  Freed freed;
  const std::lock_guard lock(mutex_);
  Job* job = findLive(now, id, freed);
  if (job != nullptr && job->state == JobState::Processing) {
    if (reason == kResultTooLarge) { // the filter's own bound (max_result_bytes)
      ++counters_.result_too_large;
    }
    finish(*job, JobState::Failed, std::move(reason));
  }
}

void MemoryJobStore::get(TimePoint now, const std::string& id,
                         std::function<void(StoreStatus, std::optional<JobView>)> done) {
  std::optional<JobView> view;
  Freed freed;
  {
    const std::lock_guard lock(mutex_);
    if (const Job* job = findLive(now, id, freed)) {
      view = JobView{id,           job->state,  job->failure_reason, job->created,
                     job->expires, job->method, job->path,           job->result};
    }
  }
  if (done) {
    done(StoreStatus::Ok, std::move(view));
  }
}

void MemoryJobStore::cancel(TimePoint now, const std::string& id,
                            std::function<void(StoreStatus, bool)> done) {
  bool cancelled = false;
  Freed freed;
  {
    const std::lock_guard lock(mutex_);
    Job* job = findLive(now, id, freed);
    if (job != nullptr && job->state == JobState::Processing) {
      finish(*job, JobState::Failed, "cancelled");
      cancelled = true;
    }
  }
  if (done) {
    done(StoreStatus::Ok, cancelled);
  }
}

size_t MemoryJobStore::expire(TimePoint now) {
  Freed freed;
  const std::lock_guard lock(mutex_);
  return expireLocked(now, freed);
}

size_t MemoryJobStore::jobs(JobState state) const {
  const std::lock_guard lock(mutex_);
  return by_state_[stateIndex(state)];
}

size_t MemoryJobStore::bytes() const {
  const std::lock_guard lock(mutex_);
  return bytes_;
}

MemoryJobStore::Counters MemoryJobStore::counters() const {
  const std::lock_guard lock(mutex_);
  return counters_;
}

size_t MemoryJobStore::size() const {
  const std::lock_guard lock(mutex_);
  return jobs_.size();
}

} // namespace seawall::filters::async_202
