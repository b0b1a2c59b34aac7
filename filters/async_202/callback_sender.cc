#include "filters/async_202/callback_sender.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include <event2/dns.h>

#include "config/config.h"
#include "proxy/common/dns.h"
#include "proxy/common/event_ptr.h"
#include "proxy/upstream/cluster.h"
#include "proxy/upstream/connection_pool.h"

namespace seawall::filters::async_202 {
namespace {

using proxy::ClientStream;
using proxy::UpstreamFailure;

bool isSuccess(int status) { return status >= 200 && status <= 299; }

// The result's first value of `name` (lowercase), or nullptr.
const std::string* resultHeader(const JobResult& result, std::string_view name) {
  for (const auto& [header, value] : result.headers) {
    if (proxy::iequals(header, name)) {
      return &value;
    }
  }
  return nullptr;
}

} // namespace

proxy::RequestHead callbackRequestHead(const CallbackTarget& target,
                                       const CallbackMessage& message) {
  proxy::RequestHead head;
  head.method = "POST";
  head.scheme = "http";
  head.authority = target.authority();
  head.path = target.path_and_query;
  head.headers.add("user-agent", "seawall");
  head.headers.add("x-seawall-job-id", message.job_id);
  head.headers.add("x-seawall-job-state", std::string(toString(message.state)));
  size_t body_size = 0;
  if (message.state == JobState::Failed) {
    head.headers.add("x-seawall-failure-reason", message.failure_reason);
  } else {
    const JobResult empty;
    const JobResult& result = message.result ? *message.result : empty;
    head.headers.add("x-seawall-result-status", std::to_string(result.status));
    for (std::string_view name : {"content-type", "content-encoding"}) {
      if (const std::string* value = resultHeader(result, name)) {
        head.headers.add(std::string(name), *value);
      }
    }
    body_size = result.body.size();
  }
  head.headers.add("content-length", std::to_string(body_size));
  return head;
}

struct CallbackSender::Target {
  std::string key;
  config::Cluster cluster;
  std::unique_ptr<proxy::ConnectionPool> pool; // null while a DNS-named host is not resolved
  size_t deliveries = 0;
  bool resolving = false;
  std::vector<Delivery*> waiting; // for the resolution
};

// One DNS query of a target's host; owned by evdns's callback (always called exactly once).
struct CallbackSender::Lookup {
  CallbackSender* sender;
  std::string key;
};

// One message to one target. Phases: Backoff (waiting for the next attempt), Pooling (asked the
// pool for a stream), Exchanging (request sent on a stream), Done (counted; awaiting deletion).
class CallbackSender::Delivery final : public proxy::Deletable, public proxy::UpstreamRequester {
public:
  Delivery(CallbackSender& sender, Target& target, CallbackTarget where, CallbackMessage message,
           TimePoint deadline)
      : sender_(sender), target_(target), where_(std::move(where)), message_(std::move(message)),
        deadline_(deadline),
        attempt_timer_(sender.dispatcher_.createTimer([this] { onAttemptTimeout(); })),
        backoff_timer_(sender.dispatcher_.createTimer([this] { startAttempt(); })) {}

  Delivery(const Delivery&) = delete;
  Delivery& operator=(const Delivery&) = delete;
  Delivery(Delivery&&) = delete;
  Delivery& operator=(Delivery&&) = delete;

  // Cancels what is in flight; nothing is counted (the sender is going away).
  ~Delivery() override {
    if (phase_ == Phase::Resolving) {
      std::erase(target_.waiting, this);
    } else if (phase_ == Phase::Pooling) {
      target_.pool->cancel(*this);
    } else if (phase_ == Phase::Exchanging && stream_ != nullptr) {
      ClientStream* stream = releaseStream();
      stream->reset();
    }
  }

  // The first attempt, from the backoff timer on the next loop iteration.
  void start() { backoff_timer_->enable(std::chrono::microseconds(0)); }
  Target& target() const { return target_; }

  // UpstreamRequester
  void onPoolReady(ClientStream& stream, const std::string& /*endpoint*/) override {
    phase_ = Phase::Exchanging;
    stream_ = &stream;
    proxy::RequestHead head = callbackRequestHead(where_, message_);
    const std::string* body = bodyToSend();
    stream.sendHeaders(head, body == nullptr);
    // sendHeaders may have reset the stream (onUpstreamReset): then the attempt already ended.
    if (body != nullptr && stream_ == &stream) {
      proxy::EvBufferPtr buffer = proxy::makeEvBuffer();
      evbuffer_add(buffer.get(), body->data(), body->size());
      stream.sendData(buffer.get(), true);
    }
  }
  void onPoolFailure(UpstreamFailure /*why*/) override {
    phase_ = Phase::Backoff;
    attemptFailed();
  }

