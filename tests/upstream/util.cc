#include "tests/upstream/util.h"

#include <array>
#include <cstdio>

namespace seawall::test_upstream {
namespace {

std::array<uint32_t, 256> makeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) {
      c = (c & 1U) != 0 ? 0xEDB88320U ^ (c >> 1U) : c >> 1U;
    }
    table[i] = c;
  }
  return table;
}

} // namespace

uint32_t crc32Update(uint32_t crc, const char* data, size_t len) {
  static const std::array<uint32_t, 256> table = makeCrcTable();
  uint32_t c = crc ^ 0xFFFFFFFFU;
  for (size_t i = 0; i < len; ++i) {
    c = table[(c ^ static_cast<uint8_t>(data[i])) & 0xFFU] ^ (c >> 8U);
  }
  return c ^ 0xFFFFFFFFU;
}

void appendJsonString(std::string& out, std::string_view s) {
  out.push_back('"');
  for (const char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\r') {
      out += "\\r";
    } else if (ch == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", u);
      out += buf;
    } else {
      out.push_back(ch);
    }
  }
  out.push_back('"');
}

void appendJsonHeaders(std::string& out, const HeaderList& headers) {
  out.push_back('[');
  bool first = true;
  for (const auto& [name, value] : headers) {
    if (!first) {
      out.push_back(',');
    }
    first = false;
    out.push_back('[');
    appendJsonString(out, name);
    out.push_back(',');
    appendJsonString(out, value);
    out.push_back(']');
  }
  out.push_back(']');
}

void fillPattern(char* dst, uint64_t offset, size_t len) {
  for (size_t i = 0; i < len; ++i) {
    dst[i] = static_cast<char>('a' + ((offset + i) % 26));
  }
}

std::string toLower(std::string_view s) {
  std::string out(s);
  for (char& ch : out) {
    if (ch >= 'A' && ch <= 'Z') {
      ch = static_cast<char>(ch - 'A' + 'a');
    }
  }
  return out;
}

uint64_t millisSinceStart() {
  static const auto start = std::chrono::steady_clock::now();
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now() - start)
                                   .count());
}

} // namespace seawall::test_upstream
