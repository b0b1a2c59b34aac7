// CallbackSender against a real loopback HTTP server: a libevent evhttp server on 127.0.0.1:0 in
// the same event_base, scripted per request (answer a status, or never answer). The loop runs in
// bounded steps until a condition holds.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <gtest/gtest.h>

#include "filters/async_202/callback_sender.h"
#include "proxy/common/dispatcher.h"
#include "proxy/common/event_ptr.h"
#include "proxy/common/random.h"

namespace seawall::filters::async_202 {
namespace {

using std::chrono::milliseconds;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr milliseconds kLoopBound{5000};
constexpr int kNoAnswer = 0; // script entry: keep the request unanswered

struct Received {
  std::string method;
  std::string uri;
  Headers headers; // as sent, in order
  std::string body;
};

// evhttp on 127.0.0.1 in the test's event_base. Each request takes the next scripted status (the
// last one repeats); kNoAnswer leaves the request hanging (evhttp frees it when the peer closes).
class LoopbackServer {
public:
  explicit LoopbackServer(event_base* base) : http_(evhttp_new(base)) {
    evhttp_set_gencb(http_, &LoopbackServer::onRequest, this);
    evhttp_set_allowed_methods(http_, EVHTTP_REQ_POST | EVHTTP_REQ_GET);
  }
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;
  LoopbackServer(LoopbackServer&&) = delete;
  LoopbackServer& operator=(LoopbackServer&&) = delete;
  ~LoopbackServer() { evhttp_free(http_); }

  // Binds `port` (0: any free one); returns the bound port, 0 on failure.
  uint16_t listen(uint16_t port = 0) {
    evhttp_bound_socket* bound = evhttp_bind_socket_with_handle(http_, "127.0.0.1", port);
    if (bound == nullptr) {
      return 0;
    }
    sockaddr_in sin{};
    socklen_t len = sizeof(sin);
    getsockname(evhttp_bound_socket_get_fd(bound), reinterpret_cast<sockaddr*>(&sin), &len);
    return ntohs(sin.sin_port);
  }
  void script(std::vector<int> statuses) { script_.assign(statuses.begin(), statuses.end()); }
  const std::vector<Received>& received() const { return received_; }

private:
  static void onRequest(evhttp_request* req, void* arg) {
    auto* self = static_cast<LoopbackServer*>(arg);
    Received got;
    got.method = evhttp_request_get_command(req) == EVHTTP_REQ_POST ? "POST" : "OTHER";
    got.uri = evhttp_request_get_uri(req);
    evkeyvalq* headers = evhttp_request_get_input_headers(req);
    for (evkeyval* h = headers->tqh_first; h != nullptr; h = h->next.tqe_next) {
      got.headers.emplace_back(h->key, h->value);
    }
    evbuffer* in = evhttp_request_get_input_buffer(req);
    got.body.resize(evbuffer_get_length(in));
    evbuffer_copyout(in, got.body.data(), got.body.size());
    self->received_.push_back(std::move(got));
    int status = 204;
    if (!self->script_.empty()) {
      status = self->script_.front();
      if (self->script_.size() > 1) {
        self->script_.pop_front();
      }
    }
    if (status == kNoAnswer) {
      return;
    }
    evbuffer* out = evbuffer_new();
    evbuffer_add_printf(out, "status %d", status);
    evhttp_send_reply(req, status, "Scripted", status == 204 ? nullptr : out);
    evbuffer_free(out);
  }

  evhttp* http_;
  std::deque<int> script_;
  std::vector<Received> received_;
};

// A port nothing listens on (bound, then closed): connecting to it is refused. 0 on failure.
uint16_t closedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return 0;
  }
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(sin);
  const bool bound = bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) == 0 &&
                     getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len) == 0;
  close(fd);
  return bound ? ntohs(sin.sin_port) : 0;
}

