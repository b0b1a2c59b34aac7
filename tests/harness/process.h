// A child process for integration tests: fork/exec with stdout and stderr captured to temp files
// (readable while it runs), bounded waits, stopped by PID; never leaves a zombie.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "tests/harness/temp_files.h"

namespace seawall::test {

class ChildProcess {
public:
  ChildProcess() = default;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ChildProcess(ChildProcess&&) = delete;
  ChildProcess& operator=(ChildProcess&&) = delete;
  // SIGKILLs the child if it still runs, and reaps it.
  ~ChildProcess();

  // argv[0] is the program path (no PATH search unless it has no '/'). extra_env entries are
  // "NAME=value", added to (or replacing in) this process's environment. Returns false if the
  // process could not be started (or one is already running); exec errors show in
  // errorOutput() and as exit status 127.
  bool start(std::vector<std::string> argv, const std::vector<std::string>& extra_env = {});

  int pid() const { return pid_; }
  // Reaps the child if it has exited.
  bool running();
  void signal(int sig);

  std::string output() const;      // stdout so far
  std::string errorOutput() const; // stderr so far
  std::string allOutput() const;   // stdout then stderr, labelled

  // The first line of stdout or stderr (stdout first) matching, or nullopt at timeout or
  // once the process has exited without printing it.
  std::optional<std::string> waitForOutput(const std::regex& pattern,
                                           std::chrono::milliseconds timeout);
  std::optional<std::string> waitForOutput(std::string_view substring,
                                           std::chrono::milliseconds timeout);

  // Exit status (exit code, or 128 + signal number) once exited, nullopt at timeout.
  std::optional<int> waitExit(std::chrono::milliseconds timeout);
  // SIGTERM, wait up to `grace`, then SIGKILL; returns the exit status (-1 if never started).
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(5));
  // The exit status, if the child has been reaped.
  std::optional<int> exitStatus() const { return status_; }

private:
  template <typename Match>
  std::optional<std::string> waitForLine(Match match, std::chrono::milliseconds timeout);
  bool reap(bool block);

  int pid_ = -1;
  std::optional<int> status_;
  std::unique_ptr<TempDir> dir_;
  std::string out_path_;
  std::string err_path_;
};

} // namespace seawall::test
