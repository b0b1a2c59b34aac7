#include "tests/harness/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <thread>

extern char** environ;

namespace seawall::test {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(5);

int decodeStatus(int raw) {
  if (WIFEXITED(raw)) {
    return WEXITSTATUS(raw);
  }
  if (WIFSIGNALED(raw)) {
    return 128 + WTERMSIG(raw);
  }
  return -1;
}

std::vector<std::string> mergedEnvironment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const auto name = entry.substr(0, entry.find('=') + 1);
    bool replaced = false;
    for (const auto& x : extra) {
      replaced = replaced || x.starts_with(name);
    }
    if (!replaced) {
      env.emplace_back(entry);
    }
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::vector<char*> cStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) {
    out.push_back(s.data());
  }
  out.push_back(nullptr);
  return out;
}

} // namespace

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    reap(true);
  }
}

bool ChildProcess::start(std::vector<std::string> argv, const std::vector<std::string>& extra_env) {
  if (argv.empty() || (pid_ > 0 && !status_)) {
    return false;
  }
  dir_ = std::make_unique<TempDir>("seawall-child");
  out_path_ = dir_->file("stdout");
  err_path_ = dir_->file("stderr");
  const int out_fd = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const int err_fd = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (out_fd < 0 || err_fd < 0 || null_fd < 0) {
    for (int fd : {out_fd, err_fd, null_fd}) {
      if (fd >= 0) {
        ::close(fd);
      }
    }
    return false;
  }
  std::vector<std::string> env = mergedEnvironment(extra_env);
  std::vector<char*> c_argv = cStrings(argv);
  std::vector<char*> c_env = cStrings(env);
  const pid_t parent = ::getpid();
  status_.reset();
  pid_ = ::fork();
  if (pid_ == 0) {
    // Child: only async-signal-safe calls from here on.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) {
      ::_exit(126);
    }
    ::dup2(null_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    if (std::strchr(c_argv[0], '/') != nullptr) {
      ::execve(c_argv[0], c_argv.data(), c_env.data());
    } else {
      ::execvpe(c_argv[0], c_argv.data(), c_env.data());
    }
    static constexpr char kMsg[] = "ChildProcess: exec failed\n";
    (void)!::write(2, kMsg, sizeof(kMsg) - 1);
    ::_exit(127);
  }
  ::close(out_fd);
  ::close(err_fd);
  ::close(null_fd);
  return pid_ > 0;
}

bool ChildProcess::reap(bool block) {
  if (pid_ <= 0 || status_) {
    return status_.has_value();
  }
  int raw = 0;
  pid_t r = 0;
  do {
    r = ::waitpid(pid_, &raw, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    status_ = decodeStatus(raw);
  } else if (r < 0) {
    status_ = -1; // not our child any more (already reaped elsewhere)
  }
  return status_.has_value();
}

bool ChildProcess::running() { return pid_ > 0 && !reap(false); }

void ChildProcess::signal(int sig) {
  if (running()) {
    ::kill(pid_, sig);
  }
}

std::string ChildProcess::output() const { return readFile(out_path_).value_or(""); }

std::string ChildProcess::errorOutput() const { return readFile(err_path_).value_or(""); }

std::string ChildProcess::allOutput() const {
  return "--- stdout ---\n" + output() + "--- stderr ---\n" + errorOutput();
}

template <typename Match>
std::optional<std::string> ChildProcess::waitForLine(Match match,
                                                     std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const bool exited = !running();
    for (const std::string& text : {output(), errorOutput()}) {
      std::istringstream lines(text);
      std::string line;
      while (std::getline(lines, line)) {
        if (match(line)) {
          return line;
        }
      }
    }
    if (exited || std::chrono::steady_clock::now() >= deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

std::optional<std::string> ChildProcess::waitForOutput(const std::regex& pattern,
                                                       std::chrono::milliseconds timeout) {
  return waitForLine([&](const std::string& line) { return std::regex_search(line, pattern); },
                     timeout);
}

std::optional<std::string> ChildProcess::waitForOutput(std::string_view substring,
                                                       std::chrono::milliseconds timeout) {
  return waitForLine(
      [&](const std::string& line) { return line.find(substring) != std::string::npos; }, timeout);
}

std::optional<int> ChildProcess::waitExit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) {
    return std::nullopt;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!reap(false)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  return status_;
}

int ChildProcess::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) {
    return -1;
  }
  if (running()) {
    ::kill(pid_, SIGTERM);
    if (!waitExit(grace)) {
      ::kill(pid_, SIGKILL);
      reap(true);
    }
  }
  return status_.value_or(-1);
}

} // namespace seawall::test