class CallbackSenderTest : public ::testing::Test {
protected:
  CallbackSenderTest()
      : base_(event_base_new()), dispatcher_(std::make_unique<proxy::Dispatcher>(base_.get())),
        server_(std::make_unique<LoopbackServer>(base_.get())),
        tick_(event_new(
            base_.get(), -1, EV_PERSIST, [](evutil_socket_t, short, void*) {}, nullptr)) {
    port_ = server_->listen();
    timeval tv{0, 5000};
    evtimer_add(tick_.get(), &tv); // every loop step returns within 5ms
  }
  ~CallbackSenderTest() override {
    sender_.reset();
    server_.reset();
    dispatcher_.reset();
    tick_.reset();
  }
  CallbackSenderTest(const CallbackSenderTest&) = delete;
  CallbackSenderTest& operator=(const CallbackSenderTest&) = delete;
  CallbackSenderTest(CallbackSenderTest&&) = delete;
  CallbackSenderTest& operator=(CallbackSenderTest&&) = delete;

  CallbackSender& sender(CallbackSenderOptions options = fastOptions()) {
    sender_ = std::make_unique<CallbackSender>(*dispatcher_, random_, options);
    return *sender_;
  }
  static CallbackSenderOptions fastOptions() {
    CallbackSenderOptions options;
    options.backoff = {milliseconds(10), milliseconds(50)};
    options.attempt_timeout = milliseconds(200);
    return options;
  }

  // Runs the loop until `done()` or kLoopBound; returns done().
  bool runUntil(const std::function<bool()>& done, milliseconds bound = kLoopBound) {
    const auto limit = std::chrono::steady_clock::now() + bound;
    while (!done() && std::chrono::steady_clock::now() < limit) {
      event_base_loop(base_.get(), EVLOOP_ONCE);
    }
    return done();
  }
  void runFor(milliseconds span) {
    runUntil([] { return false; }, span);
  }

  CallbackTarget target(const std::string& path = "/hook?job=1") const {
    CallbackUrl url =
        checkCallbackUrl("http://127.0.0.1:" + std::to_string(port_) + path, {"127.0.0.1"});
    EXPECT_TRUE(url.ok()) << url.error;
    return url.target;
  }
  CallbackSender::TimePoint in(milliseconds span) const { return dispatcher_->now() + span; }

  static CallbackMessage completed(std::string body,
                                   Headers headers = {{"content-type", "application/json"}}) {
    auto result = std::make_shared<JobResult>();
    result->status = 200;
    result->headers = std::move(headers);
    result->body = std::move(body);
    return CallbackMessage{"9f86d081884c7d659a2feaa0c55ad015", JobState::Completed, "", result};
  }

  struct Counts {
    uint64_t delivered, retried, failed, refused;
  };
  Counts counts() const {
    const CallbackCounters& c = sender_->counters();
    return {c.delivered.value(), c.retried.value(), c.failed.value(), c.refused.value()};
  }

  proxy::EventBasePtr base_;
  std::unique_ptr<proxy::Dispatcher> dispatcher_;
  std::unique_ptr<LoopbackServer> server_;
  proxy::EventPtr tick_;
  proxy::SeededRandom random_{42};
  std::unique_ptr<CallbackSender> sender_;
  uint16_t port_ = 0;
};

TEST_F(CallbackSenderTest, DeliveredOnFirstTryWithTheDocumentedWireFormat) {
  ASSERT_NE(port_, 0);
  CallbackSender& s = sender();
  ASSERT_TRUE(s.send(target(), completed(R"({"price":42})"), in(milliseconds(5000))));
  EXPECT_EQ(s.inFlight(), 1U);
  EXPECT_TRUE(server_->received().empty()) << "the first attempt never starts inside send()";
  ASSERT_TRUE(runUntil([&] { return s.inFlight() == 0; }));

  ASSERT_EQ(server_->received().size(), 1U);
  const Received& got = server_->received()[0];
  EXPECT_EQ(got.method, "POST");
  EXPECT_EQ(got.uri, "/hook?job=1");
  const Headers expected = {
      {"host", "127.0.0.1:" + std::to_string(port_)},
      {"user-agent", "seawall"},
      {"x-seawall-job-id", "9f86d081884c7d659a2feaa0c55ad015"},
      {"x-seawall-job-state", "COMPLETED"},
      {"x-seawall-result-status", "200"},
      {"content-type", "application/json"},
      {"content-length", "12"},
  };
  EXPECT_EQ(got.headers, expected);
  EXPECT_EQ(got.body, R"({"price":42})");
  Counts c = counts();
  EXPECT_EQ(c.delivered, 1U);
  EXPECT_EQ(c.retried, 0U);
  EXPECT_EQ(c.failed, 0U);
  EXPECT_EQ(c.refused, 0U);
}

