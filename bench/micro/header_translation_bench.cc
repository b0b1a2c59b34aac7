// HTTP/1.1 <-> HTTP/2 header translation: RequestHead to an nghttp2 name/value list (h1 client to
// h2 upstream), ResponseHead likewise (h1 upstream to h2 client), and HTTP/1.1 header lines from a
// HeaderMap (h2 to h1).
#include <cstdint>
#include <string>

#include <benchmark/benchmark.h>
#include <event2/buffer.h>

#include "proxy/codec/http1_common.h"
#include "proxy/codec/http2_common.h"

namespace seawall::proxy {
namespace {

RequestHead makeRequest(int extra_headers) {
  RequestHead head;
  head.method = "GET";
  head.scheme = "http";
  head.authority = "inventory.svc:8080";
  head.path = "/inventory/items?sku=42&page=3";
  head.headers.add("user-agent", "bench/1.0");
  head.headers.add("accept", "application/json");
  head.headers.add("x-request-id", "0f8fad5b-d9cb-469f-a165-70867728950e");
  head.headers.add("x-forwarded-for", "127.0.0.1");
  head.headers.add("connection", "keep-alive");
  for (int i = 0; i < extra_headers; ++i) {
    head.headers.add("x-header-" + std::to_string(i), "value-" + std::to_string(i) + "-abcdefgh");
  }
  return head;
}

void bmRequestToNv(benchmark::State& state) {
  const RequestHead head = makeRequest(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    NvList nv = requestToNv(head);
    benchmark::DoNotOptimize(nv.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bmRequestToNv)->Arg(0)->Arg(10)->Arg(30);

void bmResponseToNv(benchmark::State& state) {
  ResponseHead head;
  head.status = 200;
  head.headers.add("content-type", "application/json");
  head.headers.add("content-length", "100");
  head.headers.add("date", "Sun, 06 Nov 1994 08:49:37 GMT");
  head.headers.add("x-upstream-name", "inventory");
  head.headers.add("keep-alive", "timeout=5");
  for (auto _ : state) {
    NvList nv = responseToNv(head);
    benchmark::DoNotOptimize(nv.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bmResponseToNv);

void bmWriteHeaderLines(benchmark::State& state) {
  const RequestHead head = makeRequest(static_cast<int>(state.range(0)));
  EvBufferPtr out = makeEvBuffer();
  for (auto _ : state) {
    http1::writeHeaderLines(out.get(), head.headers);
    evbuffer_drain(out.get(), evbuffer_get_length(out.get()));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bmWriteHeaderLines)->Arg(0)->Arg(10)->Arg(30);

void bmCopyAndStripHopByHop(benchmark::State& state) {
  const RequestHead head = makeRequest(10);
  for (auto _ : state) {
    HeaderMap copy = head.headers;
    http1::stripHopByHop(copy, false);
    benchmark::DoNotOptimize(copy);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bmCopyAndStripHopByHop);

} // namespace
} // namespace seawall::proxy
