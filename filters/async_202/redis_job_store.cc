#include "filters/async_202/redis_job_store.h"

#include <charconv>
#include <utility>

#include "filters/async_202/memory_job_store.h"
#include "proxy/common/log.h"

#include <hiredis/hiredis.h>

namespace seawall::filters::async_202 {
namespace {

using std::chrono::milliseconds;

// A complete()/fail() for a job this process did not create is kept this long while Redis is away.
constexpr milliseconds kUnknownJobKeep{10 * 60 * 1000};
constexpr auto kRelaxed = std::memory_order_relaxed;

// The per-thread slots: store serial -> this thread's connection (owned by the store).
thread_local std::unordered_map<uint64_t, RedisConnection*> t_connections;
std::atomic<uint64_t> g_next_serial{1};

// Fields read by get(), in HMGET order.
constexpr std::array<const char*, 10> kViewFields = {
    "state", "reason", "created_ms", "expires_ms", "method",
    "path",  "status", "headers",    "body",       "trailers"};

std::string msText(JobStore::TimePoint t) {
  return std::to_string(std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count());
}

std::string_view text(const redisReply* r) {
  return r == nullptr || r->str == nullptr ? std::string_view{} : std::string_view(r->str, r->len);
}

int64_t number(const redisReply* r) {
  int64_t n = 0;
  const std::string_view s = text(r);
  std::from_chars(s.data(), s.data() + s.size(), n);
  return n;
}

JobStore::TimePoint fromMs(int64_t ms) { return JobStore::TimePoint{} + milliseconds(ms); }

// An array reply of `n` elements; logs an error reply.
bool arrayOf(const redisReply* r, size_t n, std::string_view what) {
  if (r != nullptr && r->type == REDIS_REPLY_ERROR) {
    proxy::logWarn("[redis-store] " + std::string(what) + ": " + std::string(text(r)));
  }
  return r != nullptr && r->type == REDIS_REPLY_ARRAY && r->elements == n;
}

std::optional<JobState> stateFrom(std::string_view s) {
  for (const JobState state : {JobState::Processing, JobState::Completed, JobState::Failed}) {
    if (toString(state) == s) {
      return state;
    }
  }
  return std::nullopt;
}

// The job in a get() reply, or nullopt when absent, expired at `now`, or unreadable.
std::optional<JobView> viewFrom(const redisReply* r, const std::string& id,
                                JobStore::TimePoint now) {
  const auto state = stateFrom(text(r->element[0]));
  const auto expires = fromMs(number(r->element[3]));
  if (!state || expires <= now) {
    return std::nullopt;
  }
  JobView view{id,
               *state,
               std::string(text(r->element[1])),
               fromMs(number(r->element[2])),
               expires,
               std::string(text(r->element[4])),
               std::string(text(r->element[5])),
               nullptr};
  if (*state == JobState::Completed) {
    auto headers = decodeFields(text(r->element[7]));
    auto trailers = decodeFields(text(r->element[9]));
    if (!headers || !trailers) {
      proxy::logWarn("[redis-store] job " + id + ": unreadable result");
      return std::nullopt;
    }
    view.result = std::make_shared<const JobResult>(
        JobResult{static_cast<int>(number(r->element[6])), std::move(*headers),
                  std::string(text(r->element[8])), std::move(*trailers)});
  }
  return view;
}

} // namespace

RedisJobStore::RedisJobStore(RedisStoreOptions options)
    : options_(std::move(options)), serial_(g_next_serial.fetch_add(1)), origin_(makeSecureJobId()),
      job_prefix_(options_.key_prefix + "job:"), channel_(options_.key_prefix + "cancel") {
  const std::string& p = options_.key_prefix;
  keys_ = {
      "",         p + "jobs:processing", p + "jobs:completed", p + "jobs:failed", p + "job_bytes",
      p + "bytes"};
}

RedisJobStore::~RedisJobStore() {
  t_connections.erase(serial_);
  if (!connections_.empty() || subscriber_) {
    proxy::logWarn("[redis-store] destroyed with threads still attached");
  }
}

RedisConnection::Options RedisJobStore::connectionOptions(const std::string& name) {
  RedisConnection::Options o;
  o.host = options_.host;
  o.port = options_.port;
  o.command_timeout = options_.command_timeout;
  o.replay_limit_bytes = options_.limits.max_bytes;
  o.name = name;
  o.on_write_dropped = [this] { counters_.writes_dropped.fetch_add(1, kRelaxed); };
  o.on_write_queued = [this] { counters_.writes_queued.fetch_add(1, kRelaxed); };
  return o;
}

void RedisJobStore::attach(event_base* base) {
  RedisConnection::Options o = connectionOptions("redis-store");
  o.scripts = {&createScript(), &completeScript(), &failScript(), &sweepScript()};
  auto connection = std::make_unique<RedisConnection>(base, std::move(o));
  t_connections[serial_] = connection.get();
  std::unique_ptr<RedisConnection> previous;
  {
    const std::lock_guard lock(mutex_);
    previous = std::exchange(connections_[std::this_thread::get_id()], std::move(connection));
  }
}

void RedisJobStore::detach() {
  t_connections.erase(serial_);
  std::unique_ptr<RedisConnection> connection;
  {
    const std::lock_guard lock(mutex_);
    const auto it = connections_.find(std::this_thread::get_id());
    if (it == connections_.end()) {
      return;
    }
    connection = std::move(it->second);
    connections_.erase(it);
  }
  connection.reset(); // outside the lock: callbacks may call the store
}

void RedisJobStore::attachSubscriber(event_base* base) {
  RedisConnection::Options o = connectionOptions("redis-subscriber");
  o.on_connected = [this](RedisConnection& c) {
    c.subscribe(channel_, [this](std::string_view message) { onCancelMessage(message); });
  };
  auto subscriber = std::make_unique<RedisConnection>(base, std::move(o));
  const std::lock_guard lock(mutex_);
  subscriber_ = std::move(subscriber);
}

void RedisJobStore::detachSubscriber() {
  std::unique_ptr<RedisConnection> subscriber;
  {
    const std::lock_guard lock(mutex_);
    subscriber = std::move(subscriber_);
  }
}

void RedisJobStore::onRemoteCancel(std::function<void(const std::string& id)> hook) {
  remote_cancel_ = std::move(hook);
}

void RedisJobStore::onCancelMessage(std::string_view message) {
  const size_t space = message.find(' ');
  if (space == std::string_view::npos || message.substr(0, space) == origin_) {
    return; // malformed, or our own cancel (the caller aborted its call already)
  }
  const std::string id(message.substr(space + 1));
  if (isJobId(id) && remote_cancel_) {
    remote_cancel_(id);
  }
}

RedisConnection* RedisJobStore::connection() const {
  const auto it = t_connections.find(serial_);
  return it == t_connections.end() ? nullptr : it->second;
}

bool RedisJobStore::connectedHere() const {
  const RedisConnection* c = connection();
  return c != nullptr && c->connected();
}

std::vector<std::string> RedisJobStore::scriptArgs(const std::string& id) const {
  return {std::to_string(kScriptKeys),
          job_prefix_ + id,
          keys_[1],
          keys_[2],
          keys_[3],
          keys_[4],
          keys_[5]};
}

std::string RedisJobStore::nextToken() {
  return origin_ + ":" + std::to_string(next_write_.fetch_add(1, kRelaxed));
}

void RedisJobStore::countSwept(long long swept) {
  if (swept > 0) {
    counters_.expired.fetch_add(static_cast<uint64_t>(swept), kRelaxed);
    swept_since_expire_.fetch_add(static_cast<uint64_t>(swept), kRelaxed);
  }
}

void RedisJobStore::rememberExpiry(const std::string& id, TimePoint expires) {
  const std::lock_guard lock(mutex_);
  expiries_[id] = expires;
}

RedisJobStore::TimePoint RedisJobStore::expiryOf(const std::string& id, TimePoint now) {
  const std::lock_guard lock(mutex_);
  const auto it = expiries_.find(id);
  return it == expiries_.end() ? now + kUnknownJobKeep : it->second;
}

void RedisJobStore::create(TimePoint now, const std::string& id, milliseconds retention,
                           std::string method, std::string path,
                           std::function<void(CreateOutcome)> done) {
  RedisConnection* c = connection();
  if (c == nullptr || !c->up()) {
    counters_.unavailable.fetch_add(1, kRelaxed);
    if (done) {
      done(CreateOutcome::Unavailable);
    }
    return;
  }
  const size_t job_bytes = MemoryJobStore::jobBytes(id, method, path);
  const TimePoint expires = now + retention;
  RedisCommand command;
  command.script = &createScript();
  command.args = scriptArgs(id);
  for (std::string arg :
       {msText(now), id, msText(now), msText(expires), std::move(method), std::move(path),
        std::to_string(job_bytes), std::to_string(options_.limits.max_jobs),
        std::to_string(options_.limits.max_bytes)}) {
    command.args.push_back(std::move(arg));
  }
  command.on_reply = [this, id, expires, done = std::move(done)](const redisReply* r) {
    CreateOutcome outcome = CreateOutcome::Unavailable;
    const bool answered = arrayOf(r, 2, "create");
    if (answered) {
      countSwept(r->element[1]->integer);
    }
    if (!answered) {
      counters_.unavailable.fetch_add(1, kRelaxed);
    } else if (r->element[0]->integer == 1) {
      counters_.accepted.fetch_add(1, kRelaxed);
      rememberExpiry(id, expires);
      outcome = CreateOutcome::Created;
    } else {
      counters_.rejected.fetch_add(1, kRelaxed);
      outcome = CreateOutcome::Full;
    }
    if (done) {
      done(outcome);
    }
  };
  c->send(std::move(command));
}

void RedisJobStore::complete(TimePoint now, const std::string& id, JobResult result) {
  RedisConnection* c = connection();
  if (c == nullptr) {
    counters_.writes_dropped.fetch_add(1, kRelaxed);
    proxy::logWarn("[redis-store] complete() on a thread not attached: job " + id + " lost");
    return;
  }
  const size_t result_bytes = result.bytes();
  RedisCommand command;
  command.script = &completeScript();
  command.args = scriptArgs(id);
  command.durable = true;
  command.keep_until = expiryOf(id, now);
  for (std::string arg :
       {msText(now), id, std::to_string(result.status), encodeFields(result.headers),
        std::move(result.body), encodeFields(result.trailers), std::to_string(result_bytes),
        std::to_string(options_.limits.max_bytes), nextToken()}) {
    command.args.push_back(std::move(arg));
  }
  command.on_reply = [this, id](const redisReply* r) {
    if (r == nullptr || r->type != REDIS_REPLY_INTEGER) {
      return; // dropped: counted by the connection
    }
    if (r->integer == 1) {
      counters_.completed.fetch_add(1, kRelaxed);
    } else if (r->integer == 2) {
      counters_.failed.fetch_add(1, kRelaxed);
      counters_.result_too_large.fetch_add(1, kRelaxed);
    }
    const std::lock_guard lock(mutex_);
    expiries_.erase(id);
  };
  c->send(std::move(command));
}

void RedisJobStore::fail(TimePoint now, const std::string& id, std::string reason) {
  RedisConnection* c = connection();
  if (c == nullptr) {
    counters_.writes_dropped.fetch_add(1, kRelaxed);
    proxy::logWarn("[redis-store] fail() on a thread not attached: job " + id + " lost");
    return;
  }
  finish(now, id, std::move(reason), false, nullptr);
}

void RedisJobStore::cancel(TimePoint now, const std::string& id,
                           std::function<void(StoreStatus, bool)> done) {
  const RedisConnection* c = connection();
  if (c == nullptr || !c->up()) {
    counters_.unavailable.fetch_add(1, kRelaxed);
    if (done) {
      done(StoreStatus::Unavailable, false);
    }
    return;
  }
  finish(now, id, "cancelled", true, std::move(done));
}

// fail() (durable, no answer) and cancel() (answered, published).
void RedisJobStore::finish(TimePoint now, const std::string& id, std::string reason, bool publish,
                           std::function<void(StoreStatus, bool)> done) {
  const bool too_large = reason == kResultTooLarge;
  RedisCommand command;
  command.script = &failScript();
  command.args = scriptArgs(id);
  command.durable = !publish;
  command.keep_until = expiryOf(id, now);
  for (std::string arg :
       {msText(now), id, std::move(reason), publish ? channel_ : std::string(),
        publish ? origin_ + " " + id : std::string(), publish ? std::string() : nextToken()}) {
    command.args.push_back(std::move(arg));
  }
  command.on_reply = [this, id, publish, too_large, done = std::move(done)](const redisReply* r) {
    const bool ok = r != nullptr && r->type == REDIS_REPLY_INTEGER;
    if (ok && r->integer == 1) {
      counters_.failed.fetch_add(1, kRelaxed);
      if (too_large) {
        counters_.result_too_large.fetch_add(1, kRelaxed);
      }
    }
    if (ok) {
      const std::lock_guard lock(mutex_);
      expiries_.erase(id);
    } else if (publish) {
      counters_.unavailable.fetch_add(1, kRelaxed);
    }
    if (done) {
      done(ok ? StoreStatus::Ok : StoreStatus::Unavailable, ok && r->integer == 1);
    }
  };
  connection()->send(std::move(command));
}

void RedisJobStore::get(TimePoint now, const std::string& id,
                        std::function<void(StoreStatus, std::optional<JobView>)> done) {
  RedisConnection* c = connection();
  if (c == nullptr || !c->up()) {
    counters_.unavailable.fetch_add(1, kRelaxed);
    if (done) {
      done(StoreStatus::Unavailable, std::nullopt);
    }
    return;
  }
  RedisCommand command;
  command.args = {"HMGET", job_prefix_ + id};
  command.args.insert(command.args.end(), kViewFields.begin(), kViewFields.end());
  command.on_reply = [this, id, now, done = std::move(done)](const redisReply* r) {
    if (!arrayOf(r, kViewFields.size(), "get")) {
      counters_.unavailable.fetch_add(1, kRelaxed);
      if (done) {
        done(StoreStatus::Unavailable, std::nullopt);
      }
      return;
    }
    if (done) {
      done(StoreStatus::Ok, viewFrom(r, id, now));
    }
  };
  c->send(std::move(command));
}

size_t RedisJobStore::expire(TimePoint now) {
  {
    const std::lock_guard lock(mutex_);
    std::erase_if(expiries_, [now](const auto& entry) { return entry.second <= now; });
  }
  RedisConnection* c = connection();
  if (c != nullptr && c->up()) {
    RedisCommand command;
    command.script = &sweepScript();
    command.args = scriptArgs("");
    command.args.push_back(msText(now));
    command.on_reply = [this](const redisReply* r) {
      if (!arrayOf(r, 5, "sweep")) {
        return;
      }
      countSwept(r->element[0]->integer);
      for (size_t i = 0; i < jobs_.size(); ++i) {
        jobs_[i].store(static_cast<size_t>(r->element[i + 1]->integer), kRelaxed);
      }
      bytes_.store(static_cast<size_t>(std::max<long long>(0, r->element[4]->integer)), kRelaxed);
    };
    c->send(std::move(command));
  }
  return swept_since_expire_.exchange(0, kRelaxed);
}

size_t RedisJobStore::jobs(JobState state) const {
  return jobs_[static_cast<size_t>(state)].load(kRelaxed);
}

size_t RedisJobStore::bytes() const { return bytes_.load(kRelaxed); }

RedisJobStore::Counters RedisJobStore::counters() const {
  Counters c;
  c.accepted = counters_.accepted.load(kRelaxed);
  c.rejected = counters_.rejected.load(kRelaxed);
  c.completed = counters_.completed.load(kRelaxed);
  c.failed = counters_.failed.load(kRelaxed);
  c.result_too_large = counters_.result_too_large.load(kRelaxed);
  c.expired = counters_.expired.load(kRelaxed);
  return c;
}

RedisJobStore::RedisCounters RedisJobStore::redisCounters() const {
  RedisCounters c;
  c.unavailable = counters_.unavailable.load(kRelaxed);
  c.writes_queued = counters_.writes_queued.load(kRelaxed);
  c.writes_dropped = counters_.writes_dropped.load(kRelaxed);
  return c;
}

} // namespace seawall::filters::async_202
