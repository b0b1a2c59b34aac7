// One request as the test upstream saw it, the response it decided on, and the body cursor that
// generates that response body on demand (never more than one write's worth in memory).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tests/upstream/options.h"
#include "tests/upstream/util.h"

namespace seawall::test_upstream {

struct Request {
  std::string method;
  std::string target;    // as received: path and query (h2: :path)
  std::string path;      // target without the query
  std::string query;     // raw, without '?'
  std::string version;   // "HTTP/1.0", "HTTP/1.1" or "HTTP/2"
  std::string authority; // h2 :authority, h1 Host
  HeaderList headers;    // lowercase names, in arrival order (h2: no pseudo-headers)
  uint64_t body_bytes = 0;
  uint32_t body_crc = 0;
  uint64_t arrival_ms = 0; // since the process started
  uint64_t connection_id = 0;
  int32_t stream_id = 0; // h2 only
  bool keep_alive = true;
  bool websocket_upgrade = false; // h1: Upgrade: websocket and Connection: upgrade

  const std::string* header(std::string_view name) const;
  // Splits target into path and query.
  void splitTarget();
};

struct ResponsePlan {
  int status = 200;
  HeaderList headers; // no framing headers (content-length, transfer-encoding, connection)
  std::string text_body;
  std::optional<uint64_t> pattern_size; // set: the body is the pattern, this long
  bool no_body = false;                 // HEAD, 1xx, 204, 304
  uint32_t chunks = 1;
  std::chrono::milliseconds delay{0};
  std::chrono::milliseconds chunk_delay{0};
  ResetMode reset = ResetMode::None;
  bool blackhole = false;
  bool trailers = false;
  bool close = false;
  bool websocket = false;

  uint64_t bodySize() const { return pattern_size ? *pattern_size : text_body.size(); }
};

// Walks a plan's body: segments (the `chunks` writes) and the reset point, if any.
class BodyCursor {
public:
  explicit BodyCursor(const ResponsePlan& plan);

  uint64_t size() const { return size_; }
  uint64_t offset() const { return offset_; }
  bool done() const { return offset_ >= size_ && !atResetPoint(); }
  // The response must be cut here (after_headers: offset 0; mid_body: half the body).
  bool atResetPoint() const { return reset_at_ && offset_ == *reset_at_; }
  // The current segment has been read entirely (and the body is not finished).
  bool atSegmentEnd() const { return offset_ < size_ && offset_ == segmentEnd(); }
  // Moves to the next segment; the caller waits chunk_delay first.
  void nextSegment() { ++segment_; }
  // Reads up to `max` bytes of the current segment, stopping at the reset point.
  size_t read(char* dst, size_t max);

private:
  uint64_t segmentEnd() const;

  const ResponsePlan& plan_;
  uint64_t size_;
  uint64_t segments_;
  uint64_t segment_ = 0;
  uint64_t offset_ = 0;
  std::optional<uint64_t> reset_at_;
};

} // namespace seawall::test_upstream
