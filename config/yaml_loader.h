// seawall.yaml -> Config, and back. Every problem (YAML syntax, unknown or misplaced key, wrong
// type, bad value, broken cross-field rule) comes back as one ConfigError pointing at the
// offending node: "FILE:LINE:COL: message". Nothing throws out of these functions.
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "config/config.h"

namespace seawall::config {

// Reads and loads `path`. A file that cannot be read gives an error with line 0.
std::variant<Config, ConfigError> loadConfigFile(const std::string& path);

// Loads YAML text; `file_name` is used in errors and as Config::source_path.
std::variant<Config, ConfigError> loadConfigString(std::string_view yaml,
                                                   const std::string& file_name);

// The effective config, defaults filled in, as YAML in the same schema (for the admin /config
// endpoint). Loading the result gives a Config equal (operator==) to `config`.
std::string dumpConfig(const Config& config);

} // namespace seawall::config
