#include "netagent/lb/maglev.hpp"

#include <algorithm>

#include "netagent/common/base64.hpp"

namespace netagent::lb {
namespace {

// FNV-1a over the name, seeded, then a 64-bit finaliser (splitmix64) for good high bits.
uint64_t name_hash(const std::string& s, uint64_t seed) {
  uint64_t h = 0xcbf29ce484222325ull ^ seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  h += 0x9e3779b97f4a7c15ull;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

}  // namespace

bool maglev_table_size_allowed(uint32_t m) {
  return std::find(kMaglevTableSizes.begin(), kMaglevTableSizes.end(), m) !=
         kMaglevTableSizes.end();
}

Result<MaglevSeed> MaglevSeed::parse(const std::string& base64) {
  auto raw = base64_decode(base64);
  if (!raw || raw->size() != 12) {
    return Error{"maglev hash seed must be 12 bytes in base64 (16 characters), got \"" + base64 +
                 "\""};
  }
  MaglevSeed s;
  for (int i = 0; i < 3; ++i) {
    s.words[i] = uint32_t(uint8_t((*raw)[i * 4])) | uint32_t(uint8_t((*raw)[i * 4 + 1])) << 8 |
                 uint32_t(uint8_t((*raw)[i * 4 + 2])) << 16 |
                 uint32_t(uint8_t((*raw)[i * 4 + 3])) << 24;
  }
  return s;
}

std::vector<uint32_t> build_maglev_table(std::span<const MaglevBackend> input, uint32_t m,
                                         const MaglevSeed& seed) {
  std::vector<uint32_t> table;
  if (input.empty() || m == 0) return table;
  // Order by name so that every node fills the table in the same order.
  std::vector<const MaglevBackend*> backends;
  backends.reserve(input.size());
  for (const auto& b : input)
    backends.push_back(&b);
  std::sort(backends.begin(), backends.end(),
            [](const MaglevBackend* a, const MaglevBackend* b) { return a->name < b->name; });

  const uint64_t s1 = uint64_t(seed.words[0]) << 32 | seed.words[1];
  const uint64_t s2 = uint64_t(seed.words[2]) << 32 | seed.words[0];
  const size_t n = backends.size();
  std::vector<uint32_t> pos(n), skip(n);
  for (size_t i = 0; i < n; ++i) {
    pos[i] = uint32_t(name_hash(backends[i]->name, s1) % m);             // offset
    skip[i] = uint32_t(name_hash(backends[i]->name, s2) % (m - 1)) + 1;  // 1..m-1, coprime with m
  }
  constexpr uint32_t kEmpty = UINT32_MAX;
  std::vector<uint32_t> owner(m, kEmpty);
  uint32_t filled = 0;
  // Each backend in turn takes the next free entry of its permutation (offset + j*skip) mod m.
  while (true) {
    for (size_t i = 0; i < n; ++i) {
      uint32_t c = pos[i];
      while (owner[c] != kEmpty) {
        c += skip[i];
        if (c >= m) c -= m;
      }
      owner[c] = uint32_t(i);
      c += skip[i];
      if (c >= m) c -= m;
      pos[i] = c;
      if (++filled == m) {
        table.resize(m);
        for (uint32_t e = 0; e < m; ++e)
          table[e] = backends[owner[e]]->id;
        return table;
      }
    }
  }
}

}  // namespace netagent::lb
