#include "proxy/server.h"

#include <netinet/in.h>
#include <signal.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include <event2/util.h>

#include "config/yaml_loader.h"
#include "filters/async_202/callback_sender.h"
#include "proxy/access_log.h"
#include "proxy/common/dns.h"
#include "proxy/common/log.h"

namespace seawall::proxy {

struct Server::DnsQuery {
  Server* server;
  size_t target;
  uint64_t generation;
};

Server::Server(std::shared_ptr<const config::Config> config) : config_(std::move(config)) {
  base_.reset(event_base_new());
  dispatcher_ = std::make_unique<Dispatcher>(base_.get());
  mailbox_ = std::make_unique<WorkerMailbox>(base_.get());
}

Server::~Server() {
  for (auto& w : workers_) {
    w->post([w = w.get()] { w->stop(); });
  }
  for (auto& w : workers_) {
    w->join();
  }
  workers_.clear();
  if (runtime_) {
    runtime_->jobStore().stopListening();
    runtime_->jobStore().detachThread();
  }
  admin_server_.reset();
  if (dns_ != nullptr) {
    evdns_base_free(dns_, 0);
  }
  signals_.clear();
  dns_timer_.reset();
  job_expiry_timer_.reset();
  drain_timer_.reset();
  dispatcher_->flush();
  mailbox_.reset();
  dispatcher_.reset();
}

bool Server::start(std::string& error) {
  if (!config_->access_log.path.empty()) {
    access_log_ = AccessLog::open(config_->access_log.path, error);
    if (!access_log_) {
      return false;
    }
  }
  runtime_ = std::make_shared<Runtime>(config_);
  initReloadMetrics();
  // A networked job store: the main thread's connection (expiry sweeps, gauges), and cancels
  // made on other replicas, which abort the upstream call here if the job runs here.
  runtime_->jobStore().attachThread(base_.get());
  runtime_->jobStore().listenForRemoteCancels(
      base_.get(), [jobs = runtime_->jobs()](const std::string& id) { jobs->abortRunning(id); });
  unsigned n =
      config_->workers != 0 ? config_->workers : std::max(1U, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i) {
    auto worker = std::make_unique<Worker>(i, runtime_, metrics_.addWorker(), access_log_.get());
    if (!worker->bindListeners(error)) {
      return false;
    }
    workers_.push_back(std::move(worker));
  }

  admin::AdminSources sources;
  sources.draining = [this] { return draining_; };
  sources.config_yaml = [this] { return config::dumpConfig(*config_); };
  sources.clusters_json = [this] { return clustersJson(); };
  sources.metrics = &metrics_;
  sources.cluster_runtimes = [this] { return runtime_->clusters(); };
  metrics_.setClusterRuntimes([this] { return runtime_->clusters(); });
  metrics_.setJobStore(&runtime_->jobStore());
  metrics_.setCallbackCounters([this] {
    std::vector<const filters::async_202::CallbackCounters*> out;
    for (const auto& worker : workers_) {
      out.push_back(&worker->callbackSender().counters());
    }
    return out;
  });
  // Jobs of 202 conversion expire `retention` after acceptance; sweep them once a second.
  job_expiry_timer_ = dispatcher_->createTimer([this] {
    runtime_->jobStore().expire(std::chrono::system_clock::now());
    job_expiry_timer_->enable(std::chrono::seconds(1));
  });
  job_expiry_timer_->enable(std::chrono::seconds(1));
  admin_handler_ = std::make_unique<admin::AdminHandler>(std::move(sources));
  admin_server_ = std::make_unique<admin::AdminServer>(*dispatcher_, *admin_handler_);
  if (!admin_server_->listen(config_->admin.address, error)) {
    return false;
  }

  for (int sig : {SIGTERM, SIGINT}) {
    signals_.emplace_back(evsignal_new(base_.get(), sig, &Server::onSignal, this));
    evsignal_add(signals_.back().get(), nullptr);
  }
  signals_.emplace_back(evsignal_new(base_.get(), SIGHUP, &Server::onReloadSignal, this));
  evsignal_add(signals_.back().get(), nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  if (!config_->source_path.empty()) {
    ::stat(config_->source_path.c_str(), &watched_);
  }
  watchConfig();
  startDns();

  for (auto& w : workers_) {
    w->start();
  }
  std::string listeners;
  for (const auto& l : config_->listeners) {
    listeners += " " + l.name + "=" + l.address.toString();
  }
  logInfo("seawall started: " + std::to_string(workers_.size()) + " workers, admin " +
          config_->admin.address.toString() + ", listeners" + listeners);
  return true;
}

int Server::run() {
  event_base_loop(base_.get(), EVLOOP_NO_EXIT_ON_EMPTY);
  return 0;
}

void Server::onSignal(evutil_socket_t sig, short /*what*/, void* arg) noexcept {
  auto* self = static_cast<Server*>(arg);
  logInfo(std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") + ", draining");
  self->beginDrain();
}

void Server::beginDrain() {
  if (draining_) {
    // A second signal: stop at once.
    finishDrain();
    return;
  }
  draining_ = true;
  drain_timer_ = dispatcher_->createTimer([this] {
    logWarn("drain timeout reached with requests in flight; exiting");
    finishDrain();
  });
  drain_timer_->enable(config_->drain_timeout);
  for (auto& w : workers_) {
    Worker* worker = w.get();
    worker->post([this, worker] {
      worker->startDrain([this] {
        mailbox_->send([this] {
          if (++workers_drained_ == workers_.size()) {
            logInfo("drained: every in-flight request finished");
            finishDrain();
          }
        });
      });
    });
  }
}

void Server::finishDrain() {
  for (auto& w : workers_) {
    w->post([w = w.get()] { w->stop(); });
  }
  event_base_loopexit(base_.get(), nullptr);
}

void Server::startDns() {
  dns_targets_.clear();
  ++dns_generation_;
  for (const auto& cluster : config_->clusters) {
    for (const auto& ep : cluster.endpoints) {
      if (!ep.isIpLiteral()) {
        dns_targets_.push_back(DnsTarget{cluster.name, ep, {}, "not resolved yet"});
      }
    }
  }
  if (dns_targets_.empty()) {
    if (dns_timer_) {
      dns_timer_->disable();
    }
    return;
  }
  if (dns_ == nullptr) {
    dns_ = newDnsBase(base_.get());
  }
  resolveAll();
}

void Server::resolveAll() {
  for (size_t i = 0; i < dns_targets_.size(); ++i) {
    evutil_addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    std::string port = std::to_string(dns_targets_[i].endpoint.port);
    // Owned by the callback, which evdns always calls exactly once.
    auto* query = new DnsQuery{this, i, dns_generation_}; // NOLINT(cppcoreguidelines-owning-memory)
    evdns_getaddrinfo(
        dns_, dns_targets_[i].endpoint.host.c_str(), port.c_str(), &hints,
        [](int result, evutil_addrinfo* res, void* arg) noexcept {
          std::unique_ptr<DnsQuery> q(static_cast<DnsQuery*>(arg));
          if (result == EVUTIL_EAI_CANCEL || q->generation != q->server->dns_generation_) {
            if (result == 0) {
              evutil_freeaddrinfo(res);
            }
            return;
          }
          DnsTarget& target = q->server->dns_targets_[q->target];
          if (result != 0) {
            // Keep the last good addresses: a failed refresh must not empty the cluster.
            target.last_error = evutil_gai_strerror(result);
            logWarn("DNS: cannot resolve " + target.endpoint.toString() + ": " + target.last_error);
            return;
          }
          target.resolved.clear();
          target.last_error.clear();
          for (auto* ai = res; ai != nullptr; ai = ai->ai_next) {
            ResolvedEndpoint r;
            std::memcpy(&r.address, ai->ai_addr, ai->ai_addrlen);
            r.address_len = static_cast<socklen_t>(ai->ai_addrlen);
            r.name = formatSockaddr(ai->ai_addr);
            target.resolved.push_back(std::move(r));
          }
          evutil_freeaddrinfo(res);
          q->server->publishEndpoints(target.cluster);
        },
        query);
  }
  auto refresh = config::Duration::max();
  for (const auto& c : config_->clusters) {
    refresh = std::min(refresh, c.dns_refresh);
  }
  if (!dns_timer_) {
    dns_timer_ = dispatcher_->createTimer([this] { resolveAll(); });
  }
  dns_timer_->enable(refresh);
}

void Server::publishEndpoints(const std::string& cluster_name) {
  const config::Cluster* cluster = config_->findCluster(cluster_name);
  if (cluster == nullptr) {
    return;
  }
  std::vector<ResolvedEndpoint> all;
  for (const auto& ep : cluster->endpoints) {
    ResolvedEndpoint r;
    if (resolveLiteral(ep, r)) {
      all.push_back(std::move(r));
    }
  }
  for (const auto& t : dns_targets_) {
    if (t.cluster == cluster_name) {
      all.insert(all.end(), t.resolved.begin(), t.resolved.end());
    }
  }
  for (auto& w : workers_) {
    Worker* worker = w.get();
    worker->post([worker, cluster_name, all] { worker->setEndpoints(cluster_name, all); });
  }
}

void Server::appendEndpointJson(std::string& out, const std::string& cluster,
                                const config::HostPort& ep,
                                const std::vector<std::string>& ejected) const {
  const auto isEjected = [&](const std::string& name) {
    return std::find(ejected.begin(), ejected.end(), name) != ejected.end();
  };
  out += "{\"address\":";
  appendJsonString(out, ep.toString());
  out += ",\"resolved\":[";
  if (ep.isIpLiteral()) {
    appendJsonString(out, ep.toString());
    out += isEjected(ep.toString()) ? "],\"ejected\":[" : "],\"ejected\":[]";
    if (isEjected(ep.toString())) {
      appendJsonString(out, ep.toString());
      out += "]";
    }
    out += isEjected(ep.toString()) ? ",\"health\":\"ejected\"}" : ",\"health\":\"healthy\"}";
    return;
  }
  const DnsTarget* target = nullptr;
  for (const auto& t : dns_targets_) {
    if (t.cluster == cluster && t.endpoint.toString() == ep.toString()) {
      target = &t;
    }
  }
  bool first = true;
  if (target != nullptr) {
    for (const auto& r : target->resolved) {
      out += first ? "" : ",";
      first = false;
      appendJsonString(out, r.name);
    }
  }
  out += "],\"ejected\":[";
  size_t out_count = 0;
  if (target != nullptr) {
    for (const auto& r : target->resolved) {
      if (isEjected(r.name)) {
        out += out_count++ == 0 ? "" : ",";
        appendJsonString(out, r.name);
      }
    }
  }
  out += "],\"health\":";
  const bool resolved = target != nullptr && !target->resolved.empty();
  if (!resolved) {
    out += "\"unresolved\"";
  } else {
    out += out_count == target->resolved.size() ? "\"ejected\"" : "\"healthy\"";
  }
  if (target != nullptr && !target->last_error.empty()) {
    out += ",\"dns_error\":";
    appendJsonString(out, target->last_error);
  }
  out += "}";
}

std::string Server::clustersJson() const {
  std::string out = "{\"clusters\":[";
  bool first_cluster = true;
  for (const auto& c : config_->clusters) {
    out += first_cluster ? "" : ",";
    first_cluster = false;
    out += "{\"name\":";
    appendJsonString(out, c.name);
    out += ",\"type\":\"";
    out += c.type == config::ClusterType::OriginalDst ? "original_dst" : "static";
    out += "\",\"protocol\":\"";
    out += c.protocol == config::ClusterProtocol::H2 ? "h2" : "http1";
    out += "\",\"load_balancing\":\"";
    out += c.load_balancing == config::LoadBalancing::RoundRobin ? "round_robin" : "least_request";
    out += "\",\"endpoints\":[";
    std::vector<std::string> ejected;
    if (ClusterRuntime* rt = runtime_->cluster(c.name)) {
      ejected = rt->ejectedEndpoints(std::chrono::steady_clock::now());
    }
    bool first = true;
    for (const auto& ep : c.endpoints) {
      out += first ? "" : ",";
      first = false;
      appendEndpointJson(out, c.name, ep, ejected);
    }
    out += "]}";
  }
  out += "]}\n";
  return out;
}

} // namespace seawall::proxy
