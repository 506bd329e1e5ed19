#pragma once
// Bounds-checked reading and big-endian writing of wire fields (internal to the codec).
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace netagent::bgp::wire {

// Reads big-endian fields from a span; every read reports whether enough bytes remained, and a
// failed read consumes nothing.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> b) : b_(b) {}
  size_t remaining() const { return b_.size() - pos_; }
  bool empty() const { return remaining() == 0; }
  size_t pos() const { return pos_; }
  std::span<const uint8_t> rest() const { return b_.subspan(pos_); }

  bool u8(uint8_t& v) {
    if (remaining() < 1) return false;
    v = b_[pos_++];
    return true;
  }
  bool u16(uint16_t& v) {
    if (remaining() < 2) return false;
    v = uint16_t(b_[pos_] << 8 | b_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool u32(uint32_t& v) {
    if (remaining() < 4) return false;
    v = uint32_t(b_[pos_]) << 24 | uint32_t(b_[pos_ + 1]) << 16 | uint32_t(b_[pos_ + 2]) << 8 |
        uint32_t(b_[pos_ + 3]);
    pos_ += 4;
    return true;
  }
  bool bytes(size_t n, std::span<const uint8_t>& v) {
    if (remaining() < n) return false;
    v = b_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  bool skip(size_t n) {
    if (remaining() < n) return false;
    pos_ += n;
    return true;
  }

 private:
  std::span<const uint8_t> b_;
  size_t pos_ = 0;
};

inline uint16_t get16(const uint8_t* p) {
  return uint16_t(p[0] << 8 | p[1]);
}
inline uint32_t get32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

inline void put8(std::vector<uint8_t>& o, uint8_t v) {
  o.push_back(v);
}
inline void put16(std::vector<uint8_t>& o, uint16_t v) {
  o.push_back(uint8_t(v >> 8));
  o.push_back(uint8_t(v));
}
inline void put32(std::vector<uint8_t>& o, uint32_t v) {
  o.push_back(uint8_t(v >> 24));
  o.push_back(uint8_t(v >> 16));
  o.push_back(uint8_t(v >> 8));
  o.push_back(uint8_t(v));
}
inline void put(std::vector<uint8_t>& o, std::span<const uint8_t> b) {
  o.insert(o.end(), b.begin(), b.end());
}
inline void set16(std::vector<uint8_t>& o, size_t at, uint16_t v) {
  o[at] = uint8_t(v >> 8);
  o[at + 1] = uint8_t(v);
}

}  // namespace netagent::bgp::wire
