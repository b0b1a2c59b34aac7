// The Redis data model of RedisJobStore, and the Lua scripts that change it (one script per
// mutation, so that replicas sharing one Redis stay consistent). Keys, under the store's prefix P:
//   P job:<id>        hash: state, reason, created_ms, expires_ms, method, path; once COMPLETED
//                     also status, headers, body, trailers. PEXPIREAT expires_ms.
//   P jobs:processing, P jobs:completed, P jobs:failed
//                     sorted sets, member id, score expires_ms: counts per state, and the sweep.
//   P job_bytes       hash id -> what the job counts against max_bytes
//   P bytes           the sum of P job_bytes
//   P cancel          pub/sub channel: "<origin> <id>" after each cancel
// Every script takes the same six keys (kScriptKeys), in this order: job, processing, completed,
// failed, job_bytes, bytes. Times are milliseconds since the Unix epoch, from the caller's clock.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "filters/async_202/redis_connection.h"

namespace seawall::filters::async_202 {

inline constexpr size_t kScriptKeys = 6;

// ARGV: now, id, created_ms, expires_ms, method, path, job_bytes, max_jobs, max_bytes.
// Sweeps expired jobs first. Returns {created 1|0, jobs swept}.
const RedisScript& createScript();
// ARGV: now, id, status, headers, body, trailers, result_bytes, max_bytes, token.
// Returns 1 completed, 2 failed result-too-large, 0 no effect (unknown, expired, already ended).
// `token` tags the write (field `write` of the job): a replay of a write that Redis applied
// although its reply was lost (timeout) answers as the first time, so it is counted once.
const RedisScript& completeScript();
// ARGV: now, id, reason, channel ("" = none), message, token ("" = none). PROCESSING ->
// FAILED(reason), then PUBLISH message on channel. Returns 1, or 0 when no effect.
const RedisScript& failScript();
// ARGV: now. Sweeps expired jobs. Returns {swept, processing, completed, failed, bytes}.
const RedisScript& sweepScript();

using Fields = std::vector<std::pair<std::string, std::string>>;

// Binary-safe: per field "<name length>:<name><value length>:<value>".
std::string encodeFields(const Fields& fields);
std::optional<Fields> decodeFields(std::string_view encoded);

} // namespace seawall::filters::async_202
