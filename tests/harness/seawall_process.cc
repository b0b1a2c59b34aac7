#include "tests/harness/seawall_process.h"

#include <cstdlib>
#include <thread>

namespace seawall::test {

std::string seawallBinary() {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): tests read the environment on the main thread
  if (const char* env = std::getenv("SEAWALL_BINARY")) {
    return env;
  }
#ifdef SEAWALL_BINARY
  return SEAWALL_BINARY;
#else
  return "seawall";
#endif
}

std::string fillPlaceholders(std::string text,
                             const std::vector<std::pair<std::string, std::string>>& values) {
  for (const auto& [key, value] : values) {
    const std::string token = "{{" + key + "}}";
    size_t pos = text.find(token);
    while (pos != std::string::npos) {
      text.replace(pos, token.size(), value);
      pos = text.find(token, pos + value.size());
    }
  }
  return text;
}

CommandResult validateConfig(std::string_view yaml, std::string_view file_name) {
  TempDir dir("seawall-validate");
  const std::string path = dir.file(file_name);
  if (!writeFile(path, yaml)) {
    return CommandResult{};
  }
  return runCommand({seawallBinary(), "--validate", path}, std::chrono::seconds(30));
}

bool SeawallProcess::writeConfig(std::string yaml) {
  if (!dir_) {
    dir_ = std::make_unique<TempDir>("seawall-proxy");
    config_path_ = dir_->file("seawall.yaml");
  }
  yaml = fillPlaceholders(std::move(yaml), {{"ADMIN_PORT", std::to_string(admin_port_)}});
  return writeFile(config_path_, yaml);
}

::testing::AssertionResult SeawallProcess::start(std::string yaml, uint16_t admin_port,
                                                 std::vector<std::string> extra_args,
                                                 std::chrono::milliseconds ready_timeout,
                                                 const std::vector<std::string>& extra_env) {
  admin_port_ = admin_port;
  if (!writeConfig(std::move(yaml))) {
    return ::testing::AssertionFailure() << "cannot write the config file " << config_path_;
  }
  std::vector<std::string> argv = {seawallBinary(), "--config", config_path_};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  if (!process_.start(argv, extra_env)) {
    return ::testing::AssertionFailure() << "cannot start " << argv[0];
  }
  return waitReady(ready_timeout, 200);
}

std::optional<HttpReply> SeawallProcess::admin(std::string_view method,
                                               std::string_view path) const {
  return httpRequest(admin_port_, method, path, "", std::chrono::seconds(5));
}

::testing::AssertionResult SeawallProcess::waitReady(std::chrono::milliseconds timeout,
                                                     int status) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int last = 0;
  for (;;) {
    if (!process_.running()) {
      return ::testing::AssertionFailure()
             << "seawall exited with status " << process_.exitStatus().value_or(-1)
             << " before /ready answered " << status << "\n"
             << output();
    }
    const auto reply = httpRequest(admin_port_, "GET", "/ready", "", std::chrono::seconds(1));
    last = reply ? reply->status : 0;
    if (last == status) {
      return ::testing::AssertionSuccess();
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return ::testing::AssertionFailure()
             << "GET /ready on admin port " << admin_port_ << " answered " << last
             << " (0: no answer), wanted " << status << " within " << timeout.count() << " ms\n"
             << output();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

} // namespace seawall::test
