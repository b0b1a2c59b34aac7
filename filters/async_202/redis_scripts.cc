#include "filters/async_202/redis_scripts.h"

#include <charconv>

namespace seawall::filters::async_202 {
namespace {

// Shared by the scripts that sweep or change a job. KEYS as in kScriptKeys. unpack() is bounded
// by Lua's C stack (about 8000 values): members go in batches of 500.
constexpr std::string_view kSweepLua = R"lua(
local function sweep(now)
  local dropped = 0
  for z = 2, 4 do
    while true do
      local ids = redis.call('ZRANGEBYSCORE', KEYS[z], '-inf', now, 'LIMIT', 0, 500)
      if #ids == 0 then break end
      local sizes = redis.call('HMGET', KEYS[5], unpack(ids))
      local total = 0
      for i = 1, #sizes do total = total + (tonumber(sizes[i]) or 0) end
      redis.call('HDEL', KEYS[5], unpack(ids))
      redis.call('ZREM', KEYS[z], unpack(ids))
      if total > 0 then redis.call('DECRBY', KEYS[6], total) end
      dropped = dropped + #ids
    end
  end
  return dropped
end
)lua";

// The job at KEYS[1] if live and PROCESSING; else nil, plus its state when `token` (a write's
// unique tag, "" for none) is the one that ended it: a replayed write that was applied already.
constexpr std::string_view kLiveLua = R"lua(
local function job(now, token)
  local f = redis.call('HMGET', KEYS[1], 'state', 'expires_ms', 'write')
  if not f[1] or not f[2] or tonumber(f[2]) <= now then return nil, nil end
  if token ~= '' and f[3] == token then return nil, f[1] end
  if f[1] ~= 'PROCESSING' then return nil, nil end
  return f, nil
end
local function move(id, to, expires)
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[to], expires, id)
end
)lua";

constexpr std::string_view kCreateBody = R"lua(
local now = tonumber(ARGV[1])
local dropped = sweep(now)
local existing = redis.call('HGET', KEYS[1], 'expires_ms')
if existing and tonumber(existing) > now then return {0, dropped} end
local count = redis.call('ZCARD', KEYS[2]) + redis.call('ZCARD', KEYS[3]) +
              redis.call('ZCARD', KEYS[4])
local bytes = tonumber(redis.call('GET', KEYS[6]) or '0')
local jb = tonumber(ARGV[7])
local max_bytes = tonumber(ARGV[9])
if count >= tonumber(ARGV[8]) or jb > max_bytes or bytes > max_bytes - jb then
  return {0, dropped}
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'state', 'PROCESSING', 'reason', '', 'created_ms', ARGV[3],
           'expires_ms', ARGV[4], 'method', ARGV[5], 'path', ARGV[6])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
redis.call('HSET', KEYS[5], ARGV[2], ARGV[7])
redis.call('INCRBY', KEYS[6], ARGV[7])
return {1, dropped}
)lua";

constexpr std::string_view kCompleteBody = R"lua(
local f, seen = job(tonumber(ARGV[1]), ARGV[9])
if seen then return seen == 'COMPLETED' and 1 or 2 end
if not f then return 0 end
local bytes = tonumber(redis.call('GET', KEYS[6]) or '0')
local rb = tonumber(ARGV[7])
if rb + bytes > tonumber(ARGV[8]) then
  redis.call('HSET', KEYS[1], 'state', 'FAILED', 'reason', 'result-too-large', 'write', ARGV[9])
  move(ARGV[2], 4, f[2])
  return 2
end
redis.call('HSET', KEYS[1], 'state', 'COMPLETED', 'status', ARGV[3], 'headers', ARGV[4],
           'body', ARGV[5], 'trailers', ARGV[6], 'write', ARGV[9])
redis.call('HINCRBY', KEYS[5], ARGV[2], ARGV[7])
redis.call('INCRBY', KEYS[6], ARGV[7])
move(ARGV[2], 3, f[2])
return 1
)lua";

constexpr std::string_view kFailBody = R"lua(
local f, seen = job(tonumber(ARGV[1]), ARGV[6])
if seen then return 1 end
if not f then return 0 end
redis.call('HSET', KEYS[1], 'state', 'FAILED', 'reason', ARGV[3], 'write', ARGV[6])
move(ARGV[2], 4, f[2])
if ARGV[4] ~= '' then redis.call('PUBLISH', ARGV[4], ARGV[5]) end
return 1
)lua";

constexpr std::string_view kSweepBody = R"lua(
local dropped = sweep(tonumber(ARGV[1]))
return {dropped, redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[3]),
        redis.call('ZCARD', KEYS[4]), tonumber(redis.call('GET', KEYS[6]) or '0')}
)lua";

constexpr RedisScript kCreate{"create", kSweepLua, kCreateBody};
constexpr RedisScript kComplete{"complete", kLiveLua, kCompleteBody};
constexpr RedisScript kFail{"fail", kLiveLua, kFailBody};
constexpr RedisScript kSweep{"sweep", kSweepLua, kSweepBody};

void appendLength(std::string& out, size_t n) {
  out += std::to_string(n);
  out += ':';
}

// Reads "<n>:" then n bytes from `in` at `pos`.
std::optional<std::string> readChunk(std::string_view in, size_t& pos) {
  const size_t colon = in.find(':', pos);
  if (colon == std::string_view::npos) {
    return std::nullopt;
  }
  size_t n = 0;
  const auto [end, ec] = std::from_chars(in.data() + pos, in.data() + colon, n);
  if (ec != std::errc() || end != in.data() + colon || n > in.size() - colon - 1) {
    return std::nullopt;
  }
  std::string chunk(in.substr(colon + 1, n));
  pos = colon + 1 + n;
  return chunk;
}

} // namespace

const RedisScript& createScript() { return kCreate; }
const RedisScript& completeScript() { return kComplete; }
const RedisScript& failScript() { return kFail; }
const RedisScript& sweepScript() { return kSweep; }

std::string encodeFields(const Fields& fields) {
  std::string out;
  for (const auto& [name, value] : fields) {
    appendLength(out, name.size());
    out += name;
    appendLength(out, value.size());
    out += value;
  }
  return out;
}

std::optional<Fields> decodeFields(std::string_view encoded) {
  Fields fields;
  size_t pos = 0;
  while (pos < encoded.size()) {
    auto name = readChunk(encoded, pos);
    if (!name) {
      return std::nullopt;
    }
    auto value = readChunk(encoded, pos);
    if (!value) {
      return std::nullopt;
    }
    fields.emplace_back(std::move(*name), std::move(*value));
  }
  return fields;
}

} // namespace seawall::filters::async_202
