// GET /dashboard: the live breaker page, in the spirit of the Hystrix dashboard. One
// self-contained HTML document (inline CSS and vanilla JavaScript, nothing loaded from elsewhere)
// that follows GET /breakers/stream with EventSource and shows one card per cluster: breaker state
// (data-state="<state>" on the card), requests/s and error % computed from successive events, a
// sparkline of the error rate and the recent transitions. Documented in docs/admin.md.
#pragma once

#include <string_view>

namespace seawall::proxy::admin {

// The page, compiled into the binary.
std::string_view dashboardPage();

// content-security-policy of the page: inline script and style, EventSource to this origin,
// nothing else.
inline constexpr std::string_view kDashboardPolicy =
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'";

} // namespace seawall::proxy::admin
