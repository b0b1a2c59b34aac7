#include "tests/harness/raw_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>

#include <poll.h>
#include <strings.h>

namespace seawall::test {
namespace {

using Clock = std::chrono::steady_clock;

int remainingMs(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(left);
}

// Non-blocking connect to 127.0.0.1:port with a deadline; returns the fd or -1.
int connectLoopback(uint16_t port, Clock::time_point deadline) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    return -1;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    return fd;
  }
  if (errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    int err = 0;
    socklen_t len = sizeof(err);
    if (::poll(&p, 1, remainingMs(deadline)) == 1 &&
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
      return fd;
    }
  }
  ::close(fd);
  return -1;
}

bool sendAll(int fd, std::string_view bytes, Clock::time_point deadline) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      return false;
    }
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, remainingMs(deadline)) <= 0) {
      return false;
    }
  }
  return true;
}

} // namespace

RawResult rawExchange(uint16_t port, std::string_view bytes, std::chrono::milliseconds timeout) {
  RawResult result;
  RawConnection conn;
  if (!conn.connect(port, timeout)) {
    return result;
  }
  result.connected = true;
  conn.send(bytes, timeout);
  result.closed_by_peer = conn.waitClosed(timeout);
  result.data = conn.received();
  result.reset_by_peer = conn.peerReset();
  return result;
}

RawConnection::~RawConnection() { close(); }

bool RawConnection::connect(uint16_t port, std::chrono::milliseconds timeout) {
  close();
  received_.clear();
  peer_closed_ = false;
  peer_reset_ = false;
  fd_ = connectLoopback(port, Clock::now() + timeout);
  return fd_ >= 0;
}

bool RawConnection::send(std::string_view bytes, std::chrono::milliseconds timeout) {
  return fd_ >= 0 && sendAll(fd_, bytes, Clock::now() + timeout);
}

bool RawConnection::readSome(Clock::time_point deadline) {
  if (fd_ < 0 || peer_closed_) {
    return false;
  }
  std::array<char, 65536> buf{};
  for (;;) {
    const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n > 0) {
      received_.append(buf.data(), static_cast<size_t>(n));
      return true;
    }
    if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      peer_reset_ = n < 0 && errno == ECONNRESET;
      peer_closed_ = true;
      return false;
    }
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, remainingMs(deadline)) <= 0) {
      return false;
    }
  }
}

std::optional<std::string> RawConnection::readUntil(std::string_view needle,
                                                    std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (received_.find(needle) == std::string::npos) {
    if (!readSome(deadline)) {
      return std::nullopt;
    }
  }
  return received_;
}

std::optional<std::string> RawConnection::readAtLeast(size_t n, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (received_.size() < n) {
    if (!readSome(deadline)) {
      return std::nullopt;
    }
  }
  return received_;
}

bool RawConnection::waitClosed(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (readSome(deadline)) {
  }
  return peer_closed_;
}

void RawConnection::shutdownWrite() {
  if (fd_ >= 0) {
    ::shutdown(fd_, SHUT_WR);
  }
}

void RawConnection::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

std::optional<std::string> HttpReply::header(std::string_view name) const {
  size_t pos = head.find("\r\n");
  while (pos != std::string::npos && pos + 2 < head.size()) {
    const size_t start = pos + 2;
    const size_t end = head.find("\r\n", start);
    const std::string_view line(head.data() + start,
                                (end == std::string::npos ? head.size() : end) - start);
    const size_t colon = line.find(':');
    if (colon == name.size() && strncasecmp(line.data(), name.data(), colon) == 0) {
      std::string_view v = line.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') {
        v.remove_prefix(1);
      }
      return std::string(v);
    }
    pos = end;
  }
  return std::nullopt;
}

std::optional<HttpReply> httpRequest(uint16_t port, std::string_view method,
                                     std::string_view target, std::string_view body,
                                     std::chrono::milliseconds timeout) {
  std::string req = std::string(method) + " " + std::string(target) +
                    " HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n";
  if (!body.empty() || method == "POST" || method == "PUT") {
    req += "content-length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n";
  req += body;
  const RawResult raw = rawExchange(port, req, timeout);
  const size_t head_end = raw.data.find("\r\n\r\n");
  if (!raw.closed_by_peer || head_end == std::string::npos || !raw.data.starts_with("HTTP/1.")) {
    return std::nullopt;
  }
  HttpReply reply;
  reply.head = raw.data.substr(0, head_end);
  reply.body = raw.data.substr(head_end + 4);
  reply.status = std::atoi(reply.head.c_str() + 9);
  if (const auto len = reply.header("content-length")) {
    const auto n = static_cast<size_t>(std::strtoull(len->c_str(), nullptr, 10));
    if (reply.body.size() < n) {
      return std::nullopt;
    }
    reply.body.resize(n);
  }
  return reply;
}

} // namespace seawall::test
