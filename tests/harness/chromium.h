// Headless Chromium (Debian's `chromium`) for tests of the admin pages: one browser on one URL,
// driven over the DevTools protocol (a minimal websocket client, no dependency) to evaluate
// JavaScript in the live page and capture screenshots. Stopped by PID when destroyed.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "tests/harness/process.h"
#include "tests/harness/raw_client.h"
#include "tests/harness/temp_files.h"

namespace seawall::test {

// $SEAWALL_CHROMIUM, else /usr/bin/chromium; "" when it is not an executable file.
std::string chromiumBinary();

class HeadlessChromium {
public:
  HeadlessChromium() = default;
  HeadlessChromium(const HeadlessChromium&) = delete;
  HeadlessChromium& operator=(const HeadlessChromium&) = delete;
  HeadlessChromium(HeadlessChromium&&) = delete;
  HeadlessChromium& operator=(HeadlessChromium&&) = delete;
  ~HeadlessChromium();

  // Starts `binary` headless with a fresh profile and a `width`x`height` window on `url`, then
  // connects to the page over the DevTools protocol.
  ::testing::AssertionResult start(const std::string& binary, const std::string& url,
                                   int width = 1200, int height = 800,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Runtime.evaluate of `expression` in the page; its value when it is a string (wrap other
  // values in String(...) or JSON.stringify(...)). nullopt on error, exception or timeout.
  std::optional<std::string> evaluate(std::string_view expression,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Polls `expression` every `every` until it evaluates to `want`; the last value seen.
  std::optional<std::string>
  waitFor(std::string_view expression, std::string_view want, std::chrono::milliseconds timeout,
          std::chrono::milliseconds every = std::chrono::milliseconds(25));
  // Page.captureScreenshot of the viewport, written as PNG to `path`.
  bool screenshot(const std::string& path,
                  std::chrono::milliseconds timeout = std::chrono::seconds(10));
  std::string output() const { return process_.allOutput(); }

private:
  // Sends one DevTools command and returns its response message (events are skipped).
  std::optional<std::string> call(std::string_view method, std::string_view params_json,
                                  std::chrono::milliseconds timeout);
  struct Frame {
    bool fin = false;
    int opcode = 0;
    std::string payload;
  };
  bool sendFrame(std::string_view payload);
  std::optional<Frame> readFrame(std::chrono::steady_clock::time_point deadline);
  std::optional<std::string> readMessage(std::chrono::steady_clock::time_point deadline);

  std::unique_ptr<TempDir> profile_;
  ChildProcess process_;
  RawConnection ws_;
  size_t read_at_ = 0; // bytes of ws_.received() already parsed
  int next_id_ = 1;
};

// Appends `s` as a JSON string literal (for DevTools parameters).
std::string jsonQuote(std::string_view s);
// Standard base64 (RFC 4648) decoding; nullopt on a bad character.
std::optional<std::string> base64Decode(std::string_view text);

} // namespace seawall::test
