// Optional JSON-lines access log shared by the workers. Each line goes out in one write(2) on an
// O_APPEND descriptor, so lines from different workers never interleave.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace seawall::proxy {

struct AccessLogEntry {
  std::string_view request_id;
  std::string_view method;
  std::string_view authority;
  std::string_view path;
  int protocol = 11; // 10, 11, 20
  int status = 0;
  std::string_view listener;
  std::string_view cluster;
  std::string_view upstream;
  double duration_seconds = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  std::string_view flags; // x-seawall-reason of a local reply, or how the exchange ended
};

class AccessLog {
public:
  // "-" is standard output. Null with `error` set when the file cannot be opened.
  static std::unique_ptr<AccessLog> open(const std::string& path, std::string& error);
  explicit AccessLog(int fd, bool owned) : fd_(fd), owned_(owned) {}
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;
  AccessLog(AccessLog&&) = delete;
  AccessLog& operator=(AccessLog&&) = delete;
  ~AccessLog();

  void write(const AccessLogEntry& entry);
  static std::string format(const AccessLogEntry& entry);

private:
  int fd_;
  bool owned_;
};

// Appends `s` to `out` as a JSON string literal (quoted, escaped).
void appendJsonString(std::string& out, std::string_view s);

} // namespace seawall::proxy
