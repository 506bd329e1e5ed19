#pragma once
// Socket options a BGP session needs (internal to the session layer).
#include <string>

#include "netagent/bgp/types.hpp"
#include "netagent/common/result.hpp"

namespace netagent::bgp {

// Installs (or, with an empty key, removes) the TCP MD5 signature key for `peer` on socket `fd`
// (RFC 2385, Linux TCP_MD5SIG). On an IPv6 socket an IPv4 peer is given as ::ffff:a.b.c.d,
// which the kernel files as an IPv4 key. Must be set before connect() / on the listening socket.
Status set_tcp_md5(int fd, bool ipv6_socket, const IpAddress& peer, const std::string& key);

// Sets the unicast TTL / hop limit of the socket's packets (1 for directly connected eBGP).
Status set_ttl(int fd, bool ipv6_socket, int ttl);

}  // namespace netagent::bgp
