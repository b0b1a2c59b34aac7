#include "proxy/admin/breaker_stream.h"

#include <algorithm>
#include <charconv>

#include "proxy/admin/admin_common.h"
#include "proxy/stats/metrics.h"

namespace seawall::proxy::admin {
namespace {

// How long EventSource waits before reconnecting after the stream drops.
constexpr std::string_view kRetryHint = "retry: 1000\n\n";

int64_t unixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

} // namespace

BreakerStreamHub::BreakerStreamHub(Dispatcher& dispatcher, AdminSources sources, size_t max_clients)
    : dispatcher_(dispatcher), sources_(std::move(sources)), max_clients_(max_clients) {
  observe_timer_ = dispatcher_.createTimer([this] { onObserve(); });
  observe_timer_->enable(kObserveEvery);
}

BreakerStreamHub::~BreakerStreamHub() { endAll(); }

BreakerStreamHub::Admission BreakerStreamHub::admit() const {
  if (!sources_.cluster_runtimes) {
    return Admission::Unavailable;
  }
  if (sources_.draining && sources_.draining()) {
    return Admission::Draining;
  }
  return clients_.size() >= max_clients_ ? Admission::TooMany : Admission::Admitted;
}

void BreakerStreamHub::attach(EventSink& sink, std::chrono::milliseconds interval) {
  auto client = std::make_unique<Client>();
  Client* raw = client.get();
  raw->sink = &sink;
  raw->interval = std::clamp(interval, kMinInterval, kMaxInterval);
  raw->timer = dispatcher_.createTimer([this, raw] {
    send(*raw);
    raw->timer->enable(raw->interval);
  });
  clients_.push_back(std::move(client));
  sink.write(kRetryHint);
  send(*raw);
  raw->timer->enable(raw->interval);
}

void BreakerStreamHub::detach(EventSink& sink) {
  std::erase_if(clients_, [&sink](const auto& c) { return c->sink == &sink; });
}

void BreakerStreamHub::endAll() {
  std::vector<std::unique_ptr<Client>> ending = std::move(clients_);
  clients_.clear();
  for (auto& client : ending) {
    client->timer.reset();
    client->sink->end();
  }
}

std::chrono::milliseconds BreakerStreamHub::interval(std::string_view query) {
  const std::optional<std::string_view> value = queryParam(query, "interval_ms");
  if (!value || value->empty()) {
    return kDefaultInterval;
  }
  int64_t ms = 0;
  const auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), ms);
  if (ec == std::errc::result_out_of_range && value->front() != '-') {
    return kMaxInterval;
  }
  if (ec != std::errc() || end != value->data() + value->size()) {
    return kDefaultInterval;
  }
  return std::clamp(std::chrono::milliseconds(ms), kMinInterval, kMaxInterval);
}

std::string BreakerStreamHub::event() {
  const auto real_now = std::chrono::steady_clock::now();
  if (!last_event_.empty() && real_now - last_event_at_ < kShareFor) {
    return last_event_;
  }
  RequestCountMap counts;
  if (sources_.metrics != nullptr) {
    counts = requestCounts(sources_.metrics->Collect());
  }
  last_event_ = "data: " + snapshots_.render(runtimes(), counts, now(), unixMs()) + "\n\n";
  last_event_at_ = real_now;
  return last_event_;
}

void BreakerStreamHub::send(Client& client) {
  if (!client.sink->blocked()) {
    client.sink->write(event());
  }
}

void BreakerStreamHub::onObserve() {
  if (sources_.draining && sources_.draining()) {
    endAll();
  }
  snapshots_.observe(runtimes(), unixMs());
  observe_timer_->enable(kObserveEvery);
}

std::chrono::steady_clock::time_point BreakerStreamHub::now() const {
  return sources_.now ? sources_.now() : std::chrono::steady_clock::now();
}

std::vector<ClusterRuntime*> BreakerStreamHub::runtimes() const {
  return sources_.cluster_runtimes ? sources_.cluster_runtimes() : std::vector<ClusterRuntime*>{};
}

} // namespace seawall::proxy::admin
