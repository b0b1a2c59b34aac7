// Route matching: the first route of a listener whose match holds wins.
#pragma once

#include <vector>

#include "config/config.h"
#include "proxy/http/headers.h"

namespace seawall::proxy {

// Returns the matching route of `routes`, or nullptr.
const config::Route* matchRoute(const std::vector<config::Route>& routes, const RequestHead& head);

} // namespace seawall::proxy
