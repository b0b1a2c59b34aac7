#include "tests/harness/temp_files.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <vector>

namespace seawall::test {

TempDir::TempDir(std::string_view prefix) {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): tests read the environment on the main thread
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/" +
                        std::string(prefix) + "-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) != nullptr) {
    path_ = buf.data();
  }
}

TempDir::~TempDir() {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): as above
  if (path_.empty() || std::getenv("SEAWALL_KEEP_TEST_FILES") != nullptr) {
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

bool writeFile(const std::string& path, std::string_view contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  return static_cast<bool>(out);
}

std::optional<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace seawall::test
