// Randomness seam: filters take a Random& so tests can inject a seeded (or scripted) source.
//
// Not thread-safe: each worker owns its RealRandom, as it owns its event_base.
#pragma once

#include <cstdint>
#include <limits>
#include <random>

namespace seawall::proxy {

class Random {
public:
  virtual ~Random() = default;
  // 64 uniformly distributed bits.
  virtual uint64_t next() = 0;

  // Uniform in [0, max_inclusive], without modulo bias: draws below 2^64 mod range are rejected.
  // A rejection happens with probability < 1/2, so the loop is bounded: after kMaxDraws rejected
  // draws (never seen with a real source) the last draw is used, slightly biased.
  uint64_t uniform(uint64_t max_inclusive) {
    constexpr uint64_t kAll = std::numeric_limits<uint64_t>::max();
    if (max_inclusive == kAll) {
      return next();
    }
    const uint64_t range = max_inclusive + 1;
    const uint64_t threshold = (kAll - range + 1) % range; // == 2^64 mod range
    uint64_t draw = next();
    for (int i = 1; i < kMaxDraws && draw < threshold; ++i) {
      draw = next();
    }
    return draw % range;
  }

  static constexpr int kMaxDraws = 64;
};

// std::mt19937_64 seeded from std::random_device; one per worker.
class RealRandom final : public Random {
public:
  RealRandom() : engine_(seed()) {}
  uint64_t next() override { return engine_(); }

private:
  static uint64_t seed() {
    std::random_device device;
    return (uint64_t{device()} << 32) ^ uint64_t { device() };
  }
  std::mt19937_64 engine_;
};

// Deterministic sequence for tests: the same seed gives the same draws.
class SeededRandom final : public Random {
public:
  explicit SeededRandom(uint64_t seed) : engine_(seed) {}
  uint64_t next() override { return engine_(); }

private:
  std::mt19937_64 engine_;
};

} // namespace seawall::proxy
