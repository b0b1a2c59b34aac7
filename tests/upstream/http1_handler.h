// HTTP/1.1 side of the test upstream: llhttp parsing (keep-alive, pipelining, chunked request
// bodies), one response at a time, bodies generated on demand, and the websocket echo mode.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <llhttp.h>

#include "tests/upstream/connection.h"
#include "tests/upstream/exchange.h"
#include "tests/upstream/util.h"

namespace seawall::test_upstream {

class Http1Handler : public ProtocolHandler {
public:
  explicit Http1Handler(Connection& connection);
  Http1Handler(const Http1Handler&) = delete;
  Http1Handler& operator=(const Http1Handler&) = delete;
  Http1Handler(Http1Handler&&) = delete;
  Http1Handler& operator=(Http1Handler&&) = delete;
  ~Http1Handler() override = default;

  void onRead() override;
  void onWrite() override;

private:
  enum class Mode { Reading, Responding, Blackholed, Upgraded, Done };

  static const llhttp_settings_t& settings();
  static Http1Handler& self(llhttp_t* parser) { return *static_cast<Http1Handler*>(parser->data); }
  static int onMessageBegin(llhttp_t* p) noexcept;
  static int onUrl(llhttp_t* p, const char* at, size_t len) noexcept;
  static int onHeaderField(llhttp_t* p, const char* at, size_t len) noexcept;
  static int onHeaderValue(llhttp_t* p, const char* at, size_t len) noexcept;
  static int onHeaderValueComplete(llhttp_t* p) noexcept;
  static int onHeadersComplete(llhttp_t* p) noexcept;
  static int onBody(llhttp_t* p, const char* at, size_t len) noexcept;
  static int onMessageComplete(llhttp_t* p) noexcept;

  void parseInput();
  void onRequestComplete();
  void sendHead();
  void pump();
  void endResponse();
  void echo();
  void badRequest();

  Connection& conn_;
  llhttp_t parser_{};
  Mode mode_ = Mode::Reading;
  bool message_complete_ = false;
  bool paused_for_upgrade_ = false;
  Request request_;
  std::string field_;
  std::string value_;
  std::optional<ResponsePlan> plan_;
  std::unique_ptr<BodyCursor> cursor_;
  bool chunked_ = false;
  bool head_sent_ = false;
  Timer delay_timer_;
  Timer chunk_timer_;
  Timer resume_timer_;
};

} // namespace seawall::test_upstream
