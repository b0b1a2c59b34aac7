// Replies Seawall makes itself: a status, a reason token (x-seawall-reason) and a short body.
// gRPC requests get a trailers-only gRPC response (HTTP 200, grpc-status mapped from the status).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "proxy/http/headers.h"

namespace seawall::proxy {

struct LocalReply {
  int status = 503;
  std::string reason; // kebab-case token for x-seawall-reason and logs
  std::string body;   // human-readable, one line
  // gRPC: grpc-status to send instead of the one mapped from `status` (e.g. 4 DEADLINE_EXCEEDED
  // for a deadline that passed).
  std::optional<int> grpc_status;
};

// True for requests whose content-type is application/grpc[+proto|...].
bool isGrpcRequest(const RequestHead& head);
// gRPC status code for an HTTP status
// (https://github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md).
int grpcStatusForHttp(int status);
// Builds the response head for `reply`; `body_out` receives the body (empty for gRPC).
ResponseHead buildLocalReply(const LocalReply& reply, bool grpc, std::string& body_out);

} // namespace seawall::proxy