TEST_F(CallbackSenderTest, FailedJobCarriesTheReasonAndNoBody) {
  CallbackSender& s = sender();
  ASSERT_TRUE(s.send(target("/h"),
                     CallbackMessage{"00000000000000000000000000000001", JobState::Failed,
                                     "breaker-open", nullptr},
                     in(milliseconds(5000))));
  ASSERT_TRUE(runUntil([&] { return s.inFlight() == 0; }));
  ASSERT_EQ(server_->received().size(), 1U);
  const Headers expected = {
      {"host", "127.0.0.1:" + std::to_string(port_)},
      {"user-agent", "seawall"},
      {"x-seawall-job-id", "00000000000000000000000000000001"},
      {"x-seawall-job-state", "FAILED"},
      {"x-seawall-failure-reason", "breaker-open"},
      {"content-length", "0"},
  };
  EXPECT_EQ(server_->received()[0].headers, expected);
  EXPECT_EQ(server_->received()[0].body, "");
  EXPECT_EQ(counts().delivered, 1U);
}

TEST_F(CallbackSenderTest, BinaryBodyAndUpstreamStatusArriveByteForByte) {
  std::string body(size_t{1} << 20, '\0');
  for (size_t i = 0; i < body.size(); ++i) {
    body[i] = static_cast<char>((i * 131) % 251); // not UTF-8, NULs included
  }
  CallbackMessage message = completed(body, {{"Content-Type", "application/octet-stream"},
                                             {"content-encoding", "gzip"},
                                             {"x-upstream-only", "not forwarded"}});
  auto result = std::make_shared<JobResult>(*message.result);
  result->status = 404;
  message.result = result;
  CallbackSender& s = sender();
  ASSERT_TRUE(s.send(target(), std::move(message), in(milliseconds(5000))));
  ASSERT_TRUE(runUntil([&] { return s.inFlight() == 0; }));
  ASSERT_EQ(server_->received().size(), 1U);
  const Received& got = server_->received()[0];
  EXPECT_EQ(got.body, body);
  const Headers expected = {
      {"host", "127.0.0.1:" + std::to_string(port_)},
      {"user-agent", "seawall"},
      {"x-seawall-job-id", "9f86d081884c7d659a2feaa0c55ad015"},
      {"x-seawall-job-state", "COMPLETED"},
      {"x-seawall-result-status", "404"},
      {"content-type", "application/octet-stream"},
      {"content-encoding", "gzip"},
      {"content-length", std::to_string(body.size())},
  };
  EXPECT_EQ(got.headers, expected);
}

TEST_F(CallbackSenderTest, RetriedWithBackoffAfterFailuresThenDelivered) {
  server_->script({500, 503, 404, 204});
  CallbackSender& s = sender();
  const auto start = dispatcher_->now();
  ASSERT_TRUE(s.send(target(), completed("{}"), in(milliseconds(5000))));
  ASSERT_TRUE(runUntil([&] { return s.inFlight() == 0; }));
  ASSERT_EQ(server_->received().size(), 4U);
  for (const Received& got : server_->received()) {
    EXPECT_EQ(got.body, "{}");
    EXPECT_EQ(got.headers, server_->received()[0].headers) << "every attempt sends the same bytes";
  }
  Counts c = counts();
  EXPECT_EQ(c.delivered, 1U);
  EXPECT_EQ(c.retried, 3U);
  EXPECT_EQ(c.failed, 0U);
  // Three backoffs of at most 10, 20 and 40ms (full jitter): well under a second.
  EXPECT_LT(dispatcher_->now() - start, std::chrono::seconds(1));
}

