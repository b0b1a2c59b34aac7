#include "tests/harness/json_value.h"

#include <cstdint>
#include <cstdlib>
#include <utility>

namespace seawall::test {
namespace {

constexpr int kMaxDepth = 200;

class Reader {
public:
  explicit Reader(std::string_view text) : text_(text) {}

  std::optional<JsonValue> document() {
    JsonValue value;
    skipSpace();
    if (!readValue(value, 0)) {
      return std::nullopt;
    }
    skipSpace();
    if (pos_ != text_.size()) {
      return fail("text after the document");
    }
    return value;
  }

  const std::string& error() const { return error_; }

private:
  std::nullopt_t fail(const std::string& what) {
    if (error_.empty()) {
      error_ = "offset " + std::to_string(pos_) + ": " + what;
    }
    return std::nullopt;
  }

  void skipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) {
      fail("bad literal");
      return false;
    }
    pos_ += word.size();
    return true;
  }

  bool readValue(JsonValue& out, int depth) {
    if (depth > kMaxDepth) {
      fail("nested too deep");
      return false;
    }
    if (pos_ >= text_.size()) {
      fail("unexpected end");
      return false;
    }
    switch (text_[pos_]) {
    case '{':
      return readObject(out, depth);
    case '[':
      return readArray(out, depth);
    case '"':
      out.kind = JsonValue::Kind::String;
      return readString(out.string);
    case 't':
      out.kind = JsonValue::Kind::Bool;
      out.boolean = true;
      return literal("true");
    case 'f':
      out.kind = JsonValue::Kind::Bool;
      return literal("false");
    case 'n':
      return literal("null");
    default:
      return readNumber(out);
    }
  }

  bool readObject(JsonValue& out, int depth) {
    out.kind = JsonValue::Kind::Object;
    ++pos_; // '{'
    skipSpace();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      return true;
    }
    while (true) {
      skipSpace();
      JsonMember member;
      if (pos_ >= text_.size() || text_[pos_] != '"' || !readString(member.key)) {
        fail("expected a member name");
        return false;
      }
      skipSpace();
      if (pos_ >= text_.size() || text_[pos_] != ':') {
        fail("expected ':'");
        return false;
      }
      ++pos_;
      skipSpace();
      if (!readValue(member.value, depth + 1)) {
        return false;
      }
      out.object.push_back(std::move(member));
      skipSpace();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == '}') {
        ++pos_;
        return true;
      }
      fail("expected ',' or '}'");
      return false;
    }
  }

  bool readArray(JsonValue& out, int depth) {
    out.kind = JsonValue::Kind::Array;
    ++pos_; // '['
    skipSpace();
    if (pos_ < text_.size() && text_[pos_] == ']') {
      ++pos_;
      return true;
    }
    while (true) {
      skipSpace();
      JsonValue element;
      if (!readValue(element, depth + 1)) {
        return false;
      }
      out.array.push_back(std::move(element));
      skipSpace();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == ']') {
        ++pos_;
        return true;
      }
      fail("expected ',' or ']'");
      return false;
    }
  }

  static bool isDigit(char c) { return c >= '0' && c <= '9'; }

  bool readNumber(JsonValue& out) {
    const size_t start = pos_;
    auto digits = [this] {
      const size_t from = pos_;
      while (pos_ < text_.size() && isDigit(text_[pos_])) {
        ++pos_;
      }
      return pos_ > from;
    };
    if (pos_ < text_.size() && text_[pos_] == '-') {
      ++pos_;
    }
    if (pos_ < text_.size() && text_[pos_] == '0') {
      ++pos_;
    } else if (!digits()) {
      fail("bad value");
      return false;
    }
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (!digits()) {
        fail("bad fraction");
        return false;
      }
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) {
        ++pos_;
      }
      if (!digits()) {
        fail("bad exponent");
        return false;
      }
    }
    out.kind = JsonValue::Kind::Number;
    out.number = std::strtod(std::string(text_.substr(start, pos_ - start)).c_str(), nullptr);
    return true;
  }

  static void appendUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::optional<uint32_t> hex4() {
    if (pos_ + 4 > text_.size()) {
      return std::nullopt;
    }
    uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[pos_++];
      value <<= 4U;
      if (isDigit(c)) {
        value |= static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        value |= static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        value |= static_cast<uint32_t>(c - 'A' + 10);
      } else {
        return std::nullopt;
      }
    }
    return value;
  }

  bool readEscape(std::string& out) {
    const char c = text_[pos_++];
    switch (c) {
    case '"':
    case '\\':
    case '/':
      out += c;
      return true;
    case 'b':
      out += '\b';
      return true;
    case 'f':
      out += '\f';
      return true;
    case 'n':
      out += '\n';
      return true;
    case 'r':
      out += '\r';
      return true;
    case 't':
      out += '\t';
      return true;
    case 'u':
      break;
    default:
      fail("bad escape");
      return false;
    }
    std::optional<uint32_t> cp = hex4();
    if (cp && *cp >= 0xD800 && *cp < 0xDC00 && text_.substr(pos_, 2) == "\\u") {
      pos_ += 2;
      const std::optional<uint32_t> low = hex4();
      if (!low || *low < 0xDC00 || *low > 0xDFFF) {
        fail("bad surrogate pair");
        return false;
      }
      cp = 0x10000 + ((*cp - 0xD800) << 10U) + (*low - 0xDC00);
    }
    if (!cp) {
      fail("bad \\u escape");
      return false;
    }
    appendUtf8(out, *cp);
    return true;
  }

  bool readString(std::string& out) {
    ++pos_; // '"'
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) {
        fail("control character in a string");
        return false;
      }
      ++pos_;
      if (c != '\\') {
        out += c;
      } else if (pos_ >= text_.size() || !readEscape(out)) {
        fail("bad escape");
        return false;
      }
    }
    fail("unterminated string");
    return false;
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::string error_;
};

} // namespace

const JsonValue* JsonValue::find(std::string_view key) const {
  for (const JsonMember& member : object) {
    if (member.key == key) {
      return &member.value;
    }
  }
  return nullptr;
}

std::string JsonValue::str(std::string_view key) const {
  const JsonValue* value = find(key);
  return value != nullptr && value->isString() ? value->string : std::string();
}

size_t JsonValue::size() const {
  if (kind == Kind::Array) {
    return array.size();
  }
  return kind == Kind::Object ? object.size() : 0;
}

std::optional<JsonValue> parseJson(std::string_view text, std::string* error) {
  Reader reader(text);
  std::optional<JsonValue> value = reader.document();
  if (!value && error != nullptr) {
    *error = reader.error();
  }
  return value;
}

} // namespace seawall::test
