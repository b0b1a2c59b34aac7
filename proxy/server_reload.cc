// Hot reload: SIGHUP (and a change of the file with `watch_config: true`) loads the config file
// again. A file that does not load or validate, or that changes what only a restart can change,
// leaves the running config as it is. A good one becomes a new generation: workers start new
// streams on it, streams in flight finish on theirs, and clusters whose definition did not change
// keep their breaker, outlier and limit state and their connection pools.
#include <signal.h>

#include <chrono>
#include <variant>

#include "config/yaml_loader.h"
#include "proxy/common/log.h"
#include "proxy/server.h"

namespace seawall::proxy {
namespace {

// What a reload cannot change (sockets are bound and threads started at start): "" when the two
// agree, else a reason naming the first difference.
std::string restartOnlyChange(const config::Config& running, const config::Config& next) {
  if (running.workers != next.workers) {
    return "workers";
  }
  if (running.admin != next.admin) {
    return "admin.address";
  }
  if (running.access_log != next.access_log) {
    return "access_log";
  }
  if (running.async_store != next.async_store) {
    return "async_store";
  }
  if (running.listeners.size() != next.listeners.size()) {
    return "the list of listeners";
  }
  for (size_t i = 0; i < next.listeners.size(); ++i) {
    const config::Listener& a = running.listeners[i];
    const config::Listener& b = next.listeners[i];
    if (a.name != b.name || a.address != b.address) {
      return "listeners[" + std::to_string(i) + "] name or address";
    }
  }
  return "";
}

bool sameFile(const struct stat& a, const struct stat& b) {
  return a.st_ino == b.st_ino && a.st_dev == b.st_dev && a.st_size == b.st_size &&
         a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

} // namespace

void Server::initReloadMetrics() {
  reloads_ = &prometheus::BuildCounter()
                  .Name("seawall_config_reloads_total")
                  .Help("Config reloads (SIGHUP or watch_config), by outcome.")
                  .Register(metrics_.registry());
  reloads_->Add({{"outcome", "success"}});
  reloads_->Add({{"outcome", "failure"}});
  last_reload_ok_ = &prometheus::BuildGauge()
                         .Name("seawall_config_last_reload_successful")
                         .Help("1 when the last reload (or the start) applied its config, else 0.")
                         .Register(metrics_.registry())
                         .Add({});
  last_reload_ok_->Set(1);
  last_reload_time_ = &prometheus::BuildGauge()
                           .Name("seawall_config_last_reload_success_timestamp_seconds")
                           .Help("When the running config was applied, seconds since the epoch.")
                           .Register(metrics_.registry())
                           .Add({});
  last_reload_time_->SetToCurrentTime();
  // The store's limits (async_store changes need a restart, so they are set once).
  auto& limits = prometheus::BuildGauge()
                     .Name("seawall_async_store_limit")
                     .Help("The async job store's limits: max_jobs (jobs) and max_bytes (bytes).")
                     .Register(metrics_.registry());
  limits.Add({{"resource", "jobs"}}).Set(static_cast<double>(config_->async_store.max_jobs));
  limits.Add({{"resource", "bytes"}}).Set(static_cast<double>(config_->async_store.max_bytes));
}

void Server::countReload(bool ok) {
  reloads_->Add({{"outcome", ok ? "success" : "failure"}}).Increment();
  last_reload_ok_->Set(ok ? 1 : 0);
  if (ok) {
    last_reload_time_->SetToCurrentTime();
  }
}

void Server::onReloadSignal(evutil_socket_t /*sig*/, short /*what*/, void* arg) noexcept {
  auto* self = static_cast<Server*>(arg);
  logInfo("received SIGHUP, reloading " + self->config_->source_path);
  std::string error;
  self->reload(error);
}

bool Server::reload(std::string& error) {
  const bool ok = [&] {
    if (draining_) {
      error = "draining: reload ignored";
      return false;
    }
    if (config_->source_path.empty()) {
      error = "the running config was not loaded from a file";
      return false;
    }
    ::stat(config_->source_path.c_str(), &watched_);
    auto loaded = config::loadConfigFile(config_->source_path);
    if (auto* err = std::get_if<config::ConfigError>(&loaded)) {
      error = err->toString();
      return false;
    }
    auto next = std::make_shared<const config::Config>(std::move(std::get<config::Config>(loaded)));
    const std::string fixed = restartOnlyChange(*config_, *next);
    if (!fixed.empty()) {
      error = next->source_path + ": " + fixed + " changed, which needs a restart";
      return false;
    }
    if (*next == *config_) {
      return true; // nothing to do; still a successful reload
    }
    auto runtime = std::make_shared<Runtime>(next, runtime_.get(), runtime_->jobs());
    for (auto& w : workers_) {
      Worker* worker = w.get();
      worker->post([worker, runtime] { worker->applyGeneration(runtime); });
    }
    config_ = std::move(next);
    runtime_ = std::move(runtime);
    startDns();
    return true;
  }();
  countReload(ok);
  if (ok) {
    logInfo("config reloaded from " + config_->source_path);
    watchConfig();
  } else {
    logError("config reload failed, the running config stays: " + error);
  }
  return ok;
}

void Server::watchConfig() {
  if (!config_->watch_config) {
    if (watch_timer_) {
      watch_timer_->disable(); // not reset: this may run inside the timer's own callback
    }
    return;
  }
  if (!watch_timer_) {
    watch_timer_ = dispatcher_->createTimer([this] {
      struct stat now {};
      // A file being replaced may be missing for a moment: wait for it to come back.
      if (::stat(config_->source_path.c_str(), &now) == 0 && !sameFile(now, watched_)) {
        watched_ = now;
        logInfo("config file changed, reloading " + config_->source_path);
        std::string error;
        reload(error);
      }
      if (config_->watch_config) {
        watch_timer_->enable(std::chrono::seconds(1));
      }
    });
  }
  watch_timer_->enable(std::chrono::seconds(1));
}

} // namespace seawall::proxy
