// Header lists with lowercase names, and the request/response heads the codecs exchange.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace seawall::proxy {

struct Header {
  std::string name; // lowercase
  std::string value;
};

class HeaderMap {
public:
  // First value of `name` (lowercase), or nullptr.
  const std::string* get(std::string_view name) const;
  bool has(std::string_view name) const { return get(name) != nullptr; }
  void add(std::string name, std::string value);
  // Replaces every value of `name` with one.
  void set(std::string_view name, std::string value);
  // Removes every value of `name`; returns how many were removed.
  size_t remove(std::string_view name);
  // Number of headers named `name`.
  size_t count(std::string_view name) const;
  const std::vector<Header>& entries() const { return entries_; }
  std::vector<Header>& entries() { return entries_; }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  // Sum of name and value lengths (what header limits count).
  size_t byteSize() const;
  void clear() { entries_.clear(); }

private:
  std::vector<Header> entries_;
};

struct RequestHead {
  std::string method;
  std::string scheme;    // "http" unless the client said otherwise (h2 :scheme)
  std::string authority; // h2 :authority, or the Host header of HTTP/1.1
  std::string path;      // origin-form: path and query
  HeaderMap headers;     // regular headers only (no pseudo-headers, no Host)
  int version = 11;      // 10, 11 or 20
};

struct ResponseHead {
  int status = 0;
  HeaderMap headers; // regular headers only
};

// ASCII lowercase in place.
void toLower(std::string& s);
bool iequals(std::string_view a, std::string_view b);
// True when the comma-separated list `value` holds `token` (case-insensitive).
bool hasToken(std::string_view value, std::string_view token);
// Standard reason phrase for a status code ("OK", "Not Found"); "Unknown" when not known.
std::string_view reasonPhrase(int status);

} // namespace seawall::proxy
