#include "proxy/codec/codec.h"

namespace seawall::proxy {

const char* toString(UpstreamFailure f) {
  switch (f) {
  case UpstreamFailure::ConnectFailure:
    return "connect-failure";
  case UpstreamFailure::Reset:
    return "reset";
  case UpstreamFailure::RefusedStream:
    return "refused-stream";
  case UpstreamFailure::ProtocolError:
    return "protocol-error";
  case UpstreamFailure::Overflow:
  case UpstreamFailure::ConnectionLimit:
    return "overflow";
  }
  return "unknown";
}

} // namespace seawall::proxy
