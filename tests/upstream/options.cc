#include "tests/upstream/options.h"

#include <charconv>
#include <cstdlib>

namespace seawall::test_upstream {
namespace {

constexpr std::string_view kUsage =
    "usage: seawall-test-upstream [--listen 127.0.0.1:0] [--name NAME]\n"
    "  [--max-concurrent-streams N] [--seed N] [--verbose]\n"
    "  run-wide defaults: [--status N] [--delay D] [--body-size N] [--chunks N]\n"
    "  [--chunk-delay D] [--reset before_headers|after_headers|mid_body] [--blackhole]\n"
    "  [--fail-ratio R] [--fail-status N] [--trailers] [--header name:value]...\n"
    "  [--retry-after S] [--close]\n";

std::string normalize(std::string_view name) {
  std::string out(name);
  for (char& ch : out) {
    if (ch == '-') {
      ch = '_';
    }
  }
  return out;
}

std::optional<bool> parseBool(std::string_view v) {
  if (v == "1" || v == "true" || v == "yes" || v.empty()) {
    return true;
  }
  if (v == "0" || v == "false" || v == "no") {
    return false;
  }
  return std::nullopt;
}

std::optional<double> parseRatio(std::string_view v) {
  std::string s(v);
  bool percent = false;
  if (!s.empty() && s.back() == '%') {
    percent = true;
    s.pop_back();
  }
  if (s.empty()) {
    return std::nullopt;
  }
  char* end = nullptr;
  double r = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) {
    return std::nullopt;
  }
  if (percent) {
    r /= 100.0;
  }
  if (r < 0.0 || r > 1.0) {
    return std::nullopt;
  }
  return r;
}

std::optional<int> parseStatus(std::string_view v) {
  auto n = parseUnsigned(v);
  if (!n || *n < 100 || *n > 999) {
    return std::nullopt;
  }
  return static_cast<int>(*n);
}

bool applyFlagOnly(Options& options, std::string_view name, std::string_view value) {
  if (name == "listen") {
    options.listen = std::string(value);
    return true;
  }
  if (name == "name") {
    options.name = std::string(value);
    return true;
  }
  if (name == "max_concurrent_streams") {
    auto n = parseUnsigned(value);
    if (!n || *n == 0 || *n > 0x7FFFFFFF) {
      return false;
    }
    options.max_concurrent_streams = static_cast<uint32_t>(*n);
    return true;
  }
  if (name == "seed") {
    auto n = parseUnsigned(value);
    if (!n) {
      return false;
    }
    options.seed = *n;
    return true;
  }
  return false;
}

bool isBooleanFlag(std::string_view name) {
  return name == "verbose" || name == "blackhole" || name == "trailers" || name == "close";
}

// Numeric knobs; nullopt if `name` is not one of them, else whether the value was valid.
std::optional<bool> applyNumberKnob(Knobs& knobs, const std::string& name, std::string_view value) {
  if (name == "status" || name == "fail_status") {
    auto s = parseStatus(value);
    if (s) {
      (name == "status" ? knobs.status : knobs.fail_status) = *s;
    }
    return s.has_value();
  }
  if (name == "delay" || name == "chunk_delay") {
    auto d = parseMillis(value);
    if (d) {
      (name == "delay" ? knobs.delay : knobs.chunk_delay) = *d;
    }
    return d.has_value();
  }
  if (name == "body_size" || name == "retry_after") {
    auto n = parseUnsigned(value);
    if (n) {
      (name == "body_size" ? knobs.body_size : knobs.retry_after) = *n;
    }
    return n.has_value();
  }
  if (name == "chunks") {
    auto n = parseUnsigned(value);
    if (!n || *n == 0 || *n > 1000000) {
      return false;
    }
    knobs.chunks = static_cast<uint32_t>(*n);
    return true;
  }
  return std::nullopt;
}

// Boolean knobs; nullopt if `name` is not one of them.
std::optional<bool> applyFlagKnob(Knobs& knobs, const std::string& name, std::string_view value) {
  bool* target = name == "blackhole"  ? &knobs.blackhole
                 : name == "trailers" ? &knobs.trailers
                 : name == "close"    ? &knobs.close
                                      : nullptr;
  if (target == nullptr) {
    return std::nullopt;
  }
  auto b = parseBool(value);
  if (b) {
    *target = *b;
  }
  return b.has_value();
}

// "name:value" (spaces after the colon dropped); the name is lowercased.
bool applyHeaderKnob(Knobs& knobs, std::string_view value) {
  const auto colon = value.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return false;
  }
  std::string_view v = value.substr(colon + 1);
  while (!v.empty() && v.front() == ' ') {
    v.remove_prefix(1);
  }
  knobs.headers.emplace_back(toLower(value.substr(0, colon)), std::string(v));
  return true;
}

} // namespace

