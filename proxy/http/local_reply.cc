#include "proxy/http/local_reply.h"

namespace seawall::proxy {

bool isGrpcRequest(const RequestHead& head) {
  const std::string* ct = head.headers.get("content-type");
  if (ct == nullptr) {
    return false;
  }
  std::string_view v = *ct;
  return v.starts_with("application/grpc") && (v.size() == 16 || v[16] == '+' || v[16] == ';');
}

int grpcStatusForHttp(int status) {
  switch (status) {
  case 400:
    return 13; // INTERNAL
  case 401:
    return 16; // UNAUTHENTICATED
  case 403:
    return 7; // PERMISSION_DENIED
  case 404:
    return 12; // UNIMPLEMENTED
  case 429:
  case 502:
  case 503:
    return 14; // UNAVAILABLE
  case 504:
    return 4; // DEADLINE_EXCEEDED
  default:
    return 2; // UNKNOWN
  }
}

ResponseHead buildLocalReply(const LocalReply& reply, bool grpc, std::string& body_out) {
  ResponseHead head;
  head.headers.add("x-seawall-reason", reply.reason);
  if (grpc) {
    head.status = 200;
    head.headers.add("content-type", "application/grpc");
    head.headers.add("grpc-status",
                     std::to_string(reply.grpc_status.value_or(grpcStatusForHttp(reply.status))));
    head.headers.add("grpc-message", reply.body);
    body_out.clear();
    return head;
  }
  head.status = reply.status;
  body_out = reply.body;
  body_out += '\n';
  head.headers.add("content-type", "text/plain; charset=utf-8");
  head.headers.add("content-length", std::to_string(body_out.size()));
  return head;
}

} // namespace seawall::proxy
