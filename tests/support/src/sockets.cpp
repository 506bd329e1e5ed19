#include "netagent/testing/sockets.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

namespace netagent::testing {
namespace {

int connect_with_timeout(int family, const sockaddr* addr, socklen_t len,
                         std::chrono::milliseconds rcv_timeout) {
  int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{};
  tv.tv_sec = rcv_timeout.count() / 1000;
  tv.tv_usec = (rcv_timeout.count() % 1000) * 1000;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (::connect(fd, addr, len) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

int tcp_connect(const std::string& ipv4, uint16_t port, std::chrono::milliseconds rcv_timeout) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (::inet_pton(AF_INET, ipv4.c_str(), &a.sin_addr) != 1) return -1;
  return connect_with_timeout(AF_INET, reinterpret_cast<sockaddr*>(&a), sizeof(a), rcv_timeout);
}

int unix_connect(const std::string& path, std::chrono::milliseconds rcv_timeout) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof(a.sun_path)) return -1;
  path.copy(a.sun_path, path.size());
  return connect_with_timeout(AF_UNIX, reinterpret_cast<sockaddr*>(&a), sizeof(a), rcv_timeout);
}

bool closed_by_peer(int fd, bool wait) {
  char buf[512];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), wait ? 0 : MSG_DONTWAIT);
    if (n == 0) return true;
    if (n < 0) return errno == ECONNRESET;
  }
}

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

}  // namespace netagent::testing
