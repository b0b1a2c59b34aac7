// HTTP/1.1 request parsing: Http1ServerCodec (llhttp, strict) from bytes to RequestHead, with the
// smallest possible answer so that the codec moves on to the next request.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "proxy/codec/http1_server_codec.h"

namespace seawall::proxy {
namespace {

class NullConnection final : public CodecConnection {
public:
  NullConnection() : base_(event_base_new()), dispatcher_(base_.get()), out_(makeEvBuffer()) {}
  evbuffer* output() override { return out_.get(); }
  void closeAfterFlush() override {}
  void closeNow() override {}
  void readDisable(bool /*disable*/) override {}
  Dispatcher& dispatcher() override { return dispatcher_; }
  uint64_t id() const override { return 1; }
  // Runs posted work and deferred deletions, drops what the codec wrote.
  void settle() {
    event_base_loop(base_.get(), EVLOOP_NONBLOCK);
    evbuffer_drain(out_.get(), evbuffer_get_length(out_.get()));
  }

private:
  EventBasePtr base_;
  Dispatcher dispatcher_;
  EvBufferPtr out_;
};

// Answers every request at once with an empty 204.
class Responder final : public ServerStreamCallbacks, public ServerCodecCallbacks {
public:
  ServerStreamCallbacks& newStream(ServerStream& stream) override {
    stream_ = &stream;
    return *this;
  }
  void onCodecError(int /*status*/, std::string_view /*reason*/) override { ++errors; }
  void onRequestHeaders(RequestHead&& head, bool end_stream) override {
    ++requests;
    benchmark::DoNotOptimize(head);
    if (end_stream) {
      ResponseHead response;
      response.status = 204;
      stream_->sendHeaders(std::move(response), true);
    }
  }
  void onRequestData(evbuffer* data, bool /*end_stream*/) override {
    evbuffer_drain(data, evbuffer_get_length(data));
  }
  void onRequestTrailers(HeaderMap&& /*trailers*/) override {}
  void onDownstreamReset() override {}
  void onDownstreamWritable() override {}

  uint64_t requests = 0;
  uint64_t errors = 0;

private:
  ServerStream* stream_ = nullptr;
};

std::string request(int extra_headers) {
  std::string r = "GET /inventory/items?sku=42&page=3 HTTP/1.1\r\nHost: inventory.svc:8080\r\n"
                  "User-Agent: bench/1.0\r\nAccept: application/json\r\n";
  for (int i = 0; i < extra_headers; ++i) {
    r += "x-header-" + std::to_string(i) + ": value-" + std::to_string(i) + "-abcdefghijklmnop\r\n";
  }
  return r + "\r\n";
}

void bmHttp1ParseRequest(benchmark::State& state) {
  NullConnection connection;
  Responder responder;
  Http1ServerCodec codec(connection, responder, ServerCodecLimits{}, "127.0.0.1");
  const std::string bytes = request(static_cast<int>(state.range(0)));
  EvBufferPtr input = makeEvBuffer();
  uint64_t fed = 0;
  for (auto _ : state) {
    evbuffer_add(input.get(), bytes.data(), bytes.size());
    codec.onRead(input.get());
    // Deferred deletions and posted work every 64 requests: one loop pass (an epoll_wait) per
    // request would cost more than the parse.
    if (++fed % 64 == 0) {
      connection.settle();
    }
  }
  connection.settle();
  if (responder.errors != 0 || responder.requests != fed) {
    state.SkipWithError("the codec did not deliver every request");
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
}
BENCHMARK(bmHttp1ParseRequest)->Arg(0)->Arg(10)->Arg(30);

} // namespace
} // namespace seawall::proxy
