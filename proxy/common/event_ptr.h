// unique_ptr aliases that free libevent and nghttp2 objects with their own free functions.
#pragma once

#include <array>
#include <memory>
#include <vector>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <nghttp2/nghttp2.h>

namespace seawall::proxy {

template <auto Fn> struct FreeWith {
  template <typename T> void operator()(T* p) const noexcept {
    if (p != nullptr) {
      Fn(p);
    }
  }
};

using EventBasePtr = std::unique_ptr<event_base, FreeWith<event_base_free>>;
using EventPtr = std::unique_ptr<event, FreeWith<event_free>>;
using BufferEventPtr = std::unique_ptr<bufferevent, FreeWith<bufferevent_free>>;
using EvBufferPtr = std::unique_ptr<evbuffer, FreeWith<evbuffer_free>>;
using ListenerPtr = std::unique_ptr<evconnlistener, FreeWith<evconnlistener_free>>;
using Nghttp2SessionPtr = std::unique_ptr<nghttp2_session, FreeWith<nghttp2_session_del>>;

inline EvBufferPtr makeEvBuffer() { return EvBufferPtr(evbuffer_new()); }

// Appends a copy of `src` to `dst`, leaving `src` as it was.
inline void copyEvBuffer(evbuffer* dst, evbuffer* src) {
  constexpr int kStackChunks = 16;
  std::array<evbuffer_iovec, kStackChunks> stack{};
  int n = evbuffer_peek(src, -1, nullptr, nullptr, 0);
  if (n <= 0) {
    return;
  }
  std::vector<evbuffer_iovec> heap;
  evbuffer_iovec* vec = stack.data();
  if (n > kStackChunks) {
    heap.resize(static_cast<size_t>(n));
    vec = heap.data();
  }
  evbuffer_peek(src, -1, nullptr, vec, n);
  for (int i = 0; i < n; ++i) {
    evbuffer_add(dst, vec[i].iov_base, vec[i].iov_len);
  }
}

} // namespace seawall::proxy
