// Raw TCP clients on 127.0.0.1 for tests that need exact bytes: one-shot exchanges, an
// interactive connection, and a minimal HTTP/1.1 request helper (used for control endpoints).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace seawall::test {

struct RawResult {
  std::string data;            // everything received
  bool connected = false;      // the connect succeeded
  bool closed_by_peer = false; // EOF or reset seen before the timeout
  bool reset_by_peer = false;  // ECONNRESET
};

// Connects to 127.0.0.1:port, writes `bytes`, reads until the peer closes or `timeout` passes.
// The write side is never shut down.
RawResult rawExchange(uint16_t port, std::string_view bytes, std::chrono::milliseconds timeout);

// One open connection, for step-by-step exchanges (pipelining, websocket echo).
class RawConnection {
public:
  RawConnection() = default;
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  RawConnection(RawConnection&&) = delete;
  RawConnection& operator=(RawConnection&&) = delete;
  ~RawConnection();

  bool connect(uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  bool send(std::string_view bytes, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Reads until the received data (since connect) contains `needle`; returns all of it, or
  // nullopt at timeout or EOF without it.
  std::optional<std::string> readUntil(std::string_view needle, std::chrono::milliseconds timeout);
  // Reads until at least `n` bytes have been received in total.
  std::optional<std::string> readAtLeast(size_t n, std::chrono::milliseconds timeout);
  // Reads until EOF; true if the peer closed before the timeout.
  bool waitClosed(std::chrono::milliseconds timeout);
  const std::string& received() const { return received_; }
  bool peerClosed() const { return peer_closed_; }
  bool peerReset() const { return peer_reset_; } // the close was a TCP reset
  void shutdownWrite();
  void close();

private:
  // Waits up to `timeout` for bytes; false on timeout, EOF or error.
  bool readSome(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  std::string received_;
  bool peer_closed_ = false;
  bool peer_reset_ = false;
};

struct HttpReply {
  int status = 0;
  std::string head; // status line and headers
  std::string body;
  std::optional<std::string> header(std::string_view name) const; // case-insensitive
};

// Sends one HTTP/1.1 request with "connection: close" and a content-length body; parses a
// content-length or read-until-close response (not chunked). nullopt on any failure.
std::optional<HttpReply> httpRequest(uint16_t port, std::string_view method,
                                     std::string_view target, std::string_view body = "",
                                     std::chrono::milliseconds timeout = std::chrono::seconds(5));

} // namespace seawall::test
