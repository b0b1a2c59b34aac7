// Callback delivery for 202-converted jobs: when a job ends, its result is POSTed to the URL the
// request named in the route's `callback_header` (checked by callback_url.h against
// `callback_allow`), retried with exponential backoff and full jitter until the receiver answers
// 2xx or the job's retention ends.
//
// Wire format (HTTP/1.1, one request per attempt; every attempt sends the same bytes):
//
//   POST <path_and_query> HTTP/1.1
//   host: <host[:port]>                                  (IPv6 in brackets; port omitted when 80)
//   user-agent: seawall
//   x-seawall-job-id: <32 hex digits>
//   x-seawall-job-state: COMPLETED | FAILED
//   x-seawall-result-status: <upstream status code>      (COMPLETED only)
//   x-seawall-failure-reason: <reason>                   (FAILED only: timeout, breaker-open, ...)
//   content-type: <the result's content-type>            (COMPLETED, when the result had one)
//   content-encoding: <the result's content-encoding>    (COMPLETED, when the result had one)
//   content-length: <n>
//
//   <COMPLETED: the upstream's response body, byte for byte; FAILED: empty>
//
// The body is the result as it was, never re-encoded (binary bodies need no base64). Other
// response headers and trailers are not sent: the receiver fetches /.seawall/jobs/<id>/result for
// the full response while the job is retained.
//
// Delivered = the receiver answered 2xx. Anything else (other status, connect failure, reset,
// attempt timeout) schedules the next attempt after backoffDelay(backoff, attempt) (full jitter,
// filters/retry/backoff.h); the sender gives up (counted `failed`) when that next attempt would
// start at or after the deadline (the job's expiry). Each attempt, connect included, is bounded by
// min(attempt_timeout, time left before the deadline).
//
// A DNS-named host (allowed by name in callback_allow: the operator trusts what it resolves to) is
// resolved without blocking (evdns, on this worker's loop; the hosts file, then resolv.conf) when
// its first delivery starts, and again after a failed lookup; the first IPv4 address is used, else
// the first address. A failed lookup is a failed attempt (backoff, then a new lookup).
//
// One sender per worker, on that worker's Dispatcher; not thread-safe except counters(), whose
// values the scraper may read from another thread. Connections come from a ConnectionPool per
// target (host, port), owned by the sender and dropped once no delivery uses it. Destroying the
// sender cancels everything in flight: waiting requests are withdrawn, open exchanges reset, timers
// disarmed; nothing is counted for them.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <event2/util.h>

#include "filters/async_202/callback_url.h"
#include "filters/async_202/job_store.h"
#include "filters/retry/backoff.h"
#include "proxy/common/dispatcher.h"
#include "proxy/common/random.h"
#include "proxy/http/headers.h"
#include "proxy/stats/worker_stats.h"

struct evdns_base;

namespace seawall::filters::async_202 {

// seawall_callbacks_total{outcome}: delivered (a 2xx answer), retried (an attempt after the first
// one started), failed (gave up at the deadline), refused (URL not allowed or not
// deliverable: not counted as failed). One writer (the sender's worker); relaxed reads elsewhere.
struct CallbackCounters {
  proxy::stats::ShardCounter delivered;
  proxy::stats::ShardCounter retried;
  proxy::stats::ShardCounter failed;
  proxy::stats::ShardCounter refused;
};

struct CallbackSenderOptions {
  retry::BackoffPolicy backoff{std::chrono::seconds(1), std::chrono::seconds(60)};
  std::chrono::milliseconds attempt_timeout{5000};
};

// What a callback reports: the job and how it ended.
struct CallbackMessage {
  std::string job_id;
  JobState state = JobState::Completed;    // Completed or Failed
  std::string failure_reason;              // Failed only
  std::shared_ptr<const JobResult> result; // Completed only (null: status 0, empty body)
};

// The request head of the wire format above (content-length included); pure.
proxy::RequestHead callbackRequestHead(const CallbackTarget& target,
                                       const CallbackMessage& message);

class CallbackSender {
public:
  using TimePoint = std::chrono::steady_clock::time_point;

  CallbackSender(proxy::Dispatcher& dispatcher, proxy::Random& random,
                 CallbackSenderOptions options = {});
  CallbackSender(const CallbackSender&) = delete;
  CallbackSender& operator=(const CallbackSender&) = delete;
  CallbackSender(CallbackSender&&) = delete;
  CallbackSender& operator=(CallbackSender&&) = delete;
  ~CallbackSender();

  // checkCallbackUrl. A refusal is counted `refused` and
  // its reason returned in `error`. Call it when the request arrives (before the 202), keep the
  // target with the job, and send() when the job ends.
  CallbackUrl check(std::string_view url, const std::vector<std::string>& allow);

  // Starts delivering `message` to `target` (from check()); the first attempt starts on a later
  // loop iteration, never inside this call. `deadline` is the job's expiry on the dispatcher's
  // clock (Dispatcher::now() + (expires - system_clock::now())). Returns true (kept for callers
  // that checked a refusal here before DNS names were resolved).
  bool send(const CallbackTarget& target, CallbackMessage message, TimePoint deadline);

  const CallbackCounters& counters() const { return counters_; }
  // Deliveries not yet delivered or given up.
  size_t inFlight() const { return deliveries_.size(); }

  class Delivery; // one message to one target: attempts, backoff, timers

private:
  friend class Delivery;
  struct Target; // one (host, port): its synthetic cluster and connection pool
  struct Lookup; // one DNS query in flight

  Target& targetFor(const CallbackTarget& target);
  void onDeliveryDone(Delivery& delivery);
  void sweepTargets();
  // Starts (or joins) the lookup of `target`'s DNS-named host; `delivery` hears onResolved().
  void resolve(Target& target, Delivery& delivery);
  void onLookup(const std::string& key, evutil_addrinfo* found);

  proxy::Dispatcher& dispatcher_;
  proxy::Random& random_;
  CallbackSenderOptions options_;
  CallbackCounters counters_;
  // The pools' connection counters (not exported); declared before targets_, which use them.
  std::unique_ptr<proxy::stats::ClusterStats> pool_stats_;
  std::unique_ptr<proxy::Timer> sweep_timer_;
  evdns_base* dns_ = nullptr; // made on the first DNS-named target
  // Declared before deliveries_: the pools outlive the deliveries that use them.
  std::map<std::string, std::unique_ptr<Target>, std::less<>> targets_;
  std::map<Delivery*, std::unique_ptr<Delivery>> deliveries_;
};

} // namespace seawall::filters::async_202
