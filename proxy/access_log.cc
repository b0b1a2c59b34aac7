#include "proxy/access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <system_error>

namespace seawall::proxy {

std::unique_ptr<AccessLog> AccessLog::open(const std::string& path, std::string& error) {
  if (path == "-") {
    return std::make_unique<AccessLog>(STDOUT_FILENO, false);
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = "cannot open access log '" + path +
            "': " + std::error_code(errno, std::generic_category()).message();
    return nullptr;
  }
  return std::make_unique<AccessLog>(fd, true);
}

AccessLog::~AccessLog() {
  if (owned_) {
    ::close(fd_);
  }
}

void appendJsonString(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
        out += buf;
      } else {
        out += c;
      }
    }
  }
  out += '"';
}

std::string AccessLog::format(const AccessLogEntry& e) {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char time_buf[96];
  std::snprintf(time_buf, sizeof(time_buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis.count()));
  std::string out;
  out.reserve(256);
  out += "{\"time\":\"";
  out += time_buf;
  out += "\",\"request_id\":";
  appendJsonString(out, e.request_id);
  out += ",\"method\":";
  appendJsonString(out, e.method);
  out += ",\"authority\":";
  appendJsonString(out, e.authority);
  out += ",\"path\":";
  appendJsonString(out, e.path);
  out += ",\"protocol\":\"";
  out += e.protocol == 20 ? "HTTP/2" : (e.protocol == 10 ? "HTTP/1.0" : "HTTP/1.1");
  out += "\",\"status\":" + std::to_string(e.status);
  out += ",\"listener\":";
  appendJsonString(out, e.listener);
  out += ",\"cluster\":";
  appendJsonString(out, e.cluster);
  out += ",\"upstream\":";
  appendJsonString(out, e.upstream);
  char dur[32];
  std::snprintf(dur, sizeof(dur), "%.6f", e.duration_seconds);
  out += ",\"duration\":";
  out += dur;
  out += ",\"bytes_in\":" + std::to_string(e.bytes_in);
  out += ",\"bytes_out\":" + std::to_string(e.bytes_out);
  out += ",\"flags\":";
  appendJsonString(out, e.flags);
  out += "}\n";
  return out;
}

void AccessLog::write(const AccessLogEntry& entry) {
  std::string line = format(entry);
  [[maybe_unused]] ssize_t n = ::write(fd_, line.data(), line.size());
}

} // namespace seawall::proxy
