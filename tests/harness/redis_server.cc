#include "tests/harness/redis_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "tests/harness/ports.h"

#include <poll.h>

namespace seawall::test {
namespace {

using Clock = std::chrono::steady_clock;

// A blocking loopback connection with a deadline for the whole exchange.
class Exchange {
public:
  Exchange(uint16_t port, Clock::time_point deadline) : deadline_(deadline) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;
  Exchange(Exchange&&) = delete;
  Exchange& operator=(Exchange&&) = delete;
  ~Exchange() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }

  // Sends `request`, then reads until `complete(reply)` or the deadline.
  template <typename Complete>
  std::optional<std::string> run(const std::string& request, Complete complete) {
    if (fd_ < 0 || ::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) !=
                       static_cast<ssize_t>(request.size())) {
      return std::nullopt;
    }
    std::string reply;
    char buf[4096];
    while (!complete(reply)) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
      pollfd p{fd_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
        return std::nullopt;
      }
      const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) {
        return std::nullopt;
      }
      reply.append(buf, static_cast<size_t>(n));
    }
    return reply;
  }

private:
  int fd_ = -1;
  Clock::time_point deadline_;
};

std::string resp(const std::vector<std::string>& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args) {
    out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  }
  return out;
}

// Good enough for the replies tests inspect: one line, or one bulk string.
bool completeReply(const std::string& r) {
  const size_t eol = r.find("\r\n");
  if (eol == std::string::npos) {
    return false;
  }
  if (r[0] != '$') {
    return true;
  }
  const long n = std::stol(r.substr(1, eol - 1));
  return n < 0 || r.size() >= eol + 2 + static_cast<size_t>(n) + 2;
}

} // namespace

RedisServer::~RedisServer() {
  if (process_ && paused_) {
    resume();
  }
  if (process_) {
    process_->stop(std::chrono::seconds(3));
  }
}

bool RedisServer::available() { return ::access(kProgram, X_OK) == 0; }

bool RedisServer::start(std::chrono::milliseconds timeout) {
  if (!available() || (process_ && process_->running())) {
    return false;
  }
  if (!dir_) {
    dir_ = std::make_unique<TempDir>("seawall-redis");
  }
  if (port_ == 0) {
    port_ = freeTcpPort();
  }
  process_ = std::make_unique<ChildProcess>();
  paused_ = false;
  if (!process_->start({kProgram, "--port", std::to_string(port_), "--bind", "127.0.0.1", "--save",
                        "", "--appendonly", "no", "--dir", dir_->path(), "--daemonize", "no"})) {
    return false;
  }
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (!process_->running()) {
      return false;
    }
    if (ping(std::chrono::milliseconds(200))) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void RedisServer::kill() {
  if (process_) {
    if (paused_) {
      resume();
    }
    process_->signal(SIGKILL);
    process_->waitExit(std::chrono::seconds(5));
  }
}

void RedisServer::pause() {
  if (process_) {
    process_->signal(SIGSTOP);
    paused_ = true;
  }
}

void RedisServer::resume() {
  if (process_) {
    process_->signal(SIGCONT);
    paused_ = false;
  }
}

bool RedisServer::running() { return process_ && process_->running(); }

bool RedisServer::ping(std::chrono::milliseconds timeout) const {
  const auto reply = command({"PING"}, timeout);
  return reply && reply->starts_with("+PONG");
}

std::optional<std::string> RedisServer::command(const std::vector<std::string>& args,
                                                std::chrono::milliseconds timeout) const {
  if (port_ == 0) {
    return std::nullopt;
  }
  Exchange exchange(port_, Clock::now() + timeout);
  return exchange.run(resp(args), completeReply);
}

std::string RedisServer::output() const { return process_ ? process_->allOutput() : ""; }

} // namespace seawall::test
