// Non-blocking name resolution on an event loop (libevent's evdns), set up the same way wherever
// Seawall resolves: cluster endpoints (main thread) and 202 callback hosts (each worker).
#pragma once

#include <event2/dns.h>
#include <event2/event.h>

namespace seawall::proxy {

// An evdns base on `base` with the system's resolv.conf servers and hosts file, or with the hosts
// file alone where there is no resolv.conf. Freed by the caller (evdns_base_free).
inline evdns_base* newDnsBase(event_base* base) {
  evdns_base* dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
  if (dns == nullptr) {
    dns = evdns_base_new(base, 0);
    evdns_base_load_hosts(dns, nullptr);
  }
  return dns;
}

} // namespace seawall::proxy
