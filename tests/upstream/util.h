// Small helpers for seawall-test-upstream: CRC-32, JSON strings, the body pattern, a RAII timer.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <event2/event.h>

#include "proxy/common/event_ptr.h"

namespace seawall::test_upstream {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Running CRC-32 (IEEE 802.3, as zlib's crc32): start with 0, feed chunks, read the result.
uint32_t crc32Update(uint32_t crc, const char* data, size_t len);

// Appends `s` to `out` as a quoted JSON string.
void appendJsonString(std::string& out, std::string_view s);
// Appends [[name,value],...] to `out`.
void appendJsonHeaders(std::string& out, const HeaderList& headers);

// The deterministic body pattern: byte at offset i is 'a' + (i % 26).
void fillPattern(char* dst, uint64_t offset, size_t len);

std::string toLower(std::string_view s);

// Milliseconds on the monotonic clock since the first call (process start, in practice).
uint64_t millisSinceStart();

// One-shot RAII timer on a libevent base; re-armable; cancelled when destroyed.
class Timer {
public:
  Timer(event_base* base, std::function<void()> on_fire)
      : on_fire_(std::move(on_fire)), ev_(evtimer_new(base, &Timer::trampoline, this)) {}
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  Timer(Timer&&) = delete;
  Timer& operator=(Timer&&) = delete;
  ~Timer() = default;

  void arm(std::chrono::milliseconds after) {
    timeval tv{static_cast<time_t>(after.count() / 1000),
               static_cast<suseconds_t>((after.count() % 1000) * 1000)};
    evtimer_add(ev_.get(), &tv);
  }
  void cancel() { evtimer_del(ev_.get()); }
  bool armed() const { return evtimer_pending(ev_.get(), nullptr) != 0; }

private:
  static void trampoline(evutil_socket_t /*fd*/, short /*what*/, void* arg) noexcept {
    static_cast<Timer*>(arg)->on_fire_();
  }

  std::function<void()> on_fire_;
  proxy::EventPtr ev_;
};

} // namespace seawall::test_upstream
