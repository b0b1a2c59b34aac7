// A strict JSON reader for tests (RFC 8259): a document tree for files the tests check, such as
// the Grafana dashboard, and for the answers of Prometheus' HTTP API. Parsing fails on anything
// that is not JSON (trailing commas, comments, single quotes, bare words, trailing text).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace seawall::test {

struct JsonMember;

struct JsonValue {
  enum class Kind { Null, Bool, Number, String, Array, Object };

  Kind kind = Kind::Null;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<JsonValue> array;
  std::vector<JsonMember> object; // in document order

  bool isNull() const { return kind == Kind::Null; }
  bool isString() const { return kind == Kind::String; }
  bool isArray() const { return kind == Kind::Array; }
  bool isObject() const { return kind == Kind::Object; }
  // The member `key` of an object, or nullptr (not an object, or no such member).
  const JsonValue* find(std::string_view key) const;
  // The string member `key`, or "" (absent or not a string).
  std::string str(std::string_view key) const;
  // Elements of an array, members' values of an object, 0 otherwise.
  size_t size() const;
};

struct JsonMember {
  std::string key;
  JsonValue value;
};

// The document, or nullopt with `error` (if given) set to "offset N: what".
std::optional<JsonValue> parseJson(std::string_view text, std::string* error = nullptr);

} // namespace seawall::test
