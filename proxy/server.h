// The main thread: owns the config, the workers, the admin listener, DNS resolution of cluster
// endpoints, and signals (SIGTERM/SIGINT drain and exit, SIGHUP reloads the config file). Never on
// the data path.
#pragma once

#include <sys/stat.h>

#include <memory>
#include <string>
#include <vector>

#include <event2/dns.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>

#include "config/config.h"
#include "proxy/access_log.h"
#include "proxy/admin/admin_handler.h"
#include "proxy/admin/admin_server.h"
#include "proxy/common/dispatcher.h"
#include "proxy/common/event_ptr.h"
#include "proxy/runtime.h"
#include "proxy/stats/metrics.h"
#include "proxy/upstream/cluster.h"
#include "proxy/worker.h"
#include "proxy/worker_mailbox.h"

namespace seawall::proxy {

class Server {
public:
  explicit Server(std::shared_ptr<const config::Config> config);
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  Server(Server&&) = delete;
  Server& operator=(Server&&) = delete;
  ~Server();

  // Binds every socket and starts the workers; false with `error` set on failure.
  bool start(std::string& error);
  // Runs the main loop until drained after SIGTERM/SIGINT. Returns the process exit code.
  int run();
  // Loads, validates and applies the config file again (what SIGHUP does). On any error the
  // running config stays and `error` says why (FILE:LINE:COL: reason for a bad file).
  bool reload(std::string& error);

private:
  struct DnsTarget {
    std::string cluster;
    config::HostPort endpoint;
    std::vector<ResolvedEndpoint> resolved;
    std::string last_error;
  };
  struct DnsQuery;

  static void onSignal(evutil_socket_t sig, short what, void* arg) noexcept;
  static void onReloadSignal(evutil_socket_t sig, short what, void* arg) noexcept;
  void initReloadMetrics();
  void countReload(bool ok);
  void watchConfig(); // watch_config: polls the file's identity once a second
  void startDns();
  void beginDrain();
  void finishDrain();
  void resolveAll();
  void publishEndpoints(const std::string& cluster);
  std::string clustersJson() const;
  // `ejected`: the cluster's endpoints (resolved addresses) ejected by outlier detection now.
  void appendEndpointJson(std::string& out, const std::string& cluster, const config::HostPort& ep,
                          const std::vector<std::string>& ejected) const;

  std::shared_ptr<const config::Config> config_;
  EventBasePtr base_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<WorkerMailbox> mailbox_; // workers report back through it
  stats::Metrics metrics_;
  std::shared_ptr<Runtime> runtime_; // the current generation (workers share it)
  std::unique_ptr<Timer> job_expiry_timer_;
  std::unique_ptr<AccessLog> access_log_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<admin::AdminHandler> admin_handler_;
  std::unique_ptr<admin::AdminServer> admin_server_;
  std::vector<EventPtr> signals_;
  std::unique_ptr<Timer> drain_timer_;
  std::unique_ptr<Timer> dns_timer_;
  evdns_base* dns_ = nullptr;
  std::vector<DnsTarget> dns_targets_;
  uint64_t dns_generation_ = 0; // answers to queries of an older target list are dropped
  prometheus::Family<prometheus::Counter>* reloads_ = nullptr;
  prometheus::Gauge* last_reload_ok_ = nullptr;
  prometheus::Gauge* last_reload_time_ = nullptr;
  std::unique_ptr<Timer> watch_timer_;
  struct stat watched_ {}; // the config file as last seen (inode, size, mtime)
  size_t workers_drained_ = 0;
  bool draining_ = false;
};

} // namespace seawall::proxy
