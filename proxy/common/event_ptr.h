// unique_ptr aliases that free libevent and nghttp2 objects with their own free functions.
#pragma once

#include <memory>

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

} // namespace seawall::proxy
