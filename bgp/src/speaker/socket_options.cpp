#include "socket_options.hpp"

#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstring>

namespace netagent::bgp {

Status set_tcp_md5(int fd, bool ipv6_socket, const IpAddress& peer, const std::string& key) {
  struct tcp_md5sig sig {};
  if (key.size() > TCP_MD5SIG_MAXKEYLEN) return Error{"TCP MD5 key longer than 80 bytes"};
  if (ipv6_socket) {
    auto* sa = reinterpret_cast<sockaddr_in6*>(&sig.tcpm_addr);
    sa->sin6_family = AF_INET6;
    if (peer.is_v4()) {
      sa->sin6_addr.s6_addr[10] = 0xff;
      sa->sin6_addr.s6_addr[11] = 0xff;
      std::memcpy(&sa->sin6_addr.s6_addr[12], peer.bytes().data(), 4);
    } else {
      std::memcpy(&sa->sin6_addr, peer.bytes().data(), 16);
    }
  } else {
    auto* sa = reinterpret_cast<sockaddr_in*>(&sig.tcpm_addr);
    sa->sin_family = AF_INET;
    std::memcpy(&sa->sin_addr, peer.bytes().data(), 4);
  }
  sig.tcpm_keylen = uint16_t(key.size());
  std::memcpy(sig.tcpm_key, key.data(), key.size());
  if (setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &sig, sizeof sig) != 0) {
    // Removing a key that was never set is not an error worth reporting.
    if (key.empty() && errno == ENOENT) return {};
    return sys_error("setsockopt TCP_MD5SIG for " + peer.str());
  }
  return {};
}

Status set_ttl(int fd, bool ipv6_socket, int ttl) {
  int rc = ipv6_socket ? setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof ttl)
                       : setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl);
  if (rc != 0) return sys_error("setsockopt TTL " + std::to_string(ttl));
  return {};
}

}  // namespace netagent::bgp