  // ClientStreamCallbacks
  void onResponseHeaders(proxy::ResponseHead&& head, bool end_stream) override {
    status_ = head.status;
    if (end_stream) {
      exchangeEnded();
    }
  }
  void onResponseData(evbuffer* data, bool end_stream) override {
    evbuffer_drain(data, evbuffer_get_length(data));
    if (end_stream) {
      exchangeEnded();
    }
  }
  void onResponseTrailers(proxy::HeaderMap&& /*trailers*/) override { exchangeEnded(); }

  // The target's host resolved (its pool now exists) or did not (pool still null).
  void onResolved() {
    if (phase_ != Phase::Resolving) {
      return;
    }
    if (!target_.pool) {
      phase_ = Phase::Backoff;
      attemptFailed();
      return;
    }
    phase_ = Phase::Pooling;
    target_.pool->newStream(*this);
  }
  void onUpstreamReset(UpstreamFailure /*why*/) override { exchangeEnded(); }
  void onUpstreamWritable() override {}

private:
  enum class Phase { Backoff, Resolving, Pooling, Exchanging, Done };

  const std::string* bodyToSend() const {
    if (message_.state != JobState::Completed || !message_.result ||
        message_.result->body.empty()) {
      return nullptr;
    }
    return &message_.result->body;
  }

  void startAttempt() {
    const TimePoint now = sender_.dispatcher_.now();
    if (now >= deadline_) {
      finish(sender_.counters_.failed);
      return;
    }
    if (retries_ > 0) {
      sender_.counters_.retried.inc();
    }
    phase_ = Phase::Pooling;
    status_ = 0;
    const auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline_ - now);
    attempt_timer_->enable(
        std::min<std::chrono::microseconds>(sender_.options_.attempt_timeout, left));
    if (!target_.pool) {
      phase_ = Phase::Resolving; // a DNS-named host: resolved first (again after a failure)
      sender_.resolve(target_, *this);
      return;
    }
    target_.pool->newStream(*this);
  }

  // The stream is detached (ended or reset): give it back to the pool's accounting.
  ClientStream* releaseStream() {
    ClientStream* stream = stream_;
    stream_ = nullptr;
    target_.pool->onStreamDone();
    return stream;
  }

  void exchangeEnded() {
    if (phase_ != Phase::Exchanging) {
      return;
    }
    releaseStream();
    phase_ = Phase::Backoff;
    attemptEnded();
  }

  void onAttemptTimeout() {
    if (phase_ == Phase::Resolving) {
      std::erase(target_.waiting, this);
    } else if (phase_ == Phase::Pooling) {
      target_.pool->cancel(*this);
    } else if (phase_ == Phase::Exchanging && stream_ != nullptr) {
      releaseStream()->reset(); // a 2xx head already seen still counts as delivered
    }
    phase_ = Phase::Backoff;
    attemptEnded();
  }

  void attemptEnded() {
    if (isSuccess(status_)) {
      finish(sender_.counters_.delivered);
      return;
    }
    attemptFailed();
  }

  void attemptFailed() {
    attempt_timer_->disable();
    ++retries_;
    const std::chrono::milliseconds delay =
        retry::backoffDelay(sender_.options_.backoff, retries_, sender_.random_);
    if (sender_.dispatcher_.now() + delay >= deadline_) {
      finish(sender_.counters_.failed);
      return;
    }
    backoff_timer_->enable(delay);
  }

  // Counts the outcome and hands this delivery to the sender (deleted on a later iteration).
  void finish(proxy::stats::ShardCounter& outcome) {
    phase_ = Phase::Done;
    attempt_timer_->disable();
    backoff_timer_->disable();
    outcome.inc();
    sender_.onDeliveryDone(*this);
  }

  CallbackSender& sender_;
  Target& target_;
  CallbackTarget where_;
  CallbackMessage message_;
  TimePoint deadline_;
  std::unique_ptr<proxy::Timer> attempt_timer_;
  std::unique_ptr<proxy::Timer> backoff_timer_;
  Phase phase_ = Phase::Backoff;
  ClientStream* stream_ = nullptr;
  int status_ = 0;       // of the current attempt's response; 0: none yet
  uint32_t retries_ = 0; // failed attempts so far (the backoff's attempt number)
};

CallbackSender::CallbackSender(proxy::Dispatcher& dispatcher, proxy::Random& random,
                               CallbackSenderOptions options)
    : dispatcher_(dispatcher), random_(random), options_(options),
      pool_stats_(std::make_unique<proxy::stats::ClusterStats>()),
      sweep_timer_(dispatcher.createTimer([this] { sweepTargets(); })) {}

CallbackSender::~CallbackSender() {
  if (dns_ != nullptr) {
    evdns_base_free(dns_, 1); // pending lookups end now, as cancelled
    dns_ = nullptr;
  }
  deliveries_.clear(); // cancels streams and pool requests while the pools still exist
  targets_.clear();
}

