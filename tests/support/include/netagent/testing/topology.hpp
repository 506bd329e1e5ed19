#pragma once
// A small data-center in network namespaces: one L2 segment (a bridge in its own namespace, like
// the switch behind the SRX), hosts attached to it (router, external clients, Kubernetes nodes),
// and pods attached to their node by a veth pair, routed the way a CNI would:
//   pod:  eth0 <pod ip>/32, default via 169.254.1.1 (the node side answers ARP for it)
//   node: lxc<pod> 169.254.1.1/32, route <pod ip>/32 dev lxc<pod>, ip_forward on
// Every name carries the test's unique suffix; everything is removed on destruction.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "netagent/testing/netns.hpp"

namespace netagent::testing {

class Lan;

class Host {
 public:
  Host(Lan& lan, const std::string& role, const std::string& ip_cidr);
  NetNs& ns() { return ns_; }
  const NetNs& ns() const { return ns_; }
  const std::string& ip() const { return ip_; }       // without prefix length
  const std::string& device() const { return dev_; }  // the LAN-facing device: "eth0"
  // Adds a route in this host: "10.25.11.100/32 via 10.25.11.11".
  void route(const std::string& spec) const;

 private:
  NetNs ns_;
  std::string ip_;
  std::string dev_ = "eth0";
};

class Pod {
 public:
  Pod(Host& node, const std::string& name, const std::string& ip);
  NetNs& ns() { return ns_; }
  const std::string& ip() const { return ip_; }
  const std::string& host_device() const { return host_dev_; }

 private:
  NetNs ns_;
  std::string ip_;
  std::string host_dev_;
};

// Pods on `node` (names[i] at ips[i]), each serving `netagent-echo --name <pod> --tcp <port>`,
// appended to `pods` and `servers` (declare `servers` after `pods`: the servers stop first).
void start_echo_pods(Host& node, const std::vector<std::string>& names,
                     const std::vector<std::string>& ips, uint16_t port,
                     std::vector<std::unique_ptr<Pod>>& pods,
                     std::vector<std::unique_ptr<Process>>& servers);

class Lan {
 public:
  explicit Lan(const std::string& prefix = "na");
  ~Lan();
  const std::string& prefix() const { return prefix_; }
  const std::string& suffix() const { return suffix_; }
  // Attaches a new host to the segment.
  std::unique_ptr<Host> host(const std::string& role, const std::string& ip_cidr) {
    return std::make_unique<Host>(*this, role, ip_cidr);
  }
  NetNs& switch_ns() { return sw_; }
  std::string next_ifname(const std::string& stem);

 private:
  std::string prefix_;
  std::string suffix_;
  NetNs sw_;
  int counter_ = 0;
};

// Moves the calling thread into ns until destruction (netlink sockets opened meanwhile, e.g. for
// TC attachment, stay bound to ns).
class InNetns {
 public:
  explicit InNetns(const NetNs& ns);
  ~InNetns();
  InNetns(const InNetns&) = delete;
  InNetns& operator=(const InNetns&) = delete;

 private:
  int orig_ = -1;
};

// Runs fn in a child process inside ns (and the cgroup, when given) and returns what fn
// returned; an exception or crash in the child becomes "error: ...".
std::string run_in(const NetNs& ns, const std::string& cgroup_path,
                   const std::function<std::string()>& fn);

// Minimal clients for tests: connect (TCP) or send (UDP), send `msg`, read the answer.
// Returns "error: <what>" on failure. `peer` receives the address getpeername() reported.
std::string tcp_request(const std::string& ip, uint16_t port, const std::string& msg,
                        std::string* peer = nullptr, int timeout_ms = 2000);
std::string udp_request(const std::string& ip, uint16_t port, const std::string& msg,
                        std::string* from = nullptr, int timeout_ms = 2000);

}  // namespace netagent::testing
