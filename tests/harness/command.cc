#include "tests/harness/command.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <thread>

#include <poll.h>

namespace seawall::test {
namespace {

struct Pipe {
  int fds[2] = {-1, -1};
  bool open() { return ::pipe2(fds, O_CLOEXEC) == 0; }
  void closeEnd(int i) {
    if (fds[i] >= 0) {
      ::close(fds[i]);
      fds[i] = -1;
    }
  }
  void closeBoth() {
    closeEnd(0);
    closeEnd(1);
  }
};

int decodeStatus(int raw) {
  if (WIFEXITED(raw)) {
    return WEXITSTATUS(raw);
  }
  if (WIFSIGNALED(raw)) {
    return 128 + WTERMSIG(raw);
  }
  return -1;
}

// Reads what a ready pipe has into `sink`; closes the pipe at EOF or error.
void readReady(const pollfd& pfd, Pipe& p, std::string& sink, std::array<char, 65536>& buf) {
  if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
    return;
  }
  const ssize_t n = ::read(p.fds[0], buf.data(), buf.size());
  if (n > 0) {
    sink.append(buf.data(), static_cast<size_t>(n));
  } else if (n == 0 || errno != EINTR) {
    p.closeEnd(0);
  }
}

// Writes the next part of stdin_data; closes the pipe when all is written or on error.
void writeSome(Pipe& in, const std::string& stdin_data, size_t& written) {
  const ssize_t n = ::write(in.fds[1], stdin_data.data() + written, stdin_data.size() - written);
  if (n > 0) {
    written += static_cast<size_t>(n);
  }
  if (written == stdin_data.size() || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    in.closeEnd(1);
  }
}

// Shuttles stdin/stdout/stderr until both outputs close or the deadline passes.
bool pumpPipes(Pipe& in, Pipe& out, Pipe& err, const std::string& stdin_data, CommandResult& r,
               std::chrono::steady_clock::time_point deadline) {
  size_t written = 0;
  if (stdin_data.empty()) {
    in.closeEnd(1);
  } else {
    ::fcntl(in.fds[1], F_SETFL, O_NONBLOCK);
  }
  std::array<char, 65536> buf{};
  while (out.fds[0] >= 0 || err.fds[0] >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return false;
    }
    std::array<pollfd, 3> pfds = {pollfd{out.fds[0], POLLIN, 0}, pollfd{err.fds[0], POLLIN, 0},
                                  pollfd{in.fds[1], POLLOUT, 0}};
    if (::poll(pfds.data(), pfds.size(), static_cast<int>(left.count())) < 0 && errno != EINTR) {
      return false;
    }
    readReady(pfds[0], out, r.out, buf);
    readReady(pfds[1], err, r.err, buf);
    if ((pfds[2].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
      writeSome(in, stdin_data, written);
    }
  }
  return true;
}

} // namespace

CommandResult runCommand(std::vector<std::string> argv, std::chrono::milliseconds timeout,
                         const std::string& stdin_data) {
  CommandResult result;
  ::signal(SIGPIPE, SIG_IGN); // a child that stops reading stdin must not kill the test
  if (argv.empty()) {
    return result;
  }
  Pipe in;
  Pipe out;
  Pipe err;
  if (!in.open() || !out.open() || !err.open()) {
    in.closeBoth();
    out.closeBoth();
    err.closeBoth();
    return result;
  }
  std::vector<char*> c_argv;
  c_argv.reserve(argv.size() + 1);
  for (auto& a : argv) {
    c_argv.push_back(a.data());
  }
  c_argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) {
      ::_exit(126);
    }
    ::dup2(in.fds[0], 0);
    ::dup2(out.fds[1], 1);
    ::dup2(err.fds[1], 2);
    ::execvp(c_argv[0], c_argv.data());
    static constexpr char kMsg[] = "runCommand: exec failed\n";
    (void)!::write(2, kMsg, sizeof(kMsg) - 1);
    ::_exit(127);
  }
  in.closeEnd(0);
  out.closeEnd(1);
  err.closeEnd(1);
  if (pid < 0) {
    in.closeBoth();
    out.closeBoth();
    err.closeBoth();
    return result;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const bool finished = pumpPipes(in, out, err, stdin_data, result, deadline);
  in.closeBoth();
  out.closeBoth();
  err.closeBoth();
  int raw = 0;
  bool exited = false;
  while (finished && !exited && std::chrono::steady_clock::now() < deadline) {
    const pid_t r = ::waitpid(pid, &raw, WNOHANG);
    exited = r == pid || (r < 0 && errno != EINTR);
    if (!exited) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  if (!exited) {
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, &raw, 0) < 0 && errno == EINTR) {
    }
  }
  result.timed_out = !exited;
  result.exit_code = exited ? decodeStatus(raw) : -1;
  return result;
}

} // namespace seawall::test
