// The real curl binary as a test client: status, headers (lowercase names) and body.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace seawall::test {

struct CurlResult {
  int exit_code = -1;       // curl's exit code: 0 ok, 18 partial body, 28 timeout,
                            // 52 empty reply, 56 receive failure, 92 HTTP/2 stream error
  int status = 0;           // status of the last response (0 if none)
  std::string http_version; // "1.1", "2", ... as curl's %{http_version}
  // Headers of the last response, then any trailers; names lowercased.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string err; // curl's stderr
  std::chrono::milliseconds elapsed{0};

  std::optional<std::string> header(std::string_view name) const; // first value
  size_t headerCount(std::string_view name) const;
};

struct CurlOptions {
  bool http2_prior_knowledge = false;
  std::chrono::milliseconds timeout = std::chrono::seconds(30); // kills curl (exit_code -1)
  std::string stdin_data;                                       // for "--data-binary @-"
};

// Runs `curl -s -S -D <tmp> -o <tmp> -w ... [--http2-prior-knowledge] extra_args... url`.
CurlResult curl(std::vector<std::string> extra_args, std::string url,
                const CurlOptions& options = {});
// Same with --http2-prior-knowledge.
CurlResult curlH2(std::vector<std::string> extra_args, std::string url, CurlOptions options = {});

} // namespace seawall::test
