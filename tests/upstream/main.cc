// seawall-test-upstream: a fault-injecting HTTP/1.1 + h2c upstream for tests and demos.
// See docs/test-upstream.md for flags and query parameters.
#include <csignal>
#include <cstdio>
#include <string>

#include <event2/event.h>

#include "proxy/common/event_ptr.h"
#include "tests/upstream/options.h"
#include "tests/upstream/server.h"

namespace {

void onSignal(evutil_socket_t /*fd*/, short /*what*/, void* arg) noexcept {
  event_base_loopbreak(static_cast<event_base*>(arg));
}

} // namespace

int main(int argc, char** argv) {
  using namespace seawall;
  std::string error;
  auto options = test_upstream::parseOptions(argc, argv, error);
  if (!options) {
    std::fputs(error.c_str(), stderr);
    return error.starts_with("usage:") ? 0 : 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  test_upstream::millisSinceStart();
  proxy::EventBasePtr base(event_base_new());
  if (!base) {
    std::fputs("cannot create event base\n", stderr);
    return 1;
  }
  proxy::EventPtr sigterm(evsignal_new(base.get(), SIGTERM, &onSignal, base.get()));
  proxy::EventPtr sigint(evsignal_new(base.get(), SIGINT, &onSignal, base.get()));
  event_add(sigterm.get(), nullptr);
  event_add(sigint.get(), nullptr);
  {
    test_upstream::UpstreamServer server(base.get(), std::move(*options));
    if (!server.listen(error)) {
      std::fprintf(stderr, "%s\n", error.c_str());
      return 1;
    }
    std::printf("LISTENING %u\n", static_cast<unsigned>(server.port()));
    std::fflush(stdout);
    event_base_dispatch(base.get());
  }
  return 0;
}
