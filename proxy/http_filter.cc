#include "proxy/http_filter.h"

namespace seawall::proxy {

const char* toString(AttemptFailure f) {
  switch (f) {
  case AttemptFailure::None:
    return "none";
  case AttemptFailure::ConnectFailure:
    return "connect-failure";
  case AttemptFailure::Reset:
    return "reset";
  case AttemptFailure::RefusedStream:
    return "refused-stream";
  case AttemptFailure::ProtocolError:
    return "protocol-error";
  case AttemptFailure::Timeout:
    return "timeout";
  case AttemptFailure::Overflow:
    return "overflow";
  case AttemptFailure::NoEndpoint:
    return "no-endpoint";
  case AttemptFailure::Cancelled:
    return "cancelled";
  }
  return "unknown";
}

} // namespace seawall::proxy