TEST_F(CallbackSenderTest, GivesUpAtTheDeadline) {
  server_->script({500});
  CallbackSender& s = sender();
  const auto deadline = in(milliseconds(300));
  ASSERT_TRUE(s.send(target(), completed("{}"), deadline));
  ASSERT_TRUE(runUntil([&] { return s.inFlight() == 0; }));
  Counts c = counts();
  EXPECT_EQ(c.delivered, 0U);
  EXPECT_EQ(c.failed, 1U);
  EXPECT_GE(c.retried, 2U);
  EXPECT_EQ(server_->received().size(), c.retried + 1);
  // It gives up when the next attempt would start at or after the deadline: at most one max
  // backoff (50ms) early, never late by more than a loop step.
  EXPECT_GE(dispatcher_->now(), deadline - milliseconds(50));
  EXPECT_LT(dispatcher_->now(), deadline + milliseconds(200));
}

TEST_F(CallbackSenderTest, DeadlineAlreadyPassedFailsWithoutSending) {
  CallbackSender& s = sender();
  ASSERT_TRUE(s.send(target(), completed("{}"), in(milliseconds(-1))));
  ASSERT_TRUE(runUntil([&] { return s.inFlight() == 0; }));
  EXPECT_TRUE(server_->received().empty());
  EXPECT_EQ(counts().failed, 1U);
}

TEST_F(CallbackSenderTest, ConnectionRefusedIsRetriedUntilTheReceiverListens) {
  const uint16_t port = closedPort();
  ASSERT_NE(port, 0);
  CallbackSender& s = sender();
  CallbackUrl url = s.check("http://127.0.0.1:" + std::to_string(port) + "/late", {"127.0.0.1"});
  ASSERT_TRUE(url.ok()) << url.error;
  ASSERT_TRUE(s.send(url.target, completed("{}"), in(milliseconds(5000))));
  ASSERT_TRUE(runUntil([&] { return counts().retried >= 2; }));
  EXPECT_EQ(counts().delivered, 0U);
  LoopbackServer late(base_.get());
  ASSERT_EQ(late.listen(port), port);
  ASSERT_TRUE(runUntil([&] { return s.inFlight() == 0; }));
  EXPECT_EQ(counts().delivered, 1U);
  ASSERT_EQ(late.received().size(), 1U);
  EXPECT_EQ(late.received()[0].uri, "/late");
}

TEST_F(CallbackSenderTest, ConnectionRefusedUntilTheDeadlineFails) {
  const uint16_t port = closedPort();
  ASSERT_NE(port, 0);
  CallbackSender& s = sender();
  CallbackTarget t = target();
  t.port = port;
  ASSERT_TRUE(s.send(t, completed("{}"), in(milliseconds(200))));
  ASSERT_TRUE(runUntil([&] { return s.inFlight() == 0; }));
  Counts c = counts();
  EXPECT_EQ(c.failed, 1U);
  EXPECT_GE(c.retried, 1U);
  EXPECT_EQ(c.delivered, 0U);
}

TEST_F(CallbackSenderTest, AnAttemptThatGetsNoAnswerTimesOutAndIsRetried) {
  server_->script({kNoAnswer, 204});
  CallbackSenderOptions options = fastOptions();
  options.attempt_timeout = milliseconds(50);
  CallbackSender& s = sender(options);
  ASSERT_TRUE(s.send(target(), completed("{}"), in(milliseconds(5000))));
  ASSERT_TRUE(runUntil([&] { return s.inFlight() == 0; }));
  EXPECT_EQ(server_->received().size(), 2U);
  Counts c = counts();
  EXPECT_EQ(c.retried, 1U);
  EXPECT_EQ(c.delivered, 1U);
}

TEST_F(CallbackSenderTest, SeveralDeliveriesToOneTargetShareItsPool) {
  CallbackSender& s = sender();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(s.send(target("/n" + std::to_string(i)), completed(std::to_string(i)),
                       in(milliseconds(5000))));
  }
  ASSERT_TRUE(runUntil([&] { return s.inFlight() == 0; }));
  EXPECT_EQ(counts().delivered, 5U);
  EXPECT_EQ(server_->received().size(), 5U);
}

struct RefusedCase {
  std::string url;
  std::vector<std::string> allow;
  std::string error;
};

