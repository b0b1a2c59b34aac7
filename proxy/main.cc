// seawall: the resilience sidecar proxy.
//   seawall --config FILE      run
//   seawall --validate FILE    check a config: prints FILE:LINE:COL: reason and exits 1 if bad
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <variant>

#include "config/yaml_loader.h"
#include "proxy/common/log.h"
#include "proxy/server.h"

namespace {

constexpr const char* kUsage =
    "usage: seawall --config FILE | --validate FILE [--log-level LEVEL]\n"
    "  --config FILE     run the proxy with FILE\n"
    "  --validate FILE   check FILE and exit (0: valid, 1: invalid)\n"
    "  --log-level L     debug, info (default), warn, error\n";

} // namespace

int main(int argc, char** argv) {
  using namespace seawall;
  std::string config_path;
  bool validate_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if ((arg == "--config" || arg == "-c" || arg == "--validate") && i + 1 < argc) {
      validate_only = arg == "--validate";
      config_path = argv[++i];
    } else if (arg == "--log-level" && i + 1 < argc) {
      std::string level = argv[++i];
      proxy::setLogLevel(level == "debug"   ? proxy::LogLevel::Debug
                         : level == "warn"  ? proxy::LogLevel::Warn
                         : level == "error" ? proxy::LogLevel::Error
                                            : proxy::LogLevel::Info);
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      std::fprintf(stderr, "seawall: unknown argument '%s'\n%s", arg.c_str(), kUsage);
      return 2;
    }
  }
  if (config_path.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  auto loaded = config::loadConfigFile(config_path);
  if (auto* err = std::get_if<config::ConfigError>(&loaded)) {
    std::fprintf(stderr, "%s\n", err->toString().c_str());
    return 1;
  }
  if (validate_only) {
    std::printf("%s: valid\n", config_path.c_str());
    return 0;
  }
  auto cfg = std::make_shared<const config::Config>(std::move(std::get<config::Config>(loaded)));
  proxy::Server server(cfg);
  std::string error;
  if (!server.start(error)) {
    std::fprintf(stderr, "seawall: %s\n", error.c_str());
    return 1;
  }
  return server.run();
}
