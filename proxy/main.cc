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

struct Args {
  std::string config_path;
  bool validate_only = false;
  int exit_code = -1; // >= 0: exit now with this code
};

seawall::proxy::LogLevel parseLevel(const std::string& level) {
  using seawall::proxy::LogLevel;
  if (level == "debug") {
    return LogLevel::Debug;
  }
  if (level == "warn") {
    return LogLevel::Warn;
  }
  return level == "error" ? LogLevel::Error : LogLevel::Info;
}

Args parseArgs(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if ((arg == "--config" || arg == "-c" || arg == "--validate") && i + 1 < argc) {
      args.validate_only = arg == "--validate";
      args.config_path = argv[++i];
    } else if (arg == "--log-level" && i + 1 < argc) {
      seawall::proxy::setLogLevel(parseLevel(argv[++i]));
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      args.exit_code = 0;
      return args;
    } else {
      std::fprintf(stderr, "seawall: unknown argument '%s'\n%s", arg.c_str(), kUsage);
      args.exit_code = 2;
      return args;
    }
  }
  if (args.config_path.empty()) {
    std::fputs(kUsage, stderr);
    args.exit_code = 2;
  }
  return args;
}

} // namespace

int main(int argc, char** argv) {
  using namespace seawall;
  Args args = parseArgs(argc, argv);
  if (args.exit_code >= 0) {
    return args.exit_code;
  }
  const std::string& config_path = args.config_path;
  const bool validate_only = args.validate_only;
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
