#pragma once
// Writing the common header around a message body (internal to the codec).
#include <cstdint>
#include <vector>

#include "netagent/bgp/messages.hpp"
#include "wire.hpp"

namespace netagent::bgp::wire {

// Appends marker, a length placeholder and the type; returns where the message starts.
inline size_t begin_message(std::vector<uint8_t>& out, MessageType type) {
  size_t start = out.size();
  out.insert(out.end(), 16, 0xff);  // marker: all ones (RFC 4271 §4.1)
  put16(out, 0);
  put8(out, uint8_t(type));
  return start;
}

// Fills in the length of the message that begin_message() started.
inline void finish_message(std::vector<uint8_t>& out, size_t start) {
  set16(out, start + 16, uint16_t(out.size() - start));
}

}  // namespace netagent::bgp::wire
