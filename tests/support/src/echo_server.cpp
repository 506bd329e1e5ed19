// netagent-echo: the test backend. Answers every TCP read and every UDP datagram with its name
// (and, with --show-peer, the address it saw the request from), one line per request, so tests
// can tell which backend served them and whether the client address was preserved. One poll loop,
// no fork per connection: it keeps up with tight test loops and long-lived connections alike.
//   netagent-echo --name web1 [--tcp 8080] [--udp 5353] [--show-peer]
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

std::string peer_of(const sockaddr_in& a) {
  char b[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a.sin_addr, b, sizeof b);
  return std::string(b) + ":" + std::to_string(ntohs(a.sin_port));
}

int bound(int type, int port) {
  int s = socket(AF_INET, type | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("bind");
    std::exit(1);
  }
  if (type == SOCK_STREAM) listen(s, 128);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::string name = "echo";
  int tcp_port = 0, udp_port = 0;
  bool show_peer = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--name" && i + 1 < argc)
      name = argv[++i];
    else if (a == "--tcp" && i + 1 < argc)
      tcp_port = std::atoi(argv[++i]);
    else if (a == "--udp" && i + 1 < argc)
      udp_port = std::atoi(argv[++i]);
    else if (a == "--show-peer")
      show_peer = true;
  }
  std::vector<pollfd> fds;
  int tl = tcp_port ? bound(SOCK_STREAM, tcp_port) : -1;
  int ul = udp_port ? bound(SOCK_DGRAM, udp_port) : -1;
  if (tl >= 0) fds.push_back({tl, POLLIN, 0});
  if (ul >= 0) fds.push_back({ul, POLLIN, 0});
  std::map<int, std::string> peers;
  std::printf("ready\n");
  std::fflush(stdout);
  char buf[65536];
  while (true) {
    if (poll(fds.data(), fds.size(), -1) < 0) continue;
    std::vector<pollfd> add;
    for (auto& p : fds) {
      if (!(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
      if (p.fd == tl) {
        sockaddr_in a{};
        socklen_t len = sizeof a;
        int c = accept4(tl, reinterpret_cast<sockaddr*>(&a), &len, SOCK_NONBLOCK);
        if (c >= 0) {
          peers[c] = peer_of(a);
          add.push_back({c, POLLIN, 0});
        }
      } else if (p.fd == ul) {
        sockaddr_in a{};
        socklen_t len = sizeof a;
        ssize_t n = recvfrom(ul, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&a), &len);
        if (n < 0) continue;
        std::string reply = name + (show_peer ? " from " + peer_of(a) : "") + "\n";
        sendto(ul, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&a), len);
      } else {
        ssize_t n = recv(p.fd, buf, sizeof buf, 0);
        if (n > 0) {
          std::string reply = name + (show_peer ? " from " + peers[p.fd] : "") + "\n";
          (void)!send(p.fd, reply.data(), reply.size(), MSG_NOSIGNAL);
        } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
          close(p.fd);
          peers.erase(p.fd);
          p.fd = -1;
        }
      }
    }
    std::vector<pollfd> keep;
    for (auto& p : fds) {
      if (p.fd >= 0) keep.push_back({p.fd, POLLIN, 0});
    }
    for (auto& p : add)
      keep.push_back(p);
    fds = std::move(keep);
  }
}
