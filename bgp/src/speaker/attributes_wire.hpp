#pragma once
// Path attribute encoding shared by single UPDATEs and packed announcements (internal).
#include <cstdint>
#include <vector>

#include "netagent/bgp/codec.hpp"

namespace netagent::bgp::wire {

// Appends every attribute of `a` except MP_REACH/MP_UNREACH, in type-code order; on a session
// without the 4-octet AS capability AS_PATH/AGGREGATOR carry AS_TRANS and the real values go in
// AS4_PATH/AS4_AGGREGATOR (RFC 6793 §4.2.2).
void put_path_attributes(std::vector<uint8_t>& o, const PathAttributes& a,
                         const SessionContext& ctx);

// Attribute header (RFC 4271 §4.3): flags, type, then a 1- or 2-octet length; returns where the
// length sits so that put_attribute_end() can fill it in.
size_t put_attribute_begin(std::vector<uint8_t>& o, uint8_t flags, uint8_t type, bool extended);
void put_attribute_end(std::vector<uint8_t>& o, size_t len_at, bool extended);

}  // namespace netagent::bgp::wire
