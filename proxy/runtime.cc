#include "proxy/runtime.h"

#include <netdb.h>

#include <array>
#include <chrono>

#include "filters/async_202/async_filter.h"
#include "filters/async_202/memory_job_store.h"
#include "filters/async_202/redis_job_store.h"
#include "filters/circuit_breaker/breaker_filter.h"
#include "filters/concurrency_limits/limits_filter.h"
#include "filters/fallback/fallback_filter.h"
#include "filters/retry/retry_filter.h"
#include "filters/timeout/timeout_filter.h"
#include "proxy/common/log.h"
#include "proxy/worker.h"

namespace seawall::proxy {
namespace {

bool hasBreaker(const config::Config& config, const std::string& cluster) {
  const config::Cluster* c = config.findCluster(cluster);
  return c != nullptr && c->breaker.has_value();
}

std::unique_ptr<RouteRuntime> buildRoute(const config::Config& config, const config::Route& route,
                                         filters::async_202::JobStore& jobs) {
  auto rt = std::make_unique<RouteRuntime>();
  if (route.async) {
    // First: it sees the final response, after retries and fallbacks, and owns the job.
    rt->factories.push_back(std::make_unique<filters::async_202::AsyncFilterFactory>(
        filters::async_202::AsyncPolicy::fromConfig(*route.async), &jobs));
  }
  if (route.fallback) {
    if (route.fallback->kind == config::FallbackConfig::Kind::LastGood) {
      rt->last_good = std::make_unique<filters::fallback::LastGoodCache>(
          route.fallback->last_good.ttl, route.fallback->last_good.max_bytes);
    }
    rt->factories.push_back(std::make_unique<filters::fallback::FallbackFilterFactory>(
        *route.fallback, rt->last_good.get()));
  }
  rt->factories.push_back(
      std::make_unique<filters::timeout::TimeoutFilterFactory>(route.timeout, route.idle_timeout));
  if (route.retry) {
    filters::retry::RetryBudgetPolicy budget;
    budget.ratio = route.retry->budget.ratio;
    budget.min_per_second = route.retry->budget.min_per_second;
    rt->retry_budget =
        std::make_unique<filters::retry::RetryBudget>(budget, std::chrono::steady_clock::now());
    rt->factories.push_back(
        std::make_unique<filters::retry::RetryFilterFactory>(*route.retry, rt->retry_budget.get()));
  }
  bool breaker = hasBreaker(config, route.cluster);
  if (route.fallback && route.fallback->kind == config::FallbackConfig::Kind::Cluster) {
    breaker = breaker || hasBreaker(config, route.fallback->cluster);
  }
  if (breaker) {
    rt->factories.push_back(std::make_unique<filters::circuit_breaker::BreakerFilterFactory>());
  }
  rt->factories.push_back(std::make_unique<filters::concurrency_limits::LimitsFilterFactory>());
  return rt;
}

} // namespace

namespace {

// The Redis server's IP address: hiredis resolves names with a blocking call at every connect,
// so a name is resolved once here (at start, on the main thread).
std::string redisHost(const config::HostPort& address) {
  if (address.isIpLiteral()) {
    return address.host;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(address.host.c_str(), nullptr, &hints, &found) != 0 || found == nullptr) {
    logError("async_store: cannot resolve the redis address " + address.host +
             "; jobs cannot be stored until it resolves at the next start");
    return address.host;
  }
  std::array<char, NI_MAXHOST> ip{};
  const int rc = getnameinfo(found->ai_addr, found->ai_addrlen, ip.data(), ip.size(), nullptr, 0,
                             NI_NUMERICHOST);
  freeaddrinfo(found);
  return rc == 0 ? std::string(ip.data()) : address.host;
}

} // namespace

std::unique_ptr<filters::async_202::JobStore> makeJobStore(const config::Config& config) {
  filters::async_202::JobStoreLimits limits;
  limits.max_jobs = config.async_store.max_jobs;
  limits.max_bytes = config.async_store.max_bytes;
  if (config.async_store.backend == config::AsyncStoreConfig::Backend::Redis) {
    filters::async_202::RedisStoreOptions options;
    options.host = redisHost(config.async_store.redis.address);
    options.port = config.async_store.redis.address.port;
    options.key_prefix = config.async_store.redis.key_prefix;
    options.limits = limits;
    return std::make_unique<filters::async_202::RedisJobStore>(std::move(options));
  }
  return std::make_unique<filters::async_202::MemoryJobStore>(limits);
}

void AsyncJobs::registerJob(const std::string& id, Worker* worker) {
  const std::lock_guard lock(mutex_);
  owners_[id] = worker;
}

void AsyncJobs::unregisterJob(const std::string& id) {
  const std::lock_guard lock(mutex_);
  owners_.erase(id);
}

Worker* AsyncJobs::owner(const std::string& id) const {
  const std::lock_guard lock(mutex_);
  auto it = owners_.find(id);
  return it != owners_.end() ? it->second : nullptr;
}

void AsyncJobs::abortRunning(const std::string& id) const {
  if (Worker* worker = owner(id)) {
    worker->post([worker, id] { worker->cancelJob(id); });
  }
}

Runtime::Runtime(std::shared_ptr<const config::Config> config)
    : Runtime(config, nullptr, std::make_shared<AsyncJobs>(makeJobStore(*config))) {}

Runtime::Runtime(std::shared_ptr<const config::Config> config, const Runtime* previous,
                 std::shared_ptr<AsyncJobs> jobs)
    : config_(std::move(config)), jobs_(std::move(jobs)) {
  for (const config::Cluster& c : config_->clusters) {
    std::shared_ptr<ClusterRuntime> kept;
    if (previous != nullptr) {
      const config::Cluster* before = previous->config_->findCluster(c.name);
      auto it = previous->clusters_.find(c.name);
      if (before != nullptr && *before == c && it != previous->clusters_.end()) {
        kept = it->second; // same definition: breaker, ejections and limit counts carry on
      }
    }
    clusters_.emplace(c.name, kept ? std::move(kept) : std::make_shared<ClusterRuntime>(c));
  }
  for (const config::Listener& l : config_->listeners) {
    for (const config::Route& r : l.routes) {
      routes_.emplace(&r, buildRoute(*config_, r, jobs_->store()));
    }
  }
}

Runtime::~Runtime() = default;

ClusterRuntime* Runtime::cluster(const std::string& name) const {
  auto it = clusters_.find(name);
  return it != clusters_.end() ? it->second.get() : nullptr;
}

RouteRuntime* Runtime::route(const config::Route* route) const {
  auto it = routes_.find(route);
  return it != routes_.end() ? it->second.get() : nullptr;
}

std::vector<ClusterRuntime*> Runtime::clusters() const {
  std::vector<ClusterRuntime*> out;
  out.reserve(clusters_.size());
  for (const auto& [name, c] : clusters_) {
    out.push_back(c.get());
  }
  return out;
}

} // namespace seawall::proxy
