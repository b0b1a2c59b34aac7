#include "config/config.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>

namespace seawall::config {

bool HostPort::isIpLiteral() const {
  std::array<unsigned char, sizeof(in6_addr)> buf{};
  return inet_pton(AF_INET, host.c_str(), buf.data()) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buf.data()) == 1;
}

std::string HostPort::toString() const {
  const std::string port_text = std::to_string(port);
  if (host.find(':') != std::string::npos) {
    return "[" + host + "]:" + port_text;
  }
  return host + ":" + port_text;
}

const Cluster* Config::findCluster(const std::string& name) const {
  for (const Cluster& cluster : clusters) {
    if (cluster.name == name) {
      return &cluster;
    }
  }
  return nullptr;
}

bool Config::operator==(const Config& other) const {
  // Keep in step with the fields above; source_path and marks are deliberately left out.
  return admin == other.admin && workers == other.workers && drain_timeout == other.drain_timeout &&
         watch_config == other.watch_config && access_log == other.access_log &&
         listeners == other.listeners && clusters == other.clusters &&
         async_store == other.async_store;
}

std::string ConfigError::toString() const {
  if (line <= 0) {
    return file + ": " + message; // about the whole file: missing, unreadable, empty
  }
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

} // namespace seawall::config
