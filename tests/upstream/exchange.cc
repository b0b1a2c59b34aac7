#include "tests/upstream/exchange.h"

#include <algorithm>
#include <cstring>

namespace seawall::test_upstream {

const std::string* Request::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (n == name) {
      return &v;
    }
  }
  return nullptr;
}

void Request::splitTarget() {
  const auto q = target.find('?');
  path = target.substr(0, q);
  query = q == std::string::npos ? std::string{} : target.substr(q + 1);
}

BodyCursor::BodyCursor(const ResponsePlan& plan)
    : plan_(plan), size_(plan.no_body ? 0 : plan.bodySize()),
      segments_(std::clamp<uint64_t>(plan.chunks, 1, std::max<uint64_t>(size_, 1))) {
  if (plan.reset == ResetMode::AfterHeaders) {
    reset_at_ = 0;
  } else if (plan.reset == ResetMode::MidBody) {
    reset_at_ = size_ / 2;
  }
}

uint64_t BodyCursor::segmentEnd() const {
  const uint64_t seg = std::min(segment_, segments_ - 1);
  // size_ * (seg + 1) / segments_ without overflow for any realistic size.
  const uint64_t whole = size_ / segments_;
  const uint64_t rest = size_ % segments_;
  return whole * (seg + 1) + rest * (seg + 1) / segments_;
}

size_t BodyCursor::read(char* dst, size_t max) {
  uint64_t limit = segmentEnd();
  if (reset_at_ && *reset_at_ >= offset_) {
    limit = std::min(limit, *reset_at_);
  }
  const auto n = static_cast<size_t>(std::min<uint64_t>(max, limit - std::min(limit, offset_)));
  if (n == 0) {
    return 0;
  }
  if (plan_.pattern_size) {
    fillPattern(dst, offset_, n);
  } else {
    std::memcpy(dst, plan_.text_body.data() + offset_, n);
  }
  offset_ += n;
  return n;
}

} // namespace seawall::test_upstream
