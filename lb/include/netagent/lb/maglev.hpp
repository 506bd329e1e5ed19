#pragma once
// Maglev consistent hashing (Eisenbud et al., NSDI 2016, §3.4): a lookup table of M entries (M
// prime) filled from each backend's permutation of the table, so that
//  - every node that knows the same backends and seed builds the same table (backends are
//    ordered by name, and the permutations depend only on the name and the seed);
//  - equal backends own floor(M/N) or ceil(M/N) entries each;
//  - adding or removing a backend moves the entries it gains or loses plus a small fraction of
//    others (measured in tests/lb/maglev_test.cpp). Strictly moving only the entries that must
//    move would require every table entry to prefer backends in a fixed order (rendezvous
//    hashing), which cannot keep the one-entry balance; Maglev keeps the balance.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "netagent/common/result.hpp"

namespace netagent::lb {

// The table sizes Cilium allows (maglev.tableSize), all prime.
inline constexpr std::array<uint32_t, 10> kMaglevTableSizes = {251,  509,   1021,  2039,  4093,
                                                               8191, 16381, 32749, 65521, 131071};
inline constexpr uint32_t kMaglevDefaultTableSize = 16381;
inline constexpr const char* kMaglevDefaultSeed = "JLfvgnHc2kaSUFaI";  // Cilium's default

bool maglev_table_size_allowed(uint32_t m);

// The 12-byte hash seed, from its base64 form (16 characters, as Cilium's maglev.hashSeed).
struct MaglevSeed {
  std::array<uint32_t, 3> words{};
  static Result<MaglevSeed> parse(const std::string& base64);
};

struct MaglevBackend {
  std::string name;  // stable identity, e.g. "10.1.0.5:8080/TCP": the order and permutation key
  uint32_t id = 0;   // the value stored in the table (a datapath backend id)
};

// Builds the table: M entries of backend ids. Empty backends give an empty table.
std::vector<uint32_t> build_maglev_table(std::span<const MaglevBackend> backends, uint32_t m,
                                         const MaglevSeed& seed);

}  // namespace netagent::lb
