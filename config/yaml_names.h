// The YAML spelling of each config enum, shared by the loader (yaml_loader.cc) and the dumper
// (yaml_dump.cc) so that what one writes the other reads. Internal to config/.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

#include "config/config.h"

namespace seawall::config {

template <typename E> struct EnumName {
  std::string_view name;
  E value;
};

inline constexpr std::array<EnumName<Protocol>, 2> kProtocolNames{
    {{"http1", Protocol::Http1}, {"h2c", Protocol::H2c}}};
inline constexpr std::array<EnumName<ClusterProtocol>, 2> kClusterProtocolNames{
    {{"http1", ClusterProtocol::Http1}, {"h2", ClusterProtocol::H2}}};
inline constexpr std::array<EnumName<ClusterType>, 2> kClusterTypeNames{
    {{"static", ClusterType::Static}, {"original_dst", ClusterType::OriginalDst}}};
inline constexpr std::array<EnumName<LoadBalancing>, 2> kLoadBalancingNames{
    {{"least_request", LoadBalancing::LeastRequest}, {"round_robin", LoadBalancing::RoundRobin}}};
inline constexpr std::array<EnumName<BreakerConfig::WindowType>, 2> kWindowTypeNames{
    {{"count", BreakerConfig::WindowType::Count}, {"time", BreakerConfig::WindowType::Time}}};
inline constexpr std::array<EnumName<BreakerConfig::Mode>, 4> kBreakerModeNames{
    {{"normal", BreakerConfig::Mode::Normal},
     {"forced_open", BreakerConfig::Mode::ForcedOpen},
     {"disabled", BreakerConfig::Mode::Disabled},
     {"metrics_only", BreakerConfig::Mode::MetricsOnly}}};
inline constexpr std::array<EnumName<AsyncConfig::When>, 2> kAsyncWhenNames{
    {{"always", AsyncConfig::When::Always},
     {"prefer-respond-async", AsyncConfig::When::PreferRespondAsync}}};
inline constexpr std::array<EnumName<AsyncStoreConfig::Backend>, 2> kAsyncBackendNames{
    {{"memory", AsyncStoreConfig::Backend::Memory}, {"redis", AsyncStoreConfig::Backend::Redis}}};

template <typename E, size_t N>
constexpr std::string_view nameOf(const std::array<EnumName<E>, N>& table, E value) {
  for (const auto& entry : table) {
    if (entry.value == value) {
      return entry.name;
    }
  }
  return "?";
}

} // namespace seawall::config
