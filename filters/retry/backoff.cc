#include "filters/retry/backoff.h"

#include <algorithm>
#include <array>

namespace seawall::filters::retry {
namespace {

using std::chrono::milliseconds;

// Largest delay-seconds we represent: about 68 years, far above any backoff.max.
constexpr int64_t kMaxDeltaSeconds = int64_t{1} << 31;

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

std::optional<int64_t> parseDeltaSeconds(std::string_view s) {
  if (s.empty()) {
    return std::nullopt;
  }
  int64_t value = 0;
  for (const char c : s) {
    if (!isDigit(c)) {
      return std::nullopt;
    }
    value = std::min(kMaxDeltaSeconds, value * 10 + (c - '0'));
  }
  return value;
}

// A left-to-right reader over an HTTP-date; every method fails (returns false) without throwing.
class DateReader {
public:
  explicit DateReader(std::string_view s) : s_(s) {}

  bool literal(std::string_view l) {
    if (s_.substr(0, l.size()) != l) {
      return false;
    }
    s_.remove_prefix(l.size());
    return true;
  }
  // Exactly `n` digits.
  bool digits(size_t n, int& out) {
    if (s_.size() < n) {
      return false;
    }
    int v = 0;
    for (size_t i = 0; i < n; ++i) {
      if (!isDigit(s_[i])) {
        return false;
      }
      v = v * 10 + (s_[i] - '0');
    }
    s_.remove_prefix(n);
    out = v;
    return true;
  }
  // One of `names`; `out` = its index.
  template <size_t N> bool oneOf(const std::array<std::string_view, N>& names, int& out) {
    for (size_t i = 0; i < N; ++i) {
      if (literal(names[i])) {
        out = static_cast<int>(i);
        return true;
      }
    }
    return false;
  }
  bool done() const { return s_.empty(); }

private:
  std::string_view s_;
};

constexpr std::array<std::string_view, 7> kDayNames = {"Mon", "Tue", "Wed", "Thu",
                                                       "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> kLongDayNames = {
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};
constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

struct DateFields {
  int year = 0;
  int month = 0; // 0-based
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
};

// time-of-day = hour ":" minute ":" second
bool timeOfDay(DateReader& r, DateFields& f) {
  return r.digits(2, f.hour) && r.literal(":") && r.digits(2, f.minute) && r.literal(":") &&
         r.digits(2, f.second);
}

// "Sun, 06 Nov 1994 08:49:37 GMT"
bool imfFixdate(std::string_view s, DateFields& f) {
  DateReader r(s);
  int day_name = 0;
  return r.oneOf(kDayNames, day_name) && r.literal(", ") && r.digits(2, f.day) && r.literal(" ") &&
         r.oneOf(kMonths, f.month) && r.literal(" ") && r.digits(4, f.year) && r.literal(" ") &&
         timeOfDay(r, f) && r.literal(" GMT") && r.done();
}

// "Sunday, 06-Nov-94 08:49:37 GMT"; the century is resolved later.
bool rfc850Date(std::string_view s, DateFields& f) {
  DateReader r(s);
  int day_name = 0;
  return r.oneOf(kLongDayNames, day_name) && r.literal(", ") && r.digits(2, f.day) &&
         r.literal("-") && r.oneOf(kMonths, f.month) && r.literal("-") && r.digits(2, f.year) &&
         r.literal(" ") && timeOfDay(r, f) && r.literal(" GMT") && r.done();
}

// "Sun Nov  6 08:49:37 1994" (day is 2DIGIT or SP DIGIT)
bool asctimeDate(std::string_view s, DateFields& f) {
  DateReader r(s);
  int day_name = 0;
  if (!(r.oneOf(kDayNames, day_name) && r.literal(" ") && r.oneOf(kMonths, f.month) &&
        r.literal(" "))) {
    return false;
  }
  const bool day_ok = r.literal(" ") ? r.digits(1, f.day) : r.digits(2, f.day);
  return day_ok && r.literal(" ") && timeOfDay(r, f) && r.literal(" ") && r.digits(4, f.year) &&
         r.done();
}

std::optional<std::chrono::sys_seconds> toTimePoint(const DateFields& f) {
  using namespace std::chrono;
  const year_month_day ymd{year{f.year}, month{static_cast<unsigned>(f.month + 1)},
                           day{static_cast<unsigned>(f.day)}};
  // second 60: a leap second, allowed by the grammar's range.
  if (!ymd.ok() || f.hour > 23 || f.minute > 59 || f.second > 60) {
    return std::nullopt;
  }
  return sys_days{ymd} + hours{f.hour} + minutes{f.minute} + seconds{f.second};
}

// RFC 9110: a two-digit year that appears to be more than 50 years in the future is the most
// recent year in the past with the same last two digits. Compared by years: the result lies in
// (current year - 50, current year + 50].
int resolveTwoDigitYear(int two_digits, std::chrono::system_clock::time_point now) {
  using namespace std::chrono;
  const int current = static_cast<int>(year_month_day{floor<days>(now)}.year());
  int year = current - current % 100 + two_digits;
  if (year > current + 50) {
    year -= 100;
  } else if (year <= current - 50) {
    year += 100;
  }
  return year;
}

// Seconds precision: years up to 9999 do not fit a nanosecond system_clock::time_point.
std::optional<std::chrono::sys_seconds> parseHttpDate(std::string_view s,
                                                      std::chrono::system_clock::time_point now) {
  DateFields f;
  if (imfFixdate(s, f) || asctimeDate(s, f)) {
    return toTimePoint(f);
  }
  f = DateFields{};
  if (rfc850Date(s, f)) {
    f.year = resolveTwoDigitYear(f.year, now);
    return toTimePoint(f);
  }
  return std::nullopt;
}

} // namespace

milliseconds backoffCeiling(const BackoffPolicy& policy, uint32_t attempt) {
  const int64_t base = std::max<int64_t>(policy.base.count(), 0);
  const int64_t max = std::max<int64_t>(policy.max.count(), 0);
  if (base == 0 || max == 0) {
    return milliseconds{0};
  }
  const uint32_t shift = attempt <= 1 ? 0 : attempt - 1;
  // base << shift <= max exactly when base <= max >> shift; past that the ceiling is max. Shifts
  // of 63 and more are undefined or overflow, and saturate anyway.
  if (shift >= 63 || base > (max >> shift)) {
    return milliseconds{max};
  }
  return milliseconds{base << shift};
}

milliseconds backoffDelay(const BackoffPolicy& policy, uint32_t attempt, proxy::Random& random) {
  const auto ceiling = static_cast<uint64_t>(backoffCeiling(policy, attempt).count());
  return milliseconds{static_cast<int64_t>(random.uniform(ceiling))};
}

std::optional<milliseconds> parseRetryAfter(std::string_view value,
                                            std::chrono::system_clock::time_point now) {
  using namespace std::chrono;
  const std::string_view s = trimOws(value);
  if (!s.empty() && isDigit(s.front())) {
    if (auto delta = parseDeltaSeconds(s)) {
      return duration_cast<milliseconds>(seconds{*delta});
    }
    return std::nullopt;
  }
  const auto when = parseHttpDate(s, now);
  if (!when) {
    return std::nullopt;
  }
  const auto when_ms = time_point_cast<milliseconds>(*when);
  const auto now_ms = floor<milliseconds>(now);
  if (when_ms <= now_ms) {
    return milliseconds{0};
  }
  return std::min(when_ms - now_ms, duration_cast<milliseconds>(seconds{kMaxDeltaSeconds}));
}

std::optional<milliseconds> honouredRetryAfter(std::string_view value,
                                               std::chrono::system_clock::time_point now,
                                               const BackoffPolicy& policy) {
  const auto parsed = parseRetryAfter(value, now);
  if (!parsed) {
    return std::nullopt;
  }
  return std::min(*parsed, std::max(policy.max, milliseconds{0}));
}

} // namespace seawall::filters::retry
