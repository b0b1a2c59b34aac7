// Rules that a parsed Config must satisfy beyond each value's own syntax: ranges, uniqueness,
// references between sections. The loaders call validate(); code that builds a Config by hand
// (tests, tools) should call it too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "config/config.h"

namespace seawall::config {

constexpr unsigned kMaxWorkers = 256;
constexpr size_t kMinHeaderBytes = 1024;
constexpr size_t kMaxHeaderBytes = size_t{1024} * 1024;
constexpr uint32_t kMaxConcurrentStreams = 65535;
constexpr uint32_t kMaxRetries = 100;                         // retry.max_retries
constexpr size_t kMaxFallbackBodyBytes = size_t{1024} * 1024; // fallback body / body_file
constexpr Duration kMinWindowTime{10};                        // breaker time window
constexpr Duration kMinAsyncRetryAfter{1000};                 // async.retry_after
constexpr size_t kMinAsyncStoreBytes = 1024;                  // async_store.max_bytes

// The first rule broken (top level, then listeners, then clusters, each in order), located with
// config.marks (or the listener, route or cluster mark, or line 0 when neither is known); nullopt
// if the config is valid.
//  - workers 0 (auto) or 1..256; every port 1..65535
//  - at least one listener; listener names unique, [a-z0-9_-]+; listener addresses unique and
//    not overlapping (0.0.0.0:P or [::]:P overlaps any host on P); none equal to the admin address
//  - protocols non-empty without duplicates; max_header_bytes 1KiB..1MiB;
//    max_concurrent_streams 1..65535; idle_timeout > 0
//  - at least one route per listener; a route matches on exactly one of prefix and path, which
//    starts with '/' and has no '?', '#' or whitespace; methods uppercase tokens, no duplicates;
//    header names lowercase tokens, at most one of exact and prefix, neither with present: false
//  - a route's cluster exists; cluster names unique, [a-z0-9_-]+; endpoints non-empty, no
//    duplicates; connect_timeout, dns_refresh and idle_connection_timeout > 0
//  - retry: `on` tokens known (retry_decision.h parseRetryOn), no duplicates; retriable_status
//    items 100..599, non-empty when `on` lists retriable-status; max_retries <= 100;
//    0 < backoff.base <= backoff.max; per_try_timeout <= the route's timeout when both are set;
//    budget.ratio in [0, 1]
//  - fallback: static status 100..599, header names lowercase tokens without duplicates, values
//    without CR, LF or NUL, body at most 1MiB, body_file empty (the loader reads it into body);
//    cluster names a defined cluster other than the route's; last_good ttl and max_bytes > 0
//  - cluster limits: max_connections and max_requests >= 1
//  - breaker: window size >= 1 call or >= 10ms; minimum_calls >= 1; failure_rate and
//    slow_call.rate in (0, 1]; slow_call.duration, open_for > 0; half_open_calls >= 1;
//    failure_on tokens known (FailurePolicy::isKnownToken), no duplicates
//  - outlier: ejection_time > 0; max_ejection in [0, 1]
//  - async_store (checked after the top level): max_jobs >= 1; max_bytes >= 1KiB; redis key_prefix
//  non-empty, port 1..65535
//  - async: queue_while_down only with backend memory; after >= 1ms and shorter than the route's
//  timeout when that is set; retry_after >= 1s;
//    retention >= retry_after; 1B <= max_result_bytes <= async_store.max_bytes; callback_header a
//    lowercase token, set exactly when callback_allow is non-empty; callback_allow items lowercase
//    host names or IP literals (no port, no brackets), no duplicates
std::optional<ConfigError> validate(const Config& config);

} // namespace seawall::config