std::optional<uint64_t> parseUnsigned(std::string_view text) {
  uint64_t v = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || ptr != end || text.empty()) {
    return std::nullopt;
  }
  return v;
}

std::optional<std::chrono::milliseconds> parseMillis(std::string_view text) {
  uint64_t scale = 1;
  if (text.ends_with("ms")) {
    text.remove_suffix(2);
  } else if (text.ends_with("s")) {
    text.remove_suffix(1);
    scale = 1000;
  } else if (text.ends_with("m")) {
    text.remove_suffix(1);
    scale = 60000;
  }
  auto n = parseUnsigned(text);
  if (!n || *n > (uint64_t{1} << 40U)) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<int64_t>(*n * scale));
}

std::optional<ResetMode> parseResetMode(std::string_view text) {
  if (text == "before_headers") {
    return ResetMode::BeforeHeaders;
  }
  if (text == "after_headers") {
    return ResetMode::AfterHeaders;
  }
  if (text == "mid_body") {
    return ResetMode::MidBody;
  }
  if (text == "none" || text == "0") {
    return ResetMode::None;
  }
  return std::nullopt;
}

std::string percentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (ch == '+') {
      out.push_back(' ');
    } else if (ch == '%' && i + 2 < text.size()) {
      unsigned v = 0;
      auto [ptr, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, v, 16);
      if (ec == std::errc() && ptr == text.data() + i + 3) {
        out.push_back(static_cast<char>(v));
        i += 2;
      } else {
        out.push_back(ch);
      }
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

bool applyKnob(Knobs& knobs, std::string_view raw_name, std::string_view value) {
  const std::string name = normalize(raw_name);
  if (const auto applied = applyNumberKnob(knobs, name, value)) {
    return *applied;
  }
  if (const auto applied = applyFlagKnob(knobs, name, value)) {
    return *applied;
  }
  if (name == "reset") {
    auto m = parseResetMode(value);
    if (m) {
      knobs.reset = *m;
    }
    return m.has_value();
  }
  if (name == "fail_ratio") {
    auto r = parseRatio(value);
    if (r) {
      knobs.fail_ratio = *r;
    }
    return r.has_value();
  }
  if (name == "header") {
    return applyHeaderKnob(knobs, value);
  }
  return false;
}

void applyQuery(Knobs& knobs, std::string_view query) {
  size_t guard = 0;
  while (!query.empty() && guard++ < 10000) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const auto eq = pair.find('=');
    const std::string name = percentDecode(pair.substr(0, eq));
    const std::string value =
        eq == std::string_view::npos ? std::string{} : percentDecode(pair.substr(eq + 1));
    applyKnob(knobs, name, value);
  }
}

std::optional<Options> parseOptions(int argc, char** argv, std::string& error) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      error = std::string(kUsage);
      return std::nullopt;
    }
    if (!arg.starts_with("--")) {
      error = "unexpected argument: " + std::string(arg) + "\n" + std::string(kUsage);
      return std::nullopt;
    }
    arg.remove_prefix(2);
    std::string value;
    const auto eq = arg.find('=');
    std::string name = normalize(arg.substr(0, eq));
    if (eq != std::string_view::npos) {
      value = std::string(arg.substr(eq + 1));
    } else if (isBooleanFlag(name)) {
      value = "1";
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      error = "missing value for --" + name + "\n";
      return std::nullopt;
    }
    if (name == "verbose") {
      options.verbose = value != "0" && value != "false";
      continue;
    }
    if (!applyFlagOnly(options, name, value) && !applyKnob(options.defaults, name, value)) {
      error = "bad flag or value: --";
      error.append(name).append(" ").append(value).append("\n").append(kUsage);
      return std::nullopt;
    }
  }
  return options;
}

} // namespace seawall::test_upstream
