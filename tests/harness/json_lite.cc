#include "tests/harness/json_lite.h"

#include <charconv>

namespace seawall::test {
namespace {

// Position just after `"key"` and the colon (and spaces), or npos.
size_t valueStart(std::string_view json, std::string_view key) {
  const std::string quoted = "\"" + std::string(key) + "\"";
  size_t pos = json.find(quoted);
  while (pos != std::string_view::npos) {
    size_t p = pos + quoted.size();
    while (p < json.size() && (json[p] == ' ' || json[p] == '\n')) {
      ++p;
    }
    if (p < json.size() && json[p] == ':') {
      ++p;
      while (p < json.size() && (json[p] == ' ' || json[p] == '\n')) {
        ++p;
      }
      return p;
    }
    pos = json.find(quoted, pos + 1);
  }
  return std::string_view::npos;
}

} // namespace

std::optional<int64_t> jsonNumber(std::string_view json, std::string_view key) {
  const size_t p = valueStart(json, key);
  if (p == std::string_view::npos) {
    return std::nullopt;
  }
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(json.data() + p, json.data() + json.size(), v);
  if (ec != std::errc()) {
    return std::nullopt;
  }
  return v;
}

std::optional<std::string> jsonString(std::string_view json, std::string_view key) {
  size_t p = valueStart(json, key);
  if (p == std::string_view::npos || p >= json.size() || json[p] != '"') {
    return std::nullopt;
  }
  std::string out;
  for (++p; p < json.size(); ++p) {
    const char c = json[p];
    if (c == '"') {
      return out;
    }
    if (c == '\\' && p + 1 < json.size()) {
      const char e = json[++p];
      out.push_back(e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e);
    } else {
      out.push_back(c);
    }
  }
  return std::nullopt;
}

size_t countOccurrences(std::string_view haystack, std::string_view needle) {
  if (needle.empty()) {
    return 0;
  }
  size_t count = 0;
  for (size_t pos = haystack.find(needle); pos != std::string_view::npos;
       pos = haystack.find(needle, pos + needle.size())) {
    ++count;
  }
  return count;
}

} // namespace seawall::test
