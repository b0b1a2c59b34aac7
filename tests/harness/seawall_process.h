// Runs the real proxy (SEAWALL_BINARY) with a generated config for an integration test: the
// YAML goes to a temp file, `seawall --config FILE` starts, and start() returns once the admin
// listener's GET /ready answers 200. Stopped by PID when destroyed.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "tests/harness/command.h"
#include "tests/harness/process.h"
#include "tests/harness/raw_client.h"
#include "tests/harness/temp_files.h"

namespace seawall::test {

// Path of the proxy binary (SEAWALL_BINARY, or $SEAWALL_BINARY).
std::string seawallBinary();

// Replaces every "{{KEY}}" in `text` by its value.
std::string fillPlaceholders(std::string text,
                             const std::vector<std::pair<std::string, std::string>>& values);

// `seawall --validate FILE` on `yaml` written to a temp file named `file_name`; the result's
// err/out carry "FILE:LINE:COL: reason" lines (FILE is the temp path).
CommandResult validateConfig(std::string_view yaml, std::string_view file_name = "seawall.yaml");

class SeawallProcess {
public:
  SeawallProcess() = default;
  SeawallProcess(const SeawallProcess&) = delete;
  SeawallProcess& operator=(const SeawallProcess&) = delete;
  SeawallProcess(SeawallProcess&&) = delete;
  SeawallProcess& operator=(SeawallProcess&&) = delete;
  ~SeawallProcess() = default; // ChildProcess kills it by PID if still running

  // `yaml` must put the admin listener on 127.0.0.1:<admin_port>; "{{ADMIN_PORT}}" in it is
  // replaced by admin_port. Waits for GET /ready == 200 (fails early if the process exits).
  ::testing::AssertionResult
  start(std::string yaml, uint16_t admin_port, std::vector<std::string> extra_args = {},
        std::chrono::milliseconds ready_timeout = std::chrono::seconds(10),
        const std::vector<std::string>& extra_env = {});
  // Polls GET /ready on the admin port until it answers `status`.
  ::testing::AssertionResult waitReady(std::chrono::milliseconds timeout = std::chrono::seconds(10),
                                       int status = 200);
  // Rewrites the config file (same placeholder rule), e.g. before signal(SIGHUP).
  bool writeConfig(std::string yaml);
  // One request to the admin listener.
  std::optional<HttpReply> admin(std::string_view method, std::string_view path) const;

  uint16_t adminPort() const { return admin_port_; }
  // NOLINTNEXTLINE(readability-identifier-naming): the name the harness brief uses
  uint16_t admin_port() const { return admin_port_; }
  const std::string& configPath() const { return config_path_; }
  std::string output() const { return process_.allOutput(); }
  bool running() { return process_.running(); }
  void signal(int sig) { process_.signal(sig); }
  std::optional<int> waitExit(std::chrono::milliseconds timeout) {
    return process_.waitExit(timeout);
  }
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(10)) {
    return process_.stop(grace);
  }
  ChildProcess& process() { return process_; }

private:
  std::unique_ptr<TempDir> dir_;
  std::string config_path_;
  uint16_t admin_port_ = 0;
  ChildProcess process_;
};

} // namespace seawall::test
