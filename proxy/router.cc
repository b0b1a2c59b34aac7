#include "proxy/router.h"

#include <algorithm>
#include <string_view>

namespace seawall::proxy {
namespace {

bool headerMatches(const config::HeaderMatch& m, const HeaderMap& headers) {
  const std::string* value = headers.get(m.name);
  if (m.exact) {
    return value != nullptr && *value == *m.exact;
  }
  if (m.prefix) {
    return value != nullptr && std::string_view(*value).starts_with(*m.prefix);
  }
  return (value != nullptr) == m.present;
}

} // namespace

const config::Route* matchRoute(const std::vector<config::Route>& routes, const RequestHead& head) {
  std::string_view path = head.path;
  std::string_view path_only = path.substr(0, path.find('?'));
  for (const auto& route : routes) {
    const auto& m = route.match;
    if (m.path && path_only != *m.path) {
      continue;
    }
    if (m.prefix && !path.starts_with(*m.prefix)) {
      continue;
    }
    if (!m.methods.empty() &&
        std::find(m.methods.begin(), m.methods.end(), head.method) == m.methods.end()) {
      continue;
    }
    if (!std::all_of(m.headers.begin(), m.headers.end(), [&](const config::HeaderMatch& h) {
          return headerMatches(h, head.headers);
        })) {
      continue;
    }
    return &route;
  }
  return nullptr;
}

} // namespace seawall::proxy
