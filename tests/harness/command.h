// Runs a command to completion with captured stdout/stderr, optional stdin, and a timeout.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace seawall::test {

struct CommandResult {
  int exit_code = -1; // exit code, 128 + signal, or -1 on timeout or failure to start
  std::string out;
  std::string err;
  bool timed_out = false;
};

// argv[0] is searched in PATH if it has no '/'. At `timeout` the child is SIGKILLed and reaped.
CommandResult runCommand(std::vector<std::string> argv,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30),
                         const std::string& stdin_data = "");

} // namespace seawall::test
