// h2c (prior knowledge) side of the test upstream: an nghttp2 server session fed from the
// connection's buffers; response bodies come from a data provider, generated on demand.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include <nghttp2/nghttp2.h>

#include "proxy/common/event_ptr.h"
#include "tests/upstream/connection.h"
#include "tests/upstream/exchange.h"
#include "tests/upstream/util.h"

namespace seawall::test_upstream {

class Http2Handler : public ProtocolHandler {
public:
  explicit Http2Handler(Connection& connection);
  Http2Handler(const Http2Handler&) = delete;
  Http2Handler& operator=(const Http2Handler&) = delete;
  Http2Handler(Http2Handler&&) = delete;
  Http2Handler& operator=(Http2Handler&&) = delete;
  ~Http2Handler() override;

  void onRead() override;
  void onWrite() override;

private:
  struct Stream {
    Request request;
    std::optional<ResponsePlan> plan;
    std::unique_ptr<BodyCursor> cursor;
    std::unique_ptr<Timer> delay_timer;
    std::unique_ptr<Timer> chunk_timer;
    bool waiting = false; // deferred until chunk_timer fires
  };

  static const nghttp2_session_callbacks* callbacks();
  static int onBeginHeaders(nghttp2_session* s, const nghttp2_frame* f, void* user) noexcept;
  static int onHeader(nghttp2_session* s, const nghttp2_frame* f, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t flags,
                      void* user) noexcept;
  static int onFrameRecv(nghttp2_session* s, const nghttp2_frame* f, void* user) noexcept;
  static int onDataChunk(nghttp2_session* s, uint8_t flags, int32_t stream_id, const uint8_t* data,
                         size_t len, void* user) noexcept;
  static int onStreamClose(nghttp2_session* s, int32_t stream_id, uint32_t error_code,
                           void* user) noexcept;
  static ssize_t readBody(nghttp2_session* s, int32_t stream_id, uint8_t* buf, size_t length,
                          uint32_t* data_flags, nghttp2_data_source* source, void* user) noexcept;

  Stream* find(int32_t stream_id);
  void onRequestComplete(int32_t stream_id);
  void submitResponse(int32_t stream_id);
  void resumeBody(int32_t stream_id);
  ssize_t produce(Stream& stream, int32_t stream_id, uint8_t* buf, size_t length,
                  uint32_t* data_flags);
  void flush();

  Connection& conn_;
  proxy::Nghttp2SessionPtr session_;
  std::map<int32_t, std::unique_ptr<Stream>> streams_;
  std::vector<std::unique_ptr<Stream>> graveyard_; // closed streams, freed at the next entry
};

} // namespace seawall::test_upstream
