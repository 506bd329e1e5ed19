#include "netagent/testing/topology.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <stdexcept>

namespace netagent::testing {

Lan::Lan(const std::string& prefix)
    : prefix_(prefix), suffix_(unique_suffix()), sw_(prefix + "-sw") {
  sw_.sh_ok("ip link add br0 type bridge && ip link set br0 up");
}

Lan::~Lan() = default;

std::string Lan::next_ifname(const std::string& stem) {
  // <= 15 chars: stem (<=4) + suffix (6) + counter.
  return stem.substr(0, 4) + suffix_ + std::to_string(counter_++);
}

Host::Host(Lan& lan, const std::string& role, const std::string& ip_cidr)
    : ns_(lan.prefix() + "-" + role) {
  ip_ = ip_cidr.substr(0, ip_cidr.find('/'));
  std::string peer = lan.next_ifname("br");
  make_veth(dev_, &ns_, peer, &lan.switch_ns());
  lan.switch_ns().sh_ok("ip link set " + peer + " master br0");
  ns_.sh_ok("ip addr add " + ip_cidr + " dev " + dev_);
  ns_.sh_ok(
      "sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 "
      "net.ipv4.conf.default.rp_filter=0");
}

void Host::route(const std::string& spec) const {
  ns_.sh_ok("ip route replace " + spec);
}

Pod::Pod(Host& node, const std::string& name, const std::string& ip)
    : ns_(node.ns().name().substr(0, node.ns().name().find('-')) + "-pod-" + name), ip_(ip) {
  host_dev_ = "lxc" + unique_suffix();
  make_veth("eth0", &ns_, host_dev_, &node.ns());
  ns_.sh_ok("ip addr add " + ip +
            "/32 dev eth0 && ip route add 169.254.1.1 dev eth0 && "
            "ip route add default via 169.254.1.1 dev eth0");
  node.ns().sh_ok("ip addr add 169.254.1.1/32 dev " + host_dev_ + " && ip route add " + ip +
                  "/32 dev " + host_dev_ + " && sysctl -qw net.ipv4.conf." + host_dev_ +
                  ".rp_filter=0");
}

InNetns::InNetns(const NetNs& ns) {
  orig_ = open("/proc/thread-self/ns/net", O_RDONLY);
  int fd = open(ns.path().c_str(), O_RDONLY);
  if (orig_ < 0 || fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
    if (fd >= 0) close(fd);
    throw std::runtime_error("cannot enter network namespace " + ns.name());
  }
  close(fd);
}

InNetns::~InNetns() {
  if (orig_ >= 0) {
    (void)setns(orig_, CLONE_NEWNET);
    close(orig_);
  }
}

std::string run_in(const NetNs& ns, const std::string& cgroup_path,
                   const std::function<std::string()>& fn) {
  int fds[2];
  if (pipe(fds) != 0) return "error: pipe";
  pid_t pid = fork();
  if (pid < 0) return "error: fork";
  if (pid == 0) {
    close(fds[0]);
    std::string out;
    int nsfd = open(ns.path().c_str(), O_RDONLY);
    if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0) {
      out = "error: setns " + ns.path();
    } else {
      if (!cgroup_path.empty()) {
        std::ofstream f(cgroup_path + "/cgroup.procs");
        f << getpid() << "\n";
      }
      try {
        out = fn();
      } catch (const std::exception& e) {
        out = std::string("error: ") + e.what();
      }
    }
    (void)!write(fds[1], out.data(), out.size());
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0)
    out.append(buf, size_t(n));
  close(fds[0]);
  int st;
  waitpid(pid, &st, 0);
  return out;
}

namespace {

std::string addr_str(const sockaddr_in& a) {
  char b[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a.sin_addr, b, sizeof b);
  return std::string(b) + ":" + std::to_string(ntohs(a.sin_port));
}

bool wait_readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) == 1;
}

}  // namespace

std::string tcp_request(const std::string& ip, uint16_t port, const std::string& msg,
                        std::string* peer, int timeout_ms) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::string e = std::string("error: connect: ") + std::strerror(errno);
    close(s);
    return e;
  }
  if (peer) {
    sockaddr_in p{};
    socklen_t len = sizeof p;
    getpeername(s, reinterpret_cast<sockaddr*>(&p), &len);
    *peer = addr_str(p);
  }
  if (send(s, msg.data(), msg.size(), 0) < 0) {
    close(s);
    return "error: send";
  }
  shutdown(s, SHUT_WR);
  std::string out;
  char buf[4096];
  while (wait_readable(s, timeout_ms)) {
    ssize_t n = recv(s, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, size_t(n));
  }
  close(s);
  return out.empty() ? "error: no answer" : out;
}

std::string udp_request(const std::string& ip, uint16_t port, const std::string& msg,
                        std::string* from, int timeout_ms) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  if (sendto(s, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) {
    std::string e = std::string("error: sendto: ") + std::strerror(errno);
    close(s);
    return e;
  }
  if (!wait_readable(s, timeout_ms)) {
    close(s);
    return "error: no answer";
  }
  char buf[4096];
  sockaddr_in src{};
  socklen_t len = sizeof src;
  ssize_t n = recvfrom(s, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&src), &len);
  close(s);
  if (n < 0) return "error: recvfrom";
  if (from) *from = addr_str(src);
  return std::string(buf, size_t(n));
}

void start_echo_pods(Host& node, const std::vector<std::string>& names,
                     const std::vector<std::string>& ips, uint16_t port,
                     std::vector<std::unique_ptr<Pod>>& pods,
                     std::vector<std::unique_ptr<Process>>& servers) {
  for (size_t i = 0; i < names.size() && i < ips.size(); ++i) {
    pods.push_back(std::make_unique<Pod>(node, names[i], ips[i]));
    servers.push_back(
        std::make_unique<Process>(std::vector<std::string>{NETAGENT_ECHO_BIN, "--name", names[i],
                                                           "--tcp", std::to_string(port)},
                                  &pods.back()->ns()));
  }
}

}  // namespace netagent::testing
