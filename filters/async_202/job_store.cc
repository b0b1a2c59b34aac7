#include "filters/async_202/job_store.h"

#include <sys/random.h>

#include <algorithm>
#include <array>
#include <random>

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

std::string makeSecureJobId() {
  std::array<uint64_t, 2> words{};
  size_t got = 0;
  auto* bytes = reinterpret_cast<unsigned char*>(words.data());
  // getrandom on the urandom pool blocks only before the pool is seeded (early boot) and may
  // return short reads for large sizes (not 16 bytes); loop on EINTR, bounded.
  for (int tries = 0; got < sizeof(words) && tries < 8; ++tries) {
    ssize_t n = getrandom(bytes + got, sizeof(words) - got, 0);
    if (n > 0) {
      got += static_cast<size_t>(n);
    }
  }
  if (got < sizeof(words)) {
    std::random_device device; // never seen: the kernel always answers 16 bytes
    words[0] = (uint64_t{device()} << 32) ^ device();
    words[1] = (uint64_t{device()} << 32) ^ device();
  }
  return makeJobId(words[0], words[1]);
}

} // namespace seawall::filters::async_202