void CallbackSender::resolve(Target& target, Delivery& delivery) {
  target.waiting.push_back(&delivery);
  if (target.resolving) {
    return;
  }
  if (dns_ == nullptr) {
    dns_ = proxy::newDnsBase(dispatcher_.base());
  }
  target.resolving = true;
  evutil_addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  const std::string port = std::to_string(target.cluster.endpoints.front().port);
  auto* lookup = new Lookup{this, target.key}; // NOLINT(cppcoreguidelines-owning-memory)
  evdns_getaddrinfo(
      dns_, target.cluster.endpoints.front().host.c_str(), port.c_str(), &hints,
      [](int result, evutil_addrinfo* found, void* arg) noexcept {
        std::unique_ptr<Lookup> q(static_cast<Lookup*>(arg));
        if (result == EVUTIL_EAI_CANCEL) {
          return; // the sender is going away
        }
        q->sender->onLookup(q->key, result == 0 ? found : nullptr);
        if (result == 0) {
          evutil_freeaddrinfo(found);
        }
      },
      lookup);
}

void CallbackSender::onLookup(const std::string& key, evutil_addrinfo* found) {
  auto it = targets_.find(key);
  if (it == targets_.end()) {
    return; // swept meanwhile
  }
  Target& target = *it->second;
  target.resolving = false;
  // The first IPv4 address, else the first one (the receiver is usually on IPv4).
  const evutil_addrinfo* pick = nullptr;
  for (const evutil_addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    if (pick == nullptr || (ai->ai_family == AF_INET && pick->ai_family != AF_INET)) {
      pick = ai;
    }
  }
  if (pick != nullptr) {
    sockaddr_storage address{};
    std::memcpy(&address, pick->ai_addr, pick->ai_addrlen);
    target.pool = std::make_unique<proxy::ConnectionPool>(
        dispatcher_, target.cluster, *pool_stats_, address,
        static_cast<socklen_t>(pick->ai_addrlen), target.key);
  }
  std::vector<Delivery*> waiting = std::move(target.waiting);
  target.waiting.clear();
  for (Delivery* d : waiting) {
    d->onResolved();
  }
}

CallbackUrl CallbackSender::check(std::string_view url, const std::vector<std::string>& allow) {
  CallbackUrl checked = checkCallbackUrl(url, allow);
  if (!checked.ok()) {
    counters_.refused.inc();
  }
  return checked;
}

bool CallbackSender::send(const CallbackTarget& target, CallbackMessage message,
                          TimePoint deadline) {
  Target& entry = targetFor(target);
  ++entry.deliveries;
  auto delivery = std::make_unique<Delivery>(*this, entry, target, std::move(message), deadline);
  Delivery& ref = *delivery;
  deliveries_.emplace(&ref, std::move(delivery));
  ref.start();
  return true;
}

CallbackSender::Target& CallbackSender::targetFor(const CallbackTarget& target) {
  const config::HostPort where{target.host, target.port};
  const std::string key = where.toString(); // "host:port", "[v6]:port"
  auto it = targets_.find(key);
  if (it != targets_.end()) {
    return *it->second;
  }
  auto entry = std::make_unique<Target>();
  entry->key = key;
  entry->cluster.name = "callback " + key;
  entry->cluster.protocol = config::ClusterProtocol::Http1;
  entry->cluster.endpoints = {where};
  entry->cluster.connect_timeout = options_.attempt_timeout;
  entry->cluster.max_idle_connections = 1;
  proxy::ResolvedEndpoint literal;
  if (proxy::resolveLiteral(where, literal)) { // a DNS name gets its pool once resolved
    entry->pool = std::make_unique<proxy::ConnectionPool>(
        dispatcher_, entry->cluster, *pool_stats_, literal.address, literal.address_len, key);
  }
  Target& ref = *entry;
  targets_.emplace(key, std::move(entry));
  return ref;
}

void CallbackSender::onDeliveryDone(Delivery& delivery) {
  auto it = deliveries_.find(&delivery);
  if (it == deliveries_.end()) {
    return;
  }
  Target& target = delivery.target();
  if (target.deliveries > 0) {
    --target.deliveries;
  }
  // We may be deep inside the pool's or the codec's callbacks: delete on a later iteration.
  dispatcher_.deferredDelete(std::move(it->second));
  deliveries_.erase(it);
  if (!sweep_timer_->enabled()) {
    sweep_timer_->enable(std::chrono::microseconds(0));
  }
}

// Drops the pools no delivery uses, from this timer's own event (never inside a pool callback).
void CallbackSender::sweepTargets() {
  std::erase_if(targets_, [](const auto& entry) { return entry.second->deliveries == 0; });
}

} // namespace seawall::filters::async_202
