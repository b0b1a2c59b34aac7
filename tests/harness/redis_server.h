// A real redis-server for integration tests: on a free loopback port, in its own TempDir, no
// persistence (`--save '' --appendonly no`); start() waits until it answers PING. Stopped by PID
// (SIGKILL in kill(), SIGTERM then SIGKILL when destroyed); pause()/resume() send SIGSTOP/SIGCONT.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/harness/process.h"
#include "tests/harness/temp_files.h"

namespace seawall::test {

class RedisServer {
public:
  static constexpr const char* kProgram = "/usr/bin/redis-server";
  // The message of a GTEST_SKIP() when kProgram is missing.
  static constexpr const char* kMissing =
      "SKIPPED: /usr/bin/redis-server not found: install the Debian package redis-server "
      "(./dev installs it) to run the Redis job store tests";

  RedisServer() = default;
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;
  RedisServer(RedisServer&&) = delete;
  RedisServer& operator=(RedisServer&&) = delete;
  ~RedisServer();

  static bool available();

  // Starts on a free port (the first time) or on the same port again; waits for PING.
  bool start(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // SIGKILL and reap: the port refuses connections at once.
  void kill();
  void pause();  // SIGSTOP: connections are accepted by the kernel, nothing answers
  void resume(); // SIGCONT
  bool running();

  uint16_t port() const { return port_; }
  // True if it answers PING within `timeout`.
  bool ping(std::chrono::milliseconds timeout = std::chrono::milliseconds(500)) const;
  // One command over a fresh connection; the reply as RESP text ("+OK\r\n", ":3\r\n", ...), or
  // nullopt on error or timeout. For inspecting what a test stored.
  std::optional<std::string>
  command(const std::vector<std::string>& args,
          std::chrono::milliseconds timeout = std::chrono::seconds(2)) const;
  std::string output() const;

private:
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<ChildProcess> process_;
  uint16_t port_ = 0;
  bool paused_ = false;
};

} // namespace seawall::test
