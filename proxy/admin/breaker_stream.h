// GET /breakers/stream: the live dashboard's feed, as server-sent events (text/event-stream). The
// hub lives in the admin server on the main thread. Each client gets a `retry:` line and a
// snapshot event at once, then one every interval (?interval_ms=, default 500, 100..10000); the
// payload is BreakerSnapshots::render() (proxy/admin/breaker_snapshot.h). A quarter-second timer
// keeps observing the transition counters while nobody watches, so the transition times a client
// sees are right whenever it connects. At most max_clients streams at once; once the process
// drains, every stream ends cleanly (last chunk sent) and new ones are refused.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/admin/admin_handler.h"
#include "proxy/admin/breaker_snapshot.h"
#include "proxy/common/dispatcher.h"

namespace seawall::proxy::admin {

// Where one client's events go: the body of its streaming response.
class EventSink {
public:
  EventSink() = default;
  EventSink(const EventSink&) = delete;
  EventSink& operator=(const EventSink&) = delete;
  EventSink(EventSink&&) = delete;
  EventSink& operator=(EventSink&&) = delete;
  virtual ~EventSink() = default;
  // Appends bytes of the event stream to the response body.
  virtual void write(std::string_view bytes) = 0;
  // True while the client lags (its unsent output is above the high watermark): events are
  // skipped, not queued, until it catches up.
  virtual bool blocked() const = 0;
  // Ends the response. The hub has already forgotten the sink when it calls this.
  virtual void end() = 0;
};

class BreakerStreamHub {
public:
  static constexpr size_t kMaxClients = 16;
  static constexpr std::chrono::milliseconds kDefaultInterval{500};
  static constexpr std::chrono::milliseconds kMinInterval{100};
  static constexpr std::chrono::milliseconds kMaxInterval{10000};
  static constexpr std::chrono::milliseconds kObserveEvery{250};
  // Clients whose ticks fall this close together share one rendered snapshot.
  static constexpr std::chrono::milliseconds kShareFor{40};
  static constexpr std::string_view kContentType = "text/event-stream";

  enum class Admission { Admitted, TooMany, Draining, Unavailable };

  // `sources` is copied; its cluster_runtimes, metrics, draining and now are used.
  BreakerStreamHub(Dispatcher& dispatcher, AdminSources sources, size_t max_clients = kMaxClients);
  BreakerStreamHub(const BreakerStreamHub&) = delete;
  BreakerStreamHub& operator=(const BreakerStreamHub&) = delete;
  BreakerStreamHub(BreakerStreamHub&&) = delete;
  BreakerStreamHub& operator=(BreakerStreamHub&&) = delete;
  ~BreakerStreamHub(); // ends every stream

  // Whether a new stream may start now. Unavailable: no cluster_runtimes source.
  Admission admit() const;
  // Precondition: admit() == Admitted and the response headers are sent. Writes the retry hint
  // and the first event now, then one every `interval` until detach() or endAll().
  void attach(EventSink& sink, std::chrono::milliseconds interval);
  // The client went away: forget it (no-op for an unknown sink).
  void detach(EventSink& sink);
  // Ends every stream (drain, shutdown).
  void endAll();
  size_t clients() const { return clients_.size(); }

  // The interval a target's query asks for: ?interval_ms=N clamped to 100..10000; the default
  // 500 when absent or not a number.
  static std::chrono::milliseconds interval(std::string_view query);
  // "data: <json>\n\n" for one snapshot now (shared by clients within kShareFor).
  std::string event();

private:
  struct Client {
    EventSink* sink = nullptr;
    std::chrono::milliseconds interval{};
    std::unique_ptr<Timer> timer;
  };

  void send(Client& client);
  void onObserve();
  std::chrono::steady_clock::time_point now() const;
  std::vector<ClusterRuntime*> runtimes() const;

  Dispatcher& dispatcher_;
  AdminSources sources_;
  size_t max_clients_;
  BreakerSnapshots snapshots_;
  std::vector<std::unique_ptr<Client>> clients_;
  std::unique_ptr<Timer> observe_timer_;
  std::string last_event_;
  std::chrono::steady_clock::time_point last_event_at_{};
};

} // namespace seawall::proxy::admin
