// A free TCP port on 127.0.0.1 (bind to port 0, read it back, close). Another process may take
// it before the caller binds it; tests accept that small race.
#pragma once

#include <cstdint>

namespace seawall::test {

// Returns 0 if no port could be obtained.
uint16_t freeTcpPort();

} // namespace seawall::test
