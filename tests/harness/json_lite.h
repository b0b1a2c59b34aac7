// Just enough JSON reading for tests: the first numeric or string field with a given key, and
// counting occurrences. Not a parser; for flat, trusted JSON (test upstream, admin endpoints).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace seawall::test {

// Value of the first `"key": <integer>` in `json`.
std::optional<int64_t> jsonNumber(std::string_view json, std::string_view key);
// Value of the first `"key": "<string>"` in `json` (escapes \" \\ \n \t \r \/ decoded).
std::optional<std::string> jsonString(std::string_view json, std::string_view key);
// Non-overlapping occurrences of `needle`.
size_t countOccurrences(std::string_view haystack, std::string_view needle);

} // namespace seawall::test
