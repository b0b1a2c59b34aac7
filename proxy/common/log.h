// Minimal leveled logging to stderr: one line per call, with a UTC timestamp.
#pragma once

#include <string_view>

namespace seawall::proxy {

enum class LogLevel { Debug, Info, Warn, Error };

void setLogLevel(LogLevel level);
void log(LogLevel level, std::string_view message);
inline void logInfo(std::string_view m) { log(LogLevel::Info, m); }
inline void logWarn(std::string_view m) { log(LogLevel::Warn, m); }
inline void logError(std::string_view m) { log(LogLevel::Error, m); }

} // namespace seawall::proxy
