// The last good response per request (method + path + query), for the `last_good` fallback:
// bounded by age (`ttl`) and by total size (`max_bytes`). Pure logic: time is passed in.
//
// Exact semantics:
// - put() stores or replaces the entry of `key` with `now` as its store time and makes it the
//   most recently used. get() returns the entry while now < stored_at + ttl and makes it the
//   most recently used; from stored_at + ttl on it is gone (evicted by the get() that finds it
//   expired, or by a later put() that needs room).
// - bytes() is the sum of entryBytes() over the entries: key, status line, header names and
//   values, body, plus a fixed estimate of container overhead per entry and per header, so that
//   many tiny entries are bounded too. It never exceeds max_bytes: put() first evicts every
//   expired entry (oldest stored first, O(1) each), then least recently stored or used entries
//   until the new one fits.
// - An entry whose entryBytes() exceeds max_bytes is refused (put() returns false) and the cache
//   is left as it was, including any older entry under the same key. ttl <= 0 refuses every put.
// - Expiry order is the order of put() calls; workers whose `now` differ by a few microseconds
//   may leave a just-expired entry until the next put() or get() of it.
// - get() hands out a shared_ptr to the immutable stored response: no copy under the lock, and
//   the response stays valid after eviction for as long as the caller holds it.
//
// Threads: shared by all workers of a route, behind one mutex. put() and get() are O(1) under
// the lock (hash lookup, list splice), plus evictions; responses are built outside the lock.
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace seawall::filters::fallback {

struct CachedResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

class LastGoodCache {
public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // Fixed overhead counted per entry and per header (approximate node and string sizes).
  static constexpr size_t kEntryOverheadBytes = 128;
  static constexpr size_t kHeaderOverheadBytes = 32;

  LastGoodCache(std::chrono::milliseconds ttl, size_t max_bytes);

  // "GET /path?query": the cache key of a request; `path` is origin-form, query included.
  static std::string makeKey(std::string_view method, std::string_view path);
  // What an entry counts against max_bytes.
  static size_t entryBytes(std::string_view key, const CachedResponse& response);

  // Stores `response` as the last good one for `key`; false when it is too large (or ttl <= 0).
  bool put(TimePoint now, std::string key, CachedResponse response);
  // The last good response for `key` if younger than ttl, else nullptr.
  std::shared_ptr<const CachedResponse> get(TimePoint now, std::string_view key);

  size_t bytes() const;
  size_t size() const;
  std::chrono::milliseconds ttl() const { return ttl_; }
  size_t maxBytes() const { return max_bytes_; }

private:
  struct Entry {
    std::string key;
    std::shared_ptr<const CachedResponse> response;
    TimePoint stored_at;
    size_t bytes = 0;
    std::list<std::string_view>::iterator age_pos; // this entry's place in by_age_
  };
  using Lru = std::list<Entry>; // front: most recently stored or used

  bool expired(TimePoint now, const Entry& entry) const;
  // Removes `it` from the list, the index and the byte count. Lock held.
  void erase(Lru::iterator it);

  const std::chrono::milliseconds ttl_;
  const size_t max_bytes_;

  mutable std::mutex mutex_;
  // All guarded by mutex_. The string_views view Entry::key inside lru_ (list nodes never move).
  Lru lru_;
  std::unordered_map<std::string_view, Lru::iterator> by_key_;
  std::list<std::string_view> by_age_; // keys in store order: front expires first
  size_t bytes_ = 0;
};

} // namespace seawall::filters::fallback
