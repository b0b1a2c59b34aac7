// One hiredis asynchronous connection on one event_base (one thread): connect, reconnect with
// backoff, a command timeout of our own (hiredis 0.14 has none), Lua scripts by EVALSHA, and a
// bounded queue of writes that must not be lost, replayed once Redis answers again.
//
// States: Connecting (commands are buffered by hiredis and sent once connected), Connected, Down
// (waiting for the reconnect timer: commands answer at once). Every command's handler is called
// exactly once: with the reply, or with nullptr when Redis could not answer (not connected,
// disconnected, timed out, refused by hiredis). A durable command is never answered nullptr
// while the connection lives: it is queued instead and replayed after reconnecting, until its
// keep_until passes (then dropped, counted, and answered nullptr).
//
// Threads: everything runs on the thread that owns the event_base, including the destructor.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/common/timer.h"

struct event_base;
struct redisAsyncContext;
struct redisReply;

namespace seawall::filters::async_202 {

// A Lua script run with EVALSHA (its SHA1 learnt from SCRIPT LOAD at connect), or EVAL until then
// and after a NOSCRIPT error.
struct RedisScript {
  std::string_view name;    // for logs
  std::string_view prelude; // helper functions shared by several scripts
  std::string_view body;
  std::string source() const { return std::string(prelude) + std::string(body); }
};

struct RedisCommand {
  // With `script`: numkeys, keys, then arguments (what follows the script in EVAL). Without: the
  // whole command, name first.
  const RedisScript* script = nullptr;
  std::vector<std::string> args;
  std::function<void(const redisReply*)> on_reply;  // nullptr: Redis could not answer
  bool durable = false;                             // kept and replayed while Redis is away
  std::chrono::system_clock::time_point keep_until; // durable: given up after this
  size_t bytes() const;
};

class RedisConnection {
public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    std::string host = "127.0.0.1";
    uint16_t port = 6379;
    std::chrono::milliseconds command_timeout{2000};
    std::chrono::milliseconds backoff_min{100};
    std::chrono::milliseconds backoff_max{5000};
    size_t replay_limit_bytes = size_t{64} * 1024 * 1024; // durable commands queued at most
    std::vector<const RedisScript*> scripts;              // loaded at each connect
    std::string name = "redis";                           // for logs
    // Called on this thread when a durable command is given up (retention passed or queue full).
    std::function<void()> on_write_dropped;
    // Called on this thread when a durable command is queued for replay.
    std::function<void()> on_write_queued;
    // Called after each successful connect (the subscriber subscribes here).
    std::function<void(RedisConnection&)> on_connected;
  };

  RedisConnection(event_base* base, Options options);
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;
  RedisConnection(RedisConnection&&) = delete;
  RedisConnection& operator=(RedisConnection&&) = delete;
  // Frees the hiredis context: pending commands, durable ones too, are answered nullptr.
  ~RedisConnection();

  void send(RedisCommand command);
  // SUBSCRIBE `channel`; `on_message(payload)` for each message, until the connection drops (the
  // on_connected hook subscribes again). No timeout applies.
  bool subscribe(const std::string& channel, std::function<void(std::string_view)> on_message);

  bool up() const { return state_ != State::Down; }
  bool connected() const { return state_ == State::Connected; }
  size_t pending() const { return pending_.size(); }
  size_t queuedWrites() const { return replay_.size(); }

private:
  enum class State { Down, Connecting, Connected };
  struct Pending {
    RedisCommand command;
    Clock::time_point sent;
  };

  void connect();
  // The context is gone or going (hiredis frees it, or we did): answer/queue, arm reconnect.
  void markDown(std::string_view why);
  void killConnection(std::string_view why);
  void scheduleReconnect();
  void issue(std::unique_ptr<Pending> pending);
  void unavailable(RedisCommand command);
  void queueDurable(RedisCommand command);
  void flushReplay();
  void checkTimeout();
  void loadScripts();
  std::unique_ptr<Pending> takePending(const void* privdata);
  void onReply(const redisReply* reply, const void* privdata);

  static void replyTrampoline(redisAsyncContext* ac, void* reply, void* privdata) noexcept;
  static void messageTrampoline(redisAsyncContext* ac, void* reply, void* privdata) noexcept;
  static void connectTrampoline(const redisAsyncContext* ac, int status) noexcept;
  static void disconnectTrampoline(const redisAsyncContext* ac, int status) noexcept;

  event_base* const base_;
  const Options options_;
  State state_ = State::Down;
  redisAsyncContext* ac_ = nullptr; // owned; freed by redisAsyncFree or by hiredis on error
  bool closing_ = false;            // in the destructor: nothing is queued or reconnected
  bool down_logged_ = false;
  std::chrono::milliseconds backoff_;
  std::deque<std::unique_ptr<Pending>> pending_; // sent, in reply order
  std::deque<RedisCommand> replay_;              // durable commands waiting for Redis
  size_t replay_bytes_ = 0;
  std::vector<std::string> sources_; // by index in options_.scripts
  std::vector<std::string> shas_;    // by index in options_.scripts; empty: unknown
  std::function<void(std::string_view)> on_message_;
  proxy::Timer reconnect_timer_;
  proxy::Timer timeout_timer_;
  proxy::Timer replay_timer_;
};

} // namespace seawall::filters::async_202
