#include "filters/fallback/last_good_cache.h"

#include <iterator>

namespace seawall::filters::fallback {

LastGoodCache::LastGoodCache(std::chrono::milliseconds ttl, size_t max_bytes)
    : ttl_(ttl), max_bytes_(max_bytes) {}

std::string LastGoodCache::makeKey(std::string_view method, std::string_view path) {
  std::string key;
  key.reserve(method.size() + 1 + path.size());
  key.append(method);
  key.push_back(' ');
  key.append(path);
  return key;
}

size_t LastGoodCache::entryBytes(std::string_view key, const CachedResponse& response) {
  size_t bytes = kEntryOverheadBytes + key.size() + response.body.size();
  for (const auto& [name, value] : response.headers) {
    bytes += kHeaderOverheadBytes + name.size() + value.size();
  }
  return bytes;
}

bool LastGoodCache::expired(TimePoint now, const Entry& entry) const {
  // now >= stored_at + ttl, written so that it cannot overflow.
  return now - entry.stored_at >= ttl_;
}

void LastGoodCache::erase(Lru::iterator it) {
  by_age_.erase(it->age_pos);
  by_key_.erase(std::string_view(it->key));
  bytes_ -= it->bytes;
  lru_.erase(it);
}

bool LastGoodCache::put(TimePoint now, std::string key, CachedResponse response) {
  const size_t entry_bytes = entryBytes(key, response);
  if (entry_bytes > max_bytes_ || ttl_ <= std::chrono::milliseconds::zero()) {
    return false;
  }
  // Built before taking the lock; the old response (if any) is freed after releasing it.
  Entry entry{std::move(key),
              std::make_shared<const CachedResponse>(std::move(response)),
              now,
              entry_bytes,
              {}};
  std::shared_ptr<const CachedResponse> replaced;
  const std::lock_guard lock(mutex_);
  if (auto found = by_key_.find(std::string_view(entry.key)); found != by_key_.end()) {
    replaced = std::move(found->second->response);
    erase(found->second);
  }
  // Expired entries first, oldest first; then least recently stored or used ones.
  while (!by_age_.empty()) {
    const Lru::iterator oldest = by_key_.find(by_age_.front())->second;
    if (!expired(now, *oldest)) {
      break;
    }
    erase(oldest);
  }
  while (bytes_ + entry_bytes > max_bytes_ && !lru_.empty()) {
    erase(std::prev(lru_.end()));
  }
  lru_.push_front(std::move(entry));
  Entry& stored = lru_.front();
  by_key_.emplace(std::string_view(stored.key), lru_.begin());
  stored.age_pos = by_age_.insert(by_age_.end(), std::string_view(stored.key));
  bytes_ += entry_bytes;
  return true;
}

std::shared_ptr<const CachedResponse> LastGoodCache::get(TimePoint now, std::string_view key) {
  const std::lock_guard lock(mutex_);
  const auto found = by_key_.find(key);
  if (found == by_key_.end()) {
    return nullptr;
  }
  const Lru::iterator it = found->second;
  if (expired(now, *it)) {
    erase(it);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it);
  return it->response;
}

size_t LastGoodCache::bytes() const {
  const std::lock_guard lock(mutex_);
  return bytes_;
}

size_t LastGoodCache::size() const {
  const std::lock_guard lock(mutex_);
  return lru_.size();
}

} // namespace seawall::filters::fallback