TEST_F(CallbackSenderTest, CheckRefusesAndCounts) {
  const std::vector<RefusedCase> cases = {
      {"http://127.0.0.2/x", {"127.0.0.1"}, "callback host '127.0.0.2' is not in callback_allow"},
      {"https://127.0.0.1/x",
       {"127.0.0.1"},
       "https callback URLs are not supported in this build (no TLS client): use http://"},
  };
  CallbackSender& s = sender();
  for (const RefusedCase& c : cases) {
    SCOPED_TRACE(c.url);
    CallbackUrl url = s.check(c.url, c.allow);
    EXPECT_FALSE(url.ok());
    EXPECT_EQ(url.error, c.error);
  }
  EXPECT_EQ(counts().refused, cases.size());
  EXPECT_TRUE(s.check("http://127.0.0.1/x", {"127.0.0.1"}).ok());
  EXPECT_EQ(counts().refused, cases.size());
  EXPECT_TRUE(s.check("http://hooks.internal/x", {"hooks.internal"}).ok()) << "allowed by name";
  EXPECT_EQ(counts().refused, cases.size());
}

// A host allowed by name is resolved without blocking (here by the hosts file) and delivered to.
TEST_F(CallbackSenderTest, DnsNamedHostIsResolvedThenDelivered) {
  ASSERT_NE(port_, 0);
  CallbackSender& s = sender();
  CallbackUrl url =
      s.check("http://localhost:" + std::to_string(port_) + "/named?job=2", {"localhost"});
  ASSERT_TRUE(url.ok()) << url.error;
  ASSERT_TRUE(s.send(url.target, completed("{}"), in(milliseconds(5000))));
  ASSERT_TRUE(s.send(url.target, completed("{}"), in(milliseconds(5000)))) << "joins the lookup";
  ASSERT_TRUE(runUntil([&] { return s.inFlight() == 0; }));
  ASSERT_EQ(server_->received().size(), 2U);
  EXPECT_EQ(server_->received()[0].uri, "/named?job=2");
  EXPECT_EQ(counts().delivered, 2U);
  EXPECT_EQ(counts().failed, 0U);
}

// A name that does not resolve is a failed attempt: retried (with a new lookup) until the deadline.
TEST_F(CallbackSenderTest, UnresolvableNameFailsAtTheDeadline) {
  CallbackSender& s = sender();
  CallbackUrl url = s.check("http://no-such-host.invalid/x", {"no-such-host.invalid"});
  ASSERT_TRUE(url.ok()) << url.error;
  ASSERT_TRUE(s.send(url.target, completed("{}"), in(milliseconds(600))));
  ASSERT_TRUE(runUntil([&] { return s.inFlight() == 0; }, milliseconds(5000)));
  EXPECT_EQ(counts().delivered, 0U);
  EXPECT_EQ(counts().failed, 1U);
}

TEST_F(CallbackSenderTest, DestroyingTheSenderCancelsEverythingInFlight) {
  server_->script({kNoAnswer});
  CallbackSender& s = sender();
  ASSERT_TRUE(s.send(target("/hangs"), completed("{}"), in(milliseconds(5000))));
  CallbackTarget refused = target();
  refused.port = closedPort();
  ASSERT_NE(refused.port, 0);
  ASSERT_TRUE(
      s.send(refused, completed("{}"), in(milliseconds(5000)))); // retried: backoff or connecting
  ASSERT_TRUE(runUntil([&] { return server_->received().size() == 1 && counts().retried >= 1; }));
  EXPECT_EQ(s.inFlight(), 2U);
  sender_.reset(); // an exchange in progress and a delivery waiting in backoff
  runFor(milliseconds(100));
  EXPECT_EQ(server_->received().size(), 1U) << "nothing is sent after the sender is gone";
}

TEST_F(CallbackSenderTest, DestroyedWhileWaitingForAConnection) {
  CallbackSender& s = sender();
  ASSERT_TRUE(s.send(target(), completed("{}"), in(milliseconds(5000))));
  // Two loop steps: the attempt starts (backoff timer), the pool starts connecting (its process
  // timer); the request has not been written yet.
  event_base_loop(base_.get(), EVLOOP_ONCE | EVLOOP_NONBLOCK);
  event_base_loop(base_.get(), EVLOOP_ONCE | EVLOOP_NONBLOCK);
  EXPECT_EQ(s.inFlight(), 1U);
  sender_.reset();
  runFor(milliseconds(50));
  EXPECT_TRUE(server_->received().empty());
}

} // namespace
} // namespace seawall::filters::async_202
