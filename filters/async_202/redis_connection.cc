#include "filters/async_202/redis_connection.h"

#include <algorithm>
#include <string>
#include <utility>

#include "proxy/common/log.h"

#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

namespace seawall::filters::async_202 {
namespace {

constexpr size_t kCommandOverheadBytes = 64;

std::string_view replyText(const redisReply* reply) {
  return reply->str == nullptr ? std::string_view{} : std::string_view(reply->str, reply->len);
}

} // namespace

size_t RedisCommand::bytes() const {
  size_t total = kCommandOverheadBytes;
  for (const auto& arg : args) {
    total += arg.size();
  }
  return total;
}

RedisConnection::RedisConnection(event_base* base, Options options)
    : base_(base), options_(std::move(options)), backoff_(options_.backoff_min),
      shas_(options_.scripts.size()), reconnect_timer_(base, [this] { connect(); }),
      timeout_timer_(base, [this] { checkTimeout(); }),
      replay_timer_(base, [this] { flushReplay(); }) {
  for (const RedisScript* script : options_.scripts) {
    sources_.push_back(script->source());
  }
  connect();
}

RedisConnection::~RedisConnection() {
  closing_ = true;
  // Answered here rather than by hiredis: if this runs inside one of the context's callbacks,
  // hiredis frees the context only after that callback returns, when `this` is gone. From now on
  // the trampolines see no owner and do nothing.
  std::deque<std::unique_ptr<Pending>> pending;
  pending.swap(pending_);
  if (ac_ != nullptr) {
    redisAsyncContext* ac = ac_;
    ac_ = nullptr;
    state_ = State::Down;
    ac->data = nullptr;
    redisAsyncFree(ac);
  }
  for (auto& p : pending) {
    unavailable(std::move(p->command));
  }
  std::deque<RedisCommand> left;
  left.swap(replay_);
  for (auto& command : left) {
    unavailable(std::move(command));
  }
}

void RedisConnection::connect() {
  if (closing_ || state_ != State::Down) {
    return;
  }
  redisAsyncContext* ac = redisAsyncConnect(options_.host.c_str(), options_.port);
  if (ac == nullptr) {
    markDown("cannot allocate a context");
    return;
  }
  if (ac->err != 0) {
    const std::string why = ac->errstr;
    redisAsyncFree(ac);
    markDown(why);
    return;
  }
  ac->data = this;
  redisAsyncSetConnectCallback(ac, &RedisConnection::connectTrampoline);
  redisAsyncSetDisconnectCallback(ac, &RedisConnection::disconnectTrampoline);
  if (redisLibeventAttach(ac, base_) != REDIS_OK) {
    redisAsyncFree(ac);
    markDown("cannot attach to the event loop");
    return;
  }
  ac_ = ac;
  state_ = State::Connecting;
  loadScripts(); // pipelined: sent once connected, before anything else
}

void RedisConnection::loadScripts() {
  for (size_t i = 0; i < options_.scripts.size(); ++i) {
    RedisCommand load;
    load.args = {"SCRIPT", "LOAD", sources_[i]};
    load.on_reply = [this, i](const redisReply* reply) {
      if (reply != nullptr && reply->type == REDIS_REPLY_STRING) {
        shas_[i] = std::string(replyText(reply));
      }
    };
    issue(std::make_unique<Pending>(Pending{std::move(load), Clock::now()}));
  }
}

void RedisConnection::markDown(std::string_view why) {
  ac_ = nullptr;
  if (closing_ || state_ == State::Down) {
    return;
  }
  state_ = State::Down;
  std::fill(shas_.begin(), shas_.end(), std::string());
  if (!down_logged_) {
    down_logged_ = true;
    proxy::logWarn("[" + options_.name + "] " + options_.host + ":" +
                   std::to_string(options_.port) + " unreachable (" + std::string(why) +
                   "): commands answer unavailable, reconnecting with backoff");
  }
  scheduleReconnect();
}

void RedisConnection::killConnection(std::string_view why) {
  redisAsyncContext* ac = ac_;
  markDown(why);
  if (ac != nullptr) {
    redisAsyncFree(ac); // pending commands are answered (or queued) now
  }
}

void RedisConnection::scheduleReconnect() {
  if (closing_ || reconnect_timer_.enabled()) {
    return;
  }
  reconnect_timer_.enable(backoff_);
  backoff_ = std::min(backoff_ * 2, options_.backoff_max);
}

void RedisConnection::send(RedisCommand command) {
  if (state_ == State::Down || ac_ == nullptr) {
    unavailable(std::move(command));
    return;
  }
  issue(std::make_unique<Pending>(Pending{std::move(command), Clock::now()}));
}

void RedisConnection::issue(std::unique_ptr<Pending> pending) {
  if (ac_ == nullptr) {
    unavailable(std::move(pending->command));
    return;
  }
  const RedisCommand& command = pending->command;
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(command.args.size() + 2);
  lens.reserve(command.args.size() + 2);
  if (command.script != nullptr) {
    const auto it = std::find(options_.scripts.begin(), options_.scripts.end(), command.script);
    if (it == options_.scripts.end()) { // not in Options::scripts: a bug of the caller
      proxy::logError("[" + options_.name + "] unknown script " +
                      std::string(command.script->name));
      unavailable(std::move(pending->command));
      return;
    }
    const auto index = static_cast<size_t>(it - options_.scripts.begin());
    const std::string& sha = shas_[index];
    const bool cached = !sha.empty();
    const std::string& first = cached ? sha : sources_[index];
    argv.push_back(cached ? "EVALSHA" : "EVAL");
    lens.push_back(cached ? 7 : 4);
    argv.push_back(first.data());
    lens.push_back(first.size());
  }
  for (const auto& arg : command.args) {
    argv.push_back(arg.data());
    lens.push_back(arg.size());
  }
  Pending* key = pending.get();
  if (redisAsyncCommandArgv(ac_, &RedisConnection::replyTrampoline, key,
                            static_cast<int>(argv.size()), argv.data(), lens.data()) != REDIS_OK) {
    unavailable(std::move(pending->command));
    return;
  }
  pending->sent = Clock::now();
  pending_.push_back(std::move(pending));
  if (!timeout_timer_.enabled()) {
    timeout_timer_.enable(options_.command_timeout);
  }
}

void RedisConnection::unavailable(RedisCommand command) {
  if (command.durable && !closing_) {
    queueDurable(std::move(command));
    return;
  }
  if (command.durable && options_.on_write_dropped) {
    options_.on_write_dropped();
  }
  if (command.on_reply) {
    command.on_reply(nullptr);
  }
}

void RedisConnection::queueDurable(RedisCommand command) {
  const size_t bytes = command.bytes();
  const bool expired = command.keep_until <= std::chrono::system_clock::now();
  if (expired || replay_bytes_ + bytes > options_.replay_limit_bytes) {
    proxy::logWarn("[" + options_.name + "] dropped a write kept for Redis (" +
                   (expired ? "its job expired" : "replay queue full") + ")");
    if (options_.on_write_dropped) {
      options_.on_write_dropped();
    }
    if (command.on_reply) {
      command.on_reply(nullptr);
    }
    return;
  }
  replay_bytes_ += bytes;
  replay_.push_back(std::move(command));
  if (options_.on_write_queued) {
    options_.on_write_queued();
  }
}

void RedisConnection::flushReplay() {
  std::deque<RedisCommand> queued;
  queued.swap(replay_);
  replay_bytes_ = 0;
  for (auto& command : queued) {
    if (command.keep_until <= std::chrono::system_clock::now()) {
      queueDurable(std::move(command)); // drops and counts it
    } else {
      send(std::move(command)); // queued again if the connection went down meanwhile
    }
  }
}

void RedisConnection::checkTimeout() {
  if (pending_.empty()) {
    return;
  }
  const auto age = Clock::now() - pending_.front()->sent;
  if (age >= options_.command_timeout) {
    killConnection("no reply within " + std::to_string(options_.command_timeout.count()) + "ms");
    return;
  }
  timeout_timer_.enable(
      std::chrono::duration_cast<std::chrono::microseconds>(options_.command_timeout - age));
}

std::unique_ptr<RedisConnection::Pending> RedisConnection::takePending(const void* privdata) {
  // Replies come in order: the front, except after a reply we gave up on.
  const auto it = std::find_if(pending_.begin(), pending_.end(),
                               [privdata](const auto& p) { return p.get() == privdata; });
  if (it == pending_.end()) {
    return nullptr;
  }
  std::unique_ptr<Pending> pending = std::move(*it);
  pending_.erase(it);
  return pending;
}

void RedisConnection::onReply(const redisReply* reply, const void* privdata) {
  std::unique_ptr<Pending> pending = takePending(privdata);
  if (pending == nullptr) {
    return;
  }
  RedisCommand& command = pending->command;
  if (reply == nullptr) {
    markDown("connection lost");
    unavailable(std::move(command));
    return;
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    const std::string_view error = replyText(reply);
    if (command.script != nullptr && error.starts_with("NOSCRIPT")) {
      std::fill(shas_.begin(), shas_.end(), std::string()); // EVAL from now on
      issue(std::move(pending));
      return;
    }
    if (command.durable && !closing_) {
      proxy::logWarn("[" + options_.name + "] write refused (" + std::string(error) +
                     "): kept, retried in 1s");
      queueDurable(std::move(command));
      if (!replay_timer_.enabled()) {
        replay_timer_.enable(std::chrono::seconds(1));
      }
      return;
    }
  }
  if (command.on_reply) {
    command.on_reply(reply);
  }
}

bool RedisConnection::subscribe(const std::string& channel,
                                std::function<void(std::string_view)> on_message) {
  if (ac_ == nullptr) {
    return false;
  }
  on_message_ = std::move(on_message);
  return redisAsyncCommand(ac_, &RedisConnection::messageTrampoline, nullptr, "SUBSCRIBE %b",
                           channel.data(), channel.size()) == REDIS_OK;
}

void RedisConnection::replyTrampoline(redisAsyncContext* ac, void* reply, void* privdata) noexcept {
  if (auto* self = static_cast<RedisConnection*>(ac->data)) {
    self->onReply(static_cast<const redisReply*>(reply), privdata);
  }
}

void RedisConnection::messageTrampoline(redisAsyncContext* ac, void* reply,
                                        void* /*privdata*/) noexcept {
  auto* self = static_cast<RedisConnection*>(ac->data);
  const auto* r = static_cast<const redisReply*>(reply);
  if (self == nullptr) {
    return;
  }
  if (r == nullptr) {
    self->markDown("subscription lost");
    return;
  }
  if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 && replyText(r->element[0]) == "message" &&
      self->on_message_) {
    self->on_message_(replyText(r->element[2]));
  }
}

void RedisConnection::connectTrampoline(const redisAsyncContext* ac, int status) noexcept {
  auto* self = static_cast<RedisConnection*>(ac->data);
  if (self == nullptr) {
    return;
  }
  if (status != REDIS_OK) {
    self->markDown(ac->errstr); // hiredis frees the context after this returns
    return;
  }
  self->state_ = State::Connected;
  self->backoff_ = self->options_.backoff_min;
  if (self->down_logged_) {
    self->down_logged_ = false;
    proxy::logInfo("[" + self->options_.name + "] connected again to " + self->options_.host + ":" +
                   std::to_string(self->options_.port));
  }
  if (self->options_.on_connected) {
    self->options_.on_connected(*self);
  }
  self->flushReplay();
}

void RedisConnection::disconnectTrampoline(const redisAsyncContext* ac, int status) noexcept {
  auto* self = static_cast<RedisConnection*>(ac->data);
  if (self == nullptr) {
    return;
  }
  self->markDown(status == REDIS_OK ? "disconnected" : ac->errstr);
}

} // namespace seawall::filters::async_202
