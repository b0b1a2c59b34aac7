// Command-line flags and per-request knobs (query parameters override the run-wide defaults).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/upstream/util.h"

namespace seawall::test_upstream {

enum class ResetMode { None, BeforeHeaders, AfterHeaders, MidBody };

// Everything a request can ask for; the run-wide defaults come from flags.
struct Knobs {
  int status = 200;
  std::chrono::milliseconds delay{0};
  std::optional<uint64_t> body_size; // unset: the short text body
  uint32_t chunks = 1;
  std::chrono::milliseconds chunk_delay{0};
  ResetMode reset = ResetMode::None;
  bool blackhole = false;
  double fail_ratio = 0.0;
  int fail_status = 503;
  bool trailers = false;
  HeaderList headers; // added to the response
  std::optional<uint64_t> retry_after;
  bool close = false;
};

struct Options {
  std::string listen = "127.0.0.1:0";
  std::string name = "upstream";
  uint32_t max_concurrent_streams = 1000;
  uint64_t seed = 1;
  bool verbose = false;
  Knobs defaults;
};

// "150ms", "2s", "1m" or a bare number of milliseconds.
std::optional<std::chrono::milliseconds> parseMillis(std::string_view text);
std::optional<uint64_t> parseUnsigned(std::string_view text);
std::optional<ResetMode> parseResetMode(std::string_view text);
std::string percentDecode(std::string_view text);

// Parses argv; on error returns nullopt and sets `error`. `--help` sets error to the usage text.
std::optional<Options> parseOptions(int argc, char** argv, std::string& error);

// Applies one knob given by name (flag name without "--" or query name, '-' or '_' alike).
// Returns false if the name is unknown or the value is invalid.
bool applyKnob(Knobs& knobs, std::string_view name, std::string_view value);

// Applies every `name=value` of a raw query string; unknown names are ignored.
void applyQuery(Knobs& knobs, std::string_view query);

} // namespace seawall::test_upstream
