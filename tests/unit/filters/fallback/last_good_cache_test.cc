#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "filters/fallback/last_good_cache.h"

namespace seawall::filters::fallback {
namespace {

using std::chrono::milliseconds;
using TimePoint = LastGoodCache::TimePoint;

constexpr TimePoint kT0 = TimePoint{} + std::chrono::hours(1000);

TimePoint at(int64_t ms) { return kT0 + milliseconds(ms); }

CachedResponse response(std::string body, int status = 200) {
  return CachedResponse{status, {{"content-type", "application/json"}}, std::move(body)};
}

// Size of an entry with key `key` and the headers of response(): so tests can place bounds.
size_t sizeOf(const std::string& key, size_t body_bytes) {
  return LastGoodCache::entryBytes(key, response(std::string(body_bytes, 'x')));
}

TEST(LastGoodCacheTest, MakeKeyIsMethodSpacePathWithQuery) {
  EXPECT_EQ("GET /items?page=2", LastGoodCache::makeKey("GET", "/items?page=2"));
  EXPECT_NE(LastGoodCache::makeKey("GET", "/items?page=2"),
            LastGoodCache::makeKey("GET", "/items?page=3"));
  EXPECT_NE(LastGoodCache::makeKey("GET", "/a"), LastGoodCache::makeKey("HEAD", "/a"));
}

TEST(LastGoodCacheTest, EntryBytesCountsKeyHeadersBodyAndOverhead) {
  const CachedResponse r{200, {{"ab", "cde"}, {"f", ""}}, std::string(10, 'x')};
  EXPECT_EQ(LastGoodCache::kEntryOverheadBytes + 5 + 10 +
                (2 * LastGoodCache::kHeaderOverheadBytes) + 5 + 1,
            LastGoodCache::entryBytes("GET /", r));
}

TEST(LastGoodCacheTest, StoresAndReturnsTheResponse) {
  LastGoodCache cache(milliseconds(1000), 1 << 20);
  const CachedResponse stored{201, {{"a", "1"}, {"b", "2"}}, "hello"};
  ASSERT_TRUE(cache.put(at(0), "GET /x", stored));
  const auto got = cache.get(at(1), "GET /x");
  ASSERT_NE(nullptr, got);
  EXPECT_EQ(201, got->status);
  EXPECT_EQ(stored.headers, got->headers);
  EXPECT_EQ("hello", got->body);
  EXPECT_EQ(nullptr, cache.get(at(1), "GET /y"));
  EXPECT_EQ(1U, cache.size());
  EXPECT_EQ(LastGoodCache::entryBytes("GET /x", stored), cache.bytes());
}

TEST(LastGoodCacheTest, TtlExpiry) {
  struct Case {
    int64_t get_at_ms;
    bool found;
  };
  // Stored at 100 with ttl 1000: alive on [100, 1100).
  const std::vector<Case> cases = {
      {100, true}, {600, true}, {1099, true}, {1100, false}, {5000, false}};
  for (const Case& c : cases) {
    SCOPED_TRACE("get at " + std::to_string(c.get_at_ms));
    LastGoodCache cache(milliseconds(1000), 1 << 20);
    ASSERT_TRUE(cache.put(at(100), "GET /a", response("a")));
    EXPECT_EQ(c.found, cache.get(at(c.get_at_ms), "GET /a") != nullptr);
    // An expired entry is evicted by the get that finds it.
    EXPECT_EQ(c.found ? 1U : 0U, cache.size());
    EXPECT_EQ(c.found ? sizeOf("GET /a", 1) : 0U, cache.bytes());
  }
}

TEST(LastGoodCacheTest, GetDoesNotExtendTtlAndOverwriteRestartsIt) {
  LastGoodCache cache(milliseconds(1000), 1 << 20);
  ASSERT_TRUE(cache.put(at(0), "GET /a", response("old")));
  EXPECT_NE(nullptr, cache.get(at(900), "GET /a"));
  EXPECT_EQ(nullptr, cache.get(at(1000), "GET /a")); // used at 900, still stored at 0
  ASSERT_TRUE(cache.put(at(1000), "GET /a", response("new")));
  const auto got = cache.get(at(1999), "GET /a");
  ASSERT_NE(nullptr, got);
  EXPECT_EQ("new", got->body);
}

TEST(LastGoodCacheTest, PutEvictsExpiredEntriesFirst) {
  // Room for three entries. a expires; b and c are live; d needs room: a goes, not b.
  const size_t one = sizeOf("GET /a", 10);
  LastGoodCache cache(milliseconds(1000), 3 * one);
  ASSERT_TRUE(cache.put(at(0), "GET /a", response(std::string(10, 'a'))));
  ASSERT_TRUE(cache.put(at(500), "GET /b", response(std::string(10, 'b'))));
  ASSERT_TRUE(cache.put(at(600), "GET /c", response(std::string(10, 'c'))));
  ASSERT_NE(nullptr, cache.get(at(700), "GET /a")); // a is now the most recently used
  ASSERT_TRUE(cache.put(at(1000), "GET /d", response(std::string(10, 'd'))));
  EXPECT_EQ(3U, cache.size());
  EXPECT_NE(nullptr, cache.get(at(1000), "GET /b"));
  EXPECT_NE(nullptr, cache.get(at(1000), "GET /c"));
  EXPECT_NE(nullptr, cache.get(at(1000), "GET /d"));
  EXPECT_EQ(3 * one, cache.bytes());
}

TEST(LastGoodCacheTest, LruEvictionAtTheByteBound) {
  struct Case {
    std::string name;
    std::vector<std::string> touched; // keys read between the puts of a, b, c and that of d
    std::vector<std::string> kept;    // expected survivors after putting d
    std::vector<std::string> evicted;
  };
  const std::vector<Case> cases = {
      {"least_recently_stored_goes", {}, {"b", "c", "d"}, {"a"}},
      {"a_get_protects_an_entry", {"a"}, {"a", "c", "d"}, {"b"}},
      {"two_gets", {"a", "b"}, {"a", "b", "d"}, {"c"}},
      {"latest_get_wins", {"b", "a", "c", "b"}, {"b", "c", "d"}, {"a"}},
  };
  const size_t one = sizeOf("GET /a", 100);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    LastGoodCache cache(milliseconds(60000), 3 * one); // room for exactly three
    for (const char* k : {"a", "b", "c"}) {
      ASSERT_TRUE(cache.put(at(0), std::string("GET /") + k, response(std::string(100, *k))));
    }
    for (const std::string& k : c.touched) {
      ASSERT_NE(nullptr, cache.get(at(1), "GET /" + k));
    }
    ASSERT_TRUE(cache.put(at(2), "GET /d", response(std::string(100, 'd'))));
    EXPECT_EQ(3U, cache.size());
    EXPECT_EQ(3 * one, cache.bytes());
    for (const std::string& k : c.kept) {
      EXPECT_NE(nullptr, cache.get(at(3), "GET /" + k)) << k;
    }
    for (const std::string& k : c.evicted) {
      EXPECT_EQ(nullptr, cache.get(at(3), "GET /" + k)) << k;
    }
  }
}

TEST(LastGoodCacheTest, LargeEntryEvictsAsManyAsNeeded) {
  const size_t small = sizeOf("GET /a", 10);
  LastGoodCache cache(milliseconds(60000), 4 * small);
  for (const char* k : {"a", "b", "c", "d"}) {
    ASSERT_TRUE(cache.put(at(0), std::string("GET /") + k, response(std::string(10, 'x'))));
  }
  // Needs the room of almost three small entries: a, b and c go, d stays.
  const size_t body = (3 * small) - sizeOf("GET /e", 0);
  ASSERT_TRUE(cache.put(at(1), "GET /e", response(std::string(body, 'e'))));
  EXPECT_EQ(2U, cache.size());
  EXPECT_EQ(4 * small, cache.bytes());
  EXPECT_NE(nullptr, cache.get(at(2), "GET /d"));
  EXPECT_EQ(nullptr, cache.get(at(2), "GET /a"));
}

TEST(LastGoodCacheTest, OversizedEntryIsRefusedAndCacheUnchanged) {
  struct Case {
    size_t body_bytes; // with max_bytes = sizeOf("GET /big", 100)
    bool stored;
  };
  const std::vector<Case> cases = {{99, true}, {100, true}, {101, false}, {100000, false}};
  const size_t bound = sizeOf("GET /big", 100);
  for (const Case& c : cases) {
    SCOPED_TRACE("body " + std::to_string(c.body_bytes));
    LastGoodCache cache(milliseconds(60000), bound);
    ASSERT_TRUE(cache.put(at(0), "GET /big", response("old")));
    EXPECT_EQ(c.stored, cache.put(at(1), "GET /big", response(std::string(c.body_bytes, 'n'))));
    const auto got = cache.get(at(2), "GET /big");
    ASSERT_NE(nullptr, got);
    EXPECT_EQ(c.stored ? std::string(c.body_bytes, 'n') : "old", got->body);
    EXPECT_EQ(sizeOf("GET /big", c.stored ? c.body_bytes : 3), cache.bytes());
    EXPECT_EQ(1U, cache.size());
  }
}

TEST(LastGoodCacheTest, ZeroBoundsStoreNothing) {
  LastGoodCache no_bytes(milliseconds(1000), 0);
  EXPECT_FALSE(no_bytes.put(at(0), "GET /", response("")));
  LastGoodCache no_ttl(milliseconds(0), 1 << 20);
  EXPECT_FALSE(no_ttl.put(at(0), "GET /", response("")));
  EXPECT_EQ(0U, no_bytes.size() + no_ttl.size());
  EXPECT_EQ(nullptr, no_ttl.get(at(0), "GET /"));
}

TEST(LastGoodCacheTest, OverwriteUpdatesBytes) {
  struct Case {
    size_t first;
    size_t second;
  };
  const std::vector<Case> cases = {{10, 500}, {500, 10}, {42, 42}, {0, 0}};
  for (const Case& c : cases) {
    SCOPED_TRACE(std::to_string(c.first) + " -> " + std::to_string(c.second));
    LastGoodCache cache(milliseconds(60000), 1 << 20);
    ASSERT_TRUE(cache.put(at(0), "GET /other", response("o")));
    ASSERT_TRUE(cache.put(at(0), "GET /k", response(std::string(c.first, '1'))));
    EXPECT_EQ(sizeOf("GET /other", 1) + sizeOf("GET /k", c.first), cache.bytes());
    ASSERT_TRUE(cache.put(at(1), "GET /k", response(std::string(c.second, '2'))));
    EXPECT_EQ(sizeOf("GET /other", 1) + sizeOf("GET /k", c.second), cache.bytes());
    EXPECT_EQ(2U, cache.size());
    const auto got = cache.get(at(2), "GET /k");
    ASSERT_NE(nullptr, got);
    EXPECT_EQ(std::string(c.second, '2'), got->body);
  }
}

TEST(LastGoodCacheTest, ReturnedResponseOutlivesEviction) {
  const size_t one = sizeOf("GET /a", 5);
  LastGoodCache cache(milliseconds(60000), one);
  ASSERT_TRUE(cache.put(at(0), "GET /a", response("aaaaa")));
  const auto held = cache.get(at(0), "GET /a");
  ASSERT_TRUE(cache.put(at(1), "GET /b", response("bbbbb"))); // evicts a
  EXPECT_EQ(nullptr, cache.get(at(1), "GET /a"));
  ASSERT_NE(nullptr, held);
  EXPECT_EQ("aaaaa", held->body);
}

// Two workers store and read overlapping keys; the bounds hold throughout.
TEST(LastGoodCacheTest, ConcurrencySmoke) {
  constexpr int kRounds = 3000;
  const size_t bound = 8 * sizeOf("GET /k0", 64);
  LastGoodCache cache(milliseconds(50), bound);
  auto worker = [&cache, bound](int seed) {
    for (int i = 0; i < kRounds; ++i) {
      const std::string key = "GET /k" + std::to_string((i * 7 + seed) % 16);
      cache.put(at(i), key, response(std::string(static_cast<size_t>((i + seed) % 64), 'x')));
      if (const auto got = cache.get(at(i), "GET /k" + std::to_string((i + seed) % 16))) {
        EXPECT_EQ(200, got->status);
      }
      EXPECT_LE(cache.bytes(), bound);
    }
  };
  std::thread a(worker, 0);
  std::thread b(worker, 5);
  a.join();
  b.join();
  EXPECT_LE(cache.bytes(), bound);
  EXPECT_LE(cache.size(), 16U);
  EXPECT_GT(cache.size(), 0U);
}

} // namespace
} // namespace seawall::filters::fallback
