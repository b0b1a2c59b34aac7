// Temporary directories and whole-file reads/writes for the integration harness.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace seawall::test {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents when destroyed
// (kept if SEAWALL_KEEP_TEST_FILES is set, for debugging).
class TempDir {
public:
  explicit TempDir(std::string_view prefix = "seawall-test");
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir(TempDir&&) = delete;
  TempDir& operator=(TempDir&&) = delete;
  ~TempDir();

  const std::string& path() const { return path_; }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

private:
  std::string path_;
};

bool writeFile(const std::string& path, std::string_view contents);
std::optional<std::string> readFile(const std::string& path);

} // namespace seawall::test
