#pragma once
// The speaker's addresses as Boost.Asio's and back (internal to the session layer).
#include <algorithm>
#include <boost/asio/ip/address.hpp>

#include "netagent/bgp/types.hpp"

namespace netagent::bgp {

// An IPv4-mapped IPv6 address (a v4 peer seen on a dual-stack socket) is the IPv4 address.
inline IpAddress to_ip(const boost::asio::ip::address& a) {
  namespace ip = boost::asio::ip;
  if (a.is_v4()) return IpAddress::v4(Ipv4Addr{a.to_v4().to_uint()});
  auto v6 = a.to_v6();
  if (v6.is_v4_mapped()) {
    return IpAddress::v4(Ipv4Addr{ip::make_address_v4(ip::v4_mapped, v6).to_uint()});
  }
  Ipv6Addr b;
  auto bytes = v6.to_bytes();
  std::copy(bytes.begin(), bytes.end(), b.bytes.begin());
  return IpAddress::v6(b);
}

inline boost::asio::ip::address to_asio(const IpAddress& a) {
  namespace ip = boost::asio::ip;
  if (a.is_v4()) return ip::address_v4(a.as_v4().value);
  ip::address_v6::bytes_type b;
  auto src = a.bytes();
  std::copy(src.begin(), src.end(), b.begin());
  return ip::address_v6(b);
}

}  // namespace netagent::bgp
