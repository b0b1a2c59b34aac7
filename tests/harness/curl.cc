#include "tests/harness/curl.h"

#include <cstdlib>
#include <sstream>

#include "tests/harness/command.h"
#include "tests/harness/temp_files.h"

#include <strings.h>

namespace seawall::test {
namespace {

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return s;
}

// Keeps the headers of the last "HTTP/..." block (1xx and redirects come first) and trailers.
void parseHeaderDump(const std::string& dump, CurlResult& result) {
  std::istringstream lines(dump);
  std::string line;
  for (int guard = 0; guard < 100000 && std::getline(lines, line); ++guard) {
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    if (line.starts_with("HTTP/")) {
      result.headers.clear();
      continue;
    }
    const auto colon = line.find(':');
    if (line.empty() || colon == std::string::npos || colon == 0) {
      continue;
    }
    std::string value = line.substr(colon + 1);
    const auto first = value.find_first_not_of(" \t");
    value = first == std::string::npos ? std::string{} : value.substr(first);
    result.headers.emplace_back(lower(line.substr(0, colon)), std::move(value));
  }
}

} // namespace

std::optional<std::string> CurlResult::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (n.size() == name.size() && strncasecmp(n.data(), name.data(), n.size()) == 0) {
      return v;
    }
  }
  return std::nullopt;
}

size_t CurlResult::headerCount(std::string_view name) const {
  size_t count = 0;
  for (const auto& [n, v] : headers) {
    count += (n.size() == name.size() && strncasecmp(n.data(), name.data(), n.size()) == 0);
  }
  return count;
}

CurlResult curl(std::vector<std::string> extra_args, std::string url, const CurlOptions& options) {
  TempDir dir("seawall-curl");
  const std::string head_file = dir.file("headers");
  const std::string body_file = dir.file("body");
  std::vector<std::string> argv = {
      "curl", "-s", "-S", "-D", head_file, "-o", body_file, "-w", "%{http_code} %{http_version}"};
  if (options.http2_prior_knowledge) {
    argv.emplace_back("--http2-prior-knowledge");
  }
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  argv.push_back(std::move(url));
  const auto started = std::chrono::steady_clock::now();
  CommandResult run = runCommand(std::move(argv), options.timeout, options.stdin_data);
  CurlResult result;
  result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  result.exit_code = run.exit_code;
  result.err = std::move(run.err);
  std::istringstream w(run.out);
  w >> result.status >> result.http_version;
  parseHeaderDump(readFile(head_file).value_or(""), result);
  result.body = readFile(body_file).value_or("");
  return result;
}

CurlResult curlH2(std::vector<std::string> extra_args, std::string url, CurlOptions options) {
  options.http2_prior_knowledge = true;
  return curl(std::move(extra_args), std::move(url), options);
}

} // namespace seawall::test
