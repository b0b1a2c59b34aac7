#include "filters/async_202/job_store.h"

#include <algorithm>

namespace seawall::filters::async_202 {
namespace {

// Counted per header and per trailer on top of its name and value: the vector slot and the two
// string objects (approximate), so that many tiny fields are bounded too.
constexpr size_t kFieldOverheadBytes = 32;
constexpr size_t kJobIdDigits = 32;

size_t fieldBytes(const std::vector<std::pair<std::string, std::string>>& fields) {
  size_t bytes = 0;
  for (const auto& [name, value] : fields) {
    bytes += kFieldOverheadBytes + name.size() + value.size();
  }
  return bytes;
}

} // namespace

std::string_view toString(JobState s) {
  switch (s) {
  case JobState::Processing:
    return "PROCESSING";
  case JobState::Completed:
    return "COMPLETED";
  case JobState::Failed:
    return "FAILED";
  }
  return "?";
}

size_t JobResult::bytes() const { return body.size() + fieldBytes(headers) + fieldBytes(trailers); }

std::string makeJobId(uint64_t high, uint64_t low) {
  static constexpr std::string_view kDigits = "0123456789abcdef";
  std::string id(kJobIdDigits, '0');
  for (size_t i = 0; i < 16; ++i) {
    const unsigned shift = static_cast<unsigned>(60 - 4 * i);
    id[i] = kDigits[(high >> shift) & 0xf];
    id[16 + i] = kDigits[(low >> shift) & 0xf];
  }
  return id;
}

bool isJobId(std::string_view id) {
  return id.size() == kJobIdDigits && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

} // namespace seawall::filters::async_202
