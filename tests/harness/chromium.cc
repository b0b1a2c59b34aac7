#include "tests/harness/chromium.h"

#include <unistd.h>

#include <array>
#include <regex>
#include <thread>

#include "tests/harness/json_lite.h"

namespace seawall::test {
namespace {

using Clock = std::chrono::steady_clock;

std::chrono::milliseconds left(Clock::time_point deadline) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return ms.count() > 0 ? ms : std::chrono::milliseconds(0);
}

// GET `target` on 127.0.0.1:port, body by content-length (DevTools writes "Name:value" headers,
// which httpRequest does not read). "" on failure.
std::string devtoolsGet(uint16_t port, const std::string& target) {
  RawConnection c;
  if (!c.connect(port, std::chrono::seconds(2)) ||
      !c.send("GET " + target + " HTTP/1.1\r\nhost: 127.0.0.1:" + std::to_string(port) +
              "\r\n\r\n")) {
    return "";
  }
  auto head = c.readUntil("\r\n\r\n", std::chrono::seconds(2));
  if (!head) {
    return "";
  }
  const size_t body_at = head->find("\r\n\r\n") + 4;
  const std::regex length(R"((?:^|\r\n)content-length:\s*(\d+))", std::regex::icase);
  std::smatch m;
  const std::string header = head->substr(0, body_at);
  if (!std::regex_search(header, m, length)) {
    return "";
  }
  const size_t n = std::stoul(m[1].str());
  auto all = c.readAtLeast(body_at + n, std::chrono::seconds(2));
  return all ? all->substr(body_at, n) : "";
}

// The websocket path ("/devtools/page/<id>") of the page target showing `url`, or "".
std::string pageSocketPath(uint16_t port, const std::string& url, Clock::time_point deadline) {
  const std::regex socket(
      R"re("webSocketDebuggerUrl"\s*:\s*"ws://[^/"]+(/devtools/page/[^"]+)")re");
  while (Clock::now() < deadline) {
    const std::string list = devtoolsGet(port, "/json/list");
    // One object per target; only pages (not browser_ui and the like) on our URL.
    for (size_t at = list.find('{'); at != std::string::npos; at = list.find('{', at + 1)) {
      const std::string target = list.substr(at, list.find('}', at) - at);
      std::smatch m;
      if (jsonString(target, "type") == "page" && jsonString(target, "url") == url &&
          std::regex_search(target, m, socket)) {
        return m[1].str();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return "";
}

} // namespace

std::string chromiumBinary() {
  const char* env = std::getenv("SEAWALL_CHROMIUM"); // NOLINT(concurrency-mt-unsafe)
  std::string path = env != nullptr && *env != '\0' ? env : "/usr/bin/chromium";
  return ::access(path.c_str(), X_OK) == 0 ? path : "";
}

std::string jsonQuote(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::optional<std::string> base64Decode(std::string_view text) {
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  for (const char c : text) {
    if (c == '=') {
      break;
    }
    const size_t v = kAlphabet.find(c);
    if (v == std::string_view::npos) {
      return std::nullopt;
    }
    bits = (bits << 6) | static_cast<uint32_t>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xff));
    }
  }
  return out;
}

HeadlessChromium::~HeadlessChromium() {
  ws_.close();
  if (process_.pid() > 0) {
    process_.stop(std::chrono::seconds(3));
  }
}

::testing::AssertionResult HeadlessChromium::start(const std::string& binary,
                                                   const std::string& url, int width, int height,
                                                   std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  profile_ = std::make_unique<TempDir>("seawall-chromium");
  std::vector<std::string> argv = {binary,
                                   "--headless",
                                   "--no-sandbox",
                                   "--disable-gpu",
                                   "--disable-quic",
                                   "--no-first-run",
                                   "--no-default-browser-check",
                                   "--disable-background-networking",
                                   "--disable-component-update",
                                   "--disable-sync",
                                   "--disable-extensions",
                                   "--disable-dev-shm-usage",
                                   "--hide-scrollbars",
                                   "--mute-audio",
                                   "--password-store=basic",
                                   "--user-data-dir=" + profile_->path(),
                                   "--remote-debugging-address=127.0.0.1",
                                   "--remote-debugging-port=0",
                                   "--window-size=" + std::to_string(width) + "," +
                                       std::to_string(height),
                                   url};
  if (!process_.start(argv)) {
    return ::testing::AssertionFailure() << "cannot start " << binary;
  }
  const std::regex listening(R"(DevTools listening on ws://127\.0\.0\.1:(\d+)/)");
  auto line = process_.waitForOutput(listening, left(deadline));
  std::smatch m;
  if (!line || !std::regex_search(*line, m, listening)) {
    return ::testing::AssertionFailure() << "chromium's DevTools did not start:\n" << output();
  }
  const auto port = static_cast<uint16_t>(std::stoi(m[1].str()));
  const std::string path = pageSocketPath(port, url, deadline);
  if (path.empty() || !ws_.connect(port, left(deadline))) {
    return ::testing::AssertionFailure() << "no page target on DevTools port " << port;
  }
  ws_.send("GET " + path + " HTTP/1.1\r\nhost: 127.0.0.1:" + std::to_string(port) +
           "\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
           "sec-websocket-key: c2Vhd2FsbC1kYXNoYm9hcmQ=\r\nsec-websocket-version: 13\r\n\r\n");
  auto head = ws_.readUntil("\r\n\r\n", left(deadline));
  if (!head || head->rfind("HTTP/1.1 101", 0) != 0) {
    return ::testing::AssertionFailure() << "websocket handshake failed: " << head.value_or("");
  }
  read_at_ = head->find("\r\n\r\n") + 4;
  return ::testing::AssertionSuccess();
}

bool HeadlessChromium::sendFrame(std::string_view payload) {
  constexpr std::array<unsigned char, 4> kMask = {0x5e, 0xa7, 0x3a, 0x11};
  std::string frame;
  frame.push_back(static_cast<char>(0x81)); // FIN, text
  const size_t n = payload.size();
  if (n < 126) {
    frame.push_back(static_cast<char>(0x80 | n));
  } else if (n <= 0xffff) {
    frame.push_back(static_cast<char>(0x80 | 126));
    frame.push_back(static_cast<char>(n >> 8));
    frame.push_back(static_cast<char>(n & 0xff));
  } else {
    frame.push_back(static_cast<char>(0x80 | 127));
    for (int shift = 56; shift >= 0; shift -= 8) {
      frame.push_back(static_cast<char>((n >> shift) & 0xff));
    }
  }
  frame.append(kMask.begin(), kMask.end());
  for (size_t i = 0; i < n; ++i) {
    frame.push_back(static_cast<char>(payload[i] ^ static_cast<char>(kMask[i % 4])));
  }
  return ws_.send(frame);
}

std::optional<HeadlessChromium::Frame> HeadlessChromium::readFrame(Clock::time_point deadline) {
  if (!ws_.readAtLeast(read_at_ + 2, left(deadline))) {
    return std::nullopt;
  }
  const auto byte = [this](size_t i) {
    return static_cast<unsigned char>(ws_.received()[read_at_ + i]);
  };
  Frame frame;
  frame.fin = (byte(0) & 0x80) != 0;
  frame.opcode = byte(0) & 0x0f;
  const bool masked = (byte(1) & 0x80) != 0;
  uint64_t length = byte(1) & 0x7f;
  const size_t extra = length == 126 ? 2 : length == 127 ? 8 : 0;
  if (!ws_.readAtLeast(read_at_ + 2 + extra, left(deadline))) {
    return std::nullopt;
  }
  if (extra > 0) {
    length = 0;
    for (size_t i = 0; i < extra; ++i) {
      length = (length << 8) | byte(2 + i);
    }
  }
  const size_t mask_at = 2 + extra;
  const size_t header = mask_at + (masked ? 4 : 0);
  if (!ws_.readAtLeast(read_at_ + header + length, left(deadline))) {
    return std::nullopt;
  }
  frame.payload = ws_.received().substr(read_at_ + header, length);
  for (size_t i = 0; masked && i < frame.payload.size(); ++i) {
    frame.payload[i] =
        static_cast<char>(frame.payload[i] ^ static_cast<char>(byte(mask_at + (i % 4))));
  }
  read_at_ += header + length;
  return frame;
}

std::optional<std::string> HeadlessChromium::readMessage(Clock::time_point deadline) {
  std::string message;
  for (;;) {
    auto frame = readFrame(deadline);
    if (!frame || frame->opcode == 8) { // 8: close
      return std::nullopt;
    }
    if (frame->opcode <= 2) { // continuation, text, binary (pings are ignored)
      message += frame->payload;
      if (frame->fin) {
        return message;
      }
    }
  }
}

std::optional<std::string> HeadlessChromium::call(std::string_view method,
                                                  std::string_view params_json,
                                                  std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const int id = next_id_++;
  if (!sendFrame("{\"id\":" + std::to_string(id) + ",\"method\":\"" + std::string(method) +
                 "\",\"params\":" + std::string(params_json) + "}")) {
    return std::nullopt;
  }
  for (;;) {
    auto message = readMessage(deadline);
    if (!message) {
      return std::nullopt;
    }
    // Responses start with their id; events have none.
    if (message->rfind("{\"id\":" + std::to_string(id) + ",", 0) == 0) {
      return message;
    }
  }
}

std::optional<std::string> HeadlessChromium::evaluate(std::string_view expression,
                                                      std::chrono::milliseconds timeout) {
  auto reply =
      call("Runtime.evaluate",
           "{\"expression\":" + jsonQuote(expression) + ",\"returnByValue\":true}", timeout);
  if (!reply || reply->find("\"exceptionDetails\"") != std::string::npos) {
    return std::nullopt;
  }
  return jsonString(*reply, "value");
}

std::optional<std::string> HeadlessChromium::waitFor(std::string_view expression,
                                                     std::string_view want,
                                                     std::chrono::milliseconds timeout,
                                                     std::chrono::milliseconds every) {
  const auto deadline = Clock::now() + timeout;
  std::optional<std::string> last;
  for (;;) {
    last = evaluate(expression);
    if ((last && *last == want) || Clock::now() >= deadline) {
      return last;
    }
    std::this_thread::sleep_for(every);
  }
}

bool HeadlessChromium::screenshot(const std::string& path, std::chrono::milliseconds timeout) {
  auto reply = call("Page.captureScreenshot", R"({"format":"png"})", timeout);
  if (!reply) {
    return false;
  }
  auto data = jsonString(*reply, "data");
  auto png = data ? base64Decode(*data) : std::nullopt;
  return png && png->rfind("\x89PNG", 0) == 0 && writeFile(path, *png);
}

} // namespace seawall::test
