// dumpConfig (declared in yaml_loader.h): the effective config as YAML in the file's schema, every
// default written out, so that the admin /config endpoint shows what runs and loading the text
// back gives an equal Config.
#include <string>

#include <yaml-cpp/yaml.h>

#include "config/units.h"
#include "config/yaml_loader.h"
#include "config/yaml_names.h"

namespace seawall::config {
namespace {

const char* boolText(bool value) { return value ? "true" : "false"; }

void emitMatch(YAML::Emitter& out, const RouteMatch& match) {
  out << YAML::Key << "match" << YAML::Value << YAML::BeginMap;
  if (match.prefix) {
    out << YAML::Key << "prefix" << YAML::Value << *match.prefix;
  }
  if (match.path) {
    out << YAML::Key << "path" << YAML::Value << *match.path;
  }
  if (!match.methods.empty()) {
    out << YAML::Key << "methods" << YAML::Value << YAML::Flow << match.methods;
  }
  if (!match.headers.empty()) {
    out << YAML::Key << "headers" << YAML::Value << YAML::BeginSeq;
    for (const HeaderMatch& header : match.headers) {
      out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << header.name;
      if (header.exact) {
        out << YAML::Key << "exact" << YAML::Value << YAML::DoubleQuoted << *header.exact;
      } else if (header.prefix) {
        out << YAML::Key << "prefix" << YAML::Value << YAML::DoubleQuoted << *header.prefix;
      } else {
        out << YAML::Key << "present" << YAML::Value << boolText(header.present);
      }
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  out << YAML::EndMap;
}

void emitRetry(YAML::Emitter& out, const RetryConfig& retry) {
  out << YAML::Key << "retry" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "max_retries" << YAML::Value << retry.max_retries;
  out << YAML::Key << "on" << YAML::Value << YAML::Flow << retry.on;
  out << YAML::Key << "retriable_status" << YAML::Value << YAML::Flow << retry.retriable_status;
  out << YAML::Key << "per_try_timeout" << YAML::Value << formatDuration(retry.per_try_timeout);
  out << YAML::Key << "backoff" << YAML::Value << YAML::Flow << YAML::BeginMap;
  out << YAML::Key << "base" << YAML::Value << formatDuration(retry.backoff.base);
  out << YAML::Key << "max" << YAML::Value << formatDuration(retry.backoff.max) << YAML::EndMap;
  out << YAML::Key << "honor_retry_after" << YAML::Value << boolText(retry.honor_retry_after);
  out << YAML::Key << "budget" << YAML::Value << YAML::Flow << YAML::BeginMap;
  out << YAML::Key << "ratio" << YAML::Value << formatRatio(retry.budget.ratio);
  out << YAML::Key << "min_per_second" << YAML::Value << retry.budget.min_per_second
      << YAML::EndMap;
  out << YAML::Key << "retry_non_idempotent" << YAML::Value << boolText(retry.retry_non_idempotent);
  out << YAML::Key << "retry_idempotency_key" << YAML::Value
      << boolText(retry.retry_idempotency_key);
  out << YAML::EndMap;
}

// One kind only (the loader reads exactly one); a static fallback's body_file was read into body.
void emitFallback(YAML::Emitter& out, const FallbackConfig& fallback) {
  out << YAML::Key << "fallback" << YAML::Value << YAML::BeginMap;
  switch (fallback.kind) {
  case FallbackConfig::Kind::Static:
    out << YAML::Key << "status" << YAML::Value << fallback.status;
    if (!fallback.headers.empty()) {
      out << YAML::Key << "headers" << YAML::Value << YAML::BeginMap;
      for (const auto& [name, value] : fallback.headers) {
        out << YAML::Key << name << YAML::Value << YAML::DoubleQuoted << value;
      }
      out << YAML::EndMap;
    }
    out << YAML::Key << "body" << YAML::Value << YAML::DoubleQuoted << fallback.body;
    break;
  case FallbackConfig::Kind::Cluster:
    out << YAML::Key << "cluster" << YAML::Value << fallback.cluster;
    break;
  case FallbackConfig::Kind::LastGood:
    out << YAML::Key << "last_good" << YAML::Value << YAML::Flow << YAML::BeginMap;
    out << YAML::Key << "ttl" << YAML::Value << formatDuration(fallback.last_good.ttl);
    out << YAML::Key << "max_bytes" << YAML::Value << formatSize(fallback.last_good.max_bytes)
        << YAML::EndMap;
    break;
  }
  out << YAML::Key << "on_upstream_5xx" << YAML::Value << boolText(fallback.on_upstream_5xx);
  out << YAML::EndMap;
}

void emitAsync(YAML::Emitter& out, const AsyncConfig& async) {
  out << YAML::Key << "async" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "after" << YAML::Value << formatDuration(async.after);
  out << YAML::Key << "when" << YAML::Value << std::string(nameOf(kAsyncWhenNames, async.when));
  out << YAML::Key << "retry_after" << YAML::Value << formatDuration(async.retry_after);
  out << YAML::Key << "retention" << YAML::Value << formatDuration(async.retention);
  out << YAML::Key << "callback_header" << YAML::Value << YAML::DoubleQuoted
      << async.callback_header;
  out << YAML::Key << "callback_allow" << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const std::string& host : async.callback_allow) {
    out << YAML::DoubleQuoted << host;
  }
  out << YAML::EndSeq;
  out << YAML::Key << "queue_while_down" << YAML::Value << boolText(async.queue_while_down);
  out << YAML::Key << "max_result_bytes" << YAML::Value << formatSize(async.max_result_bytes);
  out << YAML::EndMap;
}

void emitAsyncStore(YAML::Emitter& out, const AsyncStoreConfig& store) {
  out << YAML::Key << "async_store" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "backend" << YAML::Value
      << std::string(nameOf(kAsyncBackendNames, store.backend));
  out << YAML::Key << "max_jobs" << YAML::Value << store.max_jobs;
  out << YAML::Key << "max_bytes" << YAML::Value << formatSize(store.max_bytes);
  out << YAML::Key << "redis" << YAML::Value << YAML::Flow << YAML::BeginMap;
  out << YAML::Key << "address" << YAML::Value << store.redis.address.toString();
  out << YAML::Key << "key_prefix" << YAML::Value << YAML::DoubleQuoted << store.redis.key_prefix
      << YAML::EndMap;
  out << YAML::EndMap;
}

void emitRoute(YAML::Emitter& out, const Route& route) {
  out << YAML::BeginMap;
  emitMatch(out, route.match);
  out << YAML::Key << "cluster" << YAML::Value << route.cluster;
  out << YAML::Key << "timeout" << YAML::Value << formatDuration(route.timeout);
  out << YAML::Key << "idle_timeout" << YAML::Value << formatDuration(route.idle_timeout);
  if (route.retry) {
    emitRetry(out, *route.retry);
  }
  if (route.fallback) {
    emitFallback(out, *route.fallback);
  }
  if (route.async) {
    emitAsync(out, *route.async);
  }
  out << YAML::EndMap;
}

void emitListener(YAML::Emitter& out, const Listener& listener) {
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << listener.name;
  out << YAML::Key << "address" << YAML::Value << listener.address.toString();
  out << YAML::Key << "protocols" << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (Protocol protocol : listener.protocols) {
    out << std::string(nameOf(kProtocolNames, protocol));
  }
  out << YAML::EndSeq;
  out << YAML::Key << "transparent" << YAML::Value << listener.transparent;
  const ListenerLimits& limits = listener.limits;
  out << YAML::Key << "limits" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "max_header_bytes" << YAML::Value << formatSize(limits.max_header_bytes);
  out << YAML::Key << "max_concurrent_streams" << YAML::Value << limits.max_concurrent_streams;
  out << YAML::Key << "idle_timeout" << YAML::Value << formatDuration(limits.idle_timeout);
  out << YAML::Key << "request_buffer" << YAML::Value << formatSize(limits.request_buffer);
  out << YAML::EndMap;
  out << YAML::Key << "routes" << YAML::Value << YAML::BeginSeq;
  for (const Route& route : listener.routes) {
    emitRoute(out, route);
  }
  out << YAML::EndSeq << YAML::EndMap;
}

void emitBreaker(YAML::Emitter& out, const BreakerConfig& breaker) {
  const bool count = breaker.window_type == BreakerConfig::WindowType::Count;
  out << YAML::Key << "breaker" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "window" << YAML::Value << YAML::Flow << YAML::BeginMap;
  out << YAML::Key << "type" << YAML::Value
      << std::string(nameOf(kWindowTypeNames, breaker.window_type));
  out << YAML::Key << "size" << YAML::Value
      << (count ? std::to_string(breaker.window_calls) : formatDuration(breaker.window_time));
  out << YAML::EndMap;
  out << YAML::Key << "minimum_calls" << YAML::Value << breaker.minimum_calls;
  out << YAML::Key << "failure_rate" << YAML::Value << formatRatio(breaker.failure_rate);
  out << YAML::Key << "slow_call" << YAML::Value << YAML::Flow << YAML::BeginMap;
  out << YAML::Key << "duration" << YAML::Value << formatDuration(breaker.slow_call_duration);
  out << YAML::Key << "rate" << YAML::Value << formatRatio(breaker.slow_call_rate) << YAML::EndMap;
  out << YAML::Key << "open_for" << YAML::Value << formatDuration(breaker.open_for);
  out << YAML::Key << "half_open_calls" << YAML::Value << breaker.half_open_calls;
  out << YAML::Key << "failure_on" << YAML::Value << YAML::Flow << breaker.failure_on;
  out << YAML::Key << "open_on_retry_after" << YAML::Value << boolText(breaker.open_on_retry_after);
  out << YAML::Key << "mode" << YAML::Value << std::string(nameOf(kBreakerModeNames, breaker.mode));
  out << YAML::EndMap;
}

void emitResilience(YAML::Emitter& out, const Cluster& cluster) {
  const ClusterLimits& limits = cluster.limits;
  out << YAML::Key << "limits" << YAML::Value << YAML::Flow << YAML::BeginMap;
  out << YAML::Key << "max_connections" << YAML::Value << limits.max_connections;
  out << YAML::Key << "max_pending" << YAML::Value << limits.max_pending;
  out << YAML::Key << "max_requests" << YAML::Value << limits.max_requests;
  out << YAML::Key << "max_retries" << YAML::Value << limits.max_retries << YAML::EndMap;
  if (cluster.breaker) {
    emitBreaker(out, *cluster.breaker);
  }
  if (cluster.outlier) {
    const OutlierConfig& outlier = *cluster.outlier;
    out << YAML::Key << "outlier" << YAML::Value << YAML::Flow << YAML::BeginMap;
    out << YAML::Key << "consecutive_failures" << YAML::Value << outlier.consecutive_failures;
    out << YAML::Key << "ejection_time" << YAML::Value << formatDuration(outlier.ejection_time);
    out << YAML::Key << "max_ejection" << YAML::Value << formatRatio(outlier.max_ejection)
        << YAML::EndMap;
  }
}

void emitCluster(YAML::Emitter& out, const Cluster& cluster) {
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << cluster.name;
  out << YAML::Key << "type" << YAML::Value << std::string(nameOf(kClusterTypeNames, cluster.type));
  out << YAML::Key << "protocol" << YAML::Value
      << std::string(nameOf(kClusterProtocolNames, cluster.protocol));
  out << YAML::Key << "endpoints" << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const HostPort& endpoint : cluster.endpoints) {
    out << endpoint.toString();
  }
  out << YAML::EndSeq;
  out << YAML::Key << "connect_timeout" << YAML::Value << formatDuration(cluster.connect_timeout);
  out << YAML::Key << "load_balancing" << YAML::Value
      << std::string(nameOf(kLoadBalancingNames, cluster.load_balancing));
  out << YAML::Key << "dns_refresh" << YAML::Value << formatDuration(cluster.dns_refresh);
  out << YAML::Key << "max_idle_connections" << YAML::Value << cluster.max_idle_connections;
  out << YAML::Key << "idle_connection_timeout" << YAML::Value
      << formatDuration(cluster.idle_connection_timeout);
  emitResilience(out, cluster);
  out << YAML::EndMap;
}

} // namespace

std::string dumpConfig(const Config& config) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "admin" << YAML::Value << YAML::BeginMap << YAML::Key << "address"
      << YAML::Value << config.admin.address.toString() << YAML::EndMap;
  out << YAML::Key << "workers" << YAML::Value;
  if (config.workers == 0) {
    out << "auto";
  } else {
    out << config.workers;
  }
  out << YAML::Key << "drain_timeout" << YAML::Value << formatDuration(config.drain_timeout);
  out << YAML::Key << "watch_config" << YAML::Value << config.watch_config;
  if (!config.access_log.path.empty()) {
    out << YAML::Key << "access_log" << YAML::Value << YAML::BeginMap << YAML::Key << "path"
        << YAML::Value << config.access_log.path << YAML::EndMap;
  }
  out << YAML::Key << "listeners" << YAML::Value << YAML::BeginSeq;
  for (const Listener& listener : config.listeners) {
    emitListener(out, listener);
  }
  out << YAML::EndSeq;
  out << YAML::Key << "clusters" << YAML::Value << YAML::BeginSeq;
  for (const Cluster& cluster : config.clusters) {
    emitCluster(out, cluster);
  }
  out << YAML::EndSeq;
  emitAsyncStore(out, config.async_store);
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

} // namespace seawall::config
