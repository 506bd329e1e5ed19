#pragma once
// Real routers as peers of the node (10.25.11.11, AS 64512) in tests, each a process in a router
// namespace with its files in a test directory: BIRD 2 standing in for the SRX (10.25.11.1,
// AS 64501), and FRR bgpd (.2) and GoBGP (.3) as more peers in AS 64501. All are passive, import
// everything and export nothing. Configurations as verified in shared/reference/bgp-lab.md.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "netagent/testing/netns.hpp"

namespace netagent::testing {

// BIRD's view (`birdc show route all`) as a map from prefix to the BGP attributes BIRD printed
// for the (first listed) route.
struct BirdRoute {
  std::string origin, as_path, next_hop, med, local_pref, community, large_community;
};

inline std::map<std::string, BirdRoute> parse_bird_routes(const std::string& out) {
  std::map<std::string, BirdRoute> routes;
  BirdRoute* cur = nullptr;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line.rfind("BIRD", 0) == 0 || line.rfind("Table", 0) == 0) continue;
    if (!std::isspace(static_cast<unsigned char>(line[0]))) {
      cur = &routes[line.substr(0, line.find(' '))];
      continue;
    }
    if (!cur) continue;
    auto pos = line.find("BGP.");
    auto colon = line.find(": ");
    if (pos == std::string::npos || colon == std::string::npos) continue;
    std::string key = line.substr(pos + 4, colon - pos - 4);
    std::string value = line.substr(colon + 2);
    if (key == "origin") cur->origin = value;
    if (key == "as_path") cur->as_path = value;
    if (key == "next_hop") cur->next_hop = value;
    if (key == "med") cur->med = value;
    if (key == "local_pref") cur->local_pref = value;
    if (key == "community") cur->community = value;
    if (key == "large_community") cur->large_community = value;
  }
  return routes;
}

// BIRD as the SRX, protocol "node1"; `extra` goes into the protocol block (e.g. a password).
class Bird {
 public:
  Bird(const NetNs& ns, std::string dir, const std::string& extra = "")
      : ns_(ns), dir_(std::move(dir)), ctl_(dir_ + "/bird.ctl"), conf_(dir_ + "/bird.conf") {
    std::ofstream(conf_) << "log \"" + dir_ + "/bird.log\" all;\n"
                         << "router id 10.25.11.1;\n"
                            "protocol device { }\n"
                            "protocol bgp node1 {\n"
                            "  local 10.25.11.1 as 64501;\n"
                            "  neighbor 10.25.11.11 as 64512;\n"
                            "  passive on;\n"
                            "  hold time 90;\n"
                         << extra
                         << "  ipv4 { import all; export none; };\n"
                            "  ipv6 { import all; export none; };\n"
                            "}\n";
    start();
  }
  void start() {
    ::unlink(ctl_.c_str());
    proc_ = std::make_unique<Process>(
        std::vector<std::string>{"bird", "-f", "-c", conf_, "-s", ctl_}, &ns_, dir_ + "/bird.out");
    EXPECT_TRUE(wait_until([&] { return std::filesystem::exists(ctl_); }, std::chrono::seconds(5)))
        << "BIRD did not start";
  }
  void stop() { proc_->stop(SIGTERM); }
  std::string cmd(const std::string& c) { return sh_ok("birdc -s " + ctl_ + " " + c); }
  bool established() {
    return cmd("show protocols node1").find("Established") != std::string::npos;
  }
  std::map<std::string, BirdRoute> routes() { return parse_bird_routes(cmd("show route all")); }
  std::set<std::string> prefixes() {
    std::set<std::string> s;
    for (const auto& [p, r] : routes())
      s.insert(p);
    return s;
  }
  std::string details() { return cmd("show protocols all node1"); }
  std::string log() { return sh_ok("cat " + dir_ + "/bird.log"); }

 private:
  const NetNs& ns_;
  std::string dir_, ctl_, conf_;
  std::unique_ptr<Process> proc_;
};

// FRR's bgpd at 10.25.11.2; `neighbor_extra` adds lines for the node's neighbor (e.g. timers).
class Frr {
 public:
  Frr(const NetNs& ns, const std::string& dir, const std::string& neighbor_extra = "")
      : ns_(ns),
        vty_(dir + "/frr"),
        proc_(start(dir, vty_, neighbor_extra), &ns, dir + "/frr.log") {}

  // A vtysh command against this bgpd: its output.
  std::string vtysh(const std::string& command) const {
    std::string out;
    ns_.sh("vtysh --vty_socket " + vty_ + " -d bgpd -c \"" + command + "\"", &out);
    return out;
  }

 private:
  // Writes the configuration; the command line.
  static std::vector<std::string> start(const std::string& dir, const std::string& vty,
                                        const std::string& neighbor_extra) {
    sh_ok("mkdir -p " + vty);
    std::ofstream(dir + "/frr.conf") << "frr defaults traditional\n"
                                        "hostname srx-frr\n"
                                        "router bgp 64501\n"
                                        " bgp router-id 10.25.11.2\n"
                                        " neighbor 10.25.11.11 remote-as 64512\n"
                                        " neighbor 10.25.11.11 passive\n"
                                     << neighbor_extra
                                     << " address-family ipv4 unicast\n"
                                        "  neighbor 10.25.11.11 route-map IMPORT-ALL in\n"
                                        "  neighbor 10.25.11.11 route-map EXPORT-NONE out\n"
                                        " exit-address-family\n"
                                        "exit\n"
                                        "route-map IMPORT-ALL permit 10\nexit\n"
                                        "route-map EXPORT-NONE deny 10\nexit\n";
    return {"/usr/lib/frr/bgpd",
            "-f",
            dir + "/frr.conf",
            "-S",
            "-Z",
            "-l",
            "10.25.11.2",
            "--vty_socket",
            vty,
            "-i",
            vty + "/bgpd.pid",
            "-P",
            "0",
            "-u",
            "root",
            "-g",
            "root"};
  }

  const NetNs& ns_;
  std::string vty_;
  Process proc_;
};

// GoBGP at 10.25.11.3, its gRPC API on 127.0.0.1:50051 of the router namespace.
class GoBgp {
 public:
  GoBgp(const NetNs& ns, const std::string& dir)
      : ns_(ns), proc_(start(dir), &ns, dir + "/gobgpd.log") {}

  // `gobgp global rib -a ipv4 -j`: the IPv4 routes it holds, as GoBGP's JSON.
  std::string rib_json() const {
    std::string out;
    ns_.sh("gobgp -u 127.0.0.1 -p 50051 global rib -a ipv4 -j", &out);
    return out;
  }

 private:
  static std::vector<std::string> start(const std::string& dir) {
    std::ofstream(dir + "/gobgpd.toml") << "[global.config]\n"
                                           "  as = 64501\n"
                                           "  router-id = \"10.25.11.3\"\n"
                                           "  port = 179\n"
                                           "  local-address-list = [\"10.25.11.3\"]\n"
                                           "[[neighbors]]\n"
                                           "  [neighbors.config]\n"
                                           "    neighbor-address = \"10.25.11.11\"\n"
                                           "    peer-as = 64512\n"
                                           "  [neighbors.transport.config]\n"
                                           "    passive-mode = true\n";
    return {"gobgpd",         "-f", dir + "/gobgpd.toml", "--api-hosts", "127.0.0.1:50051",
            "--pprof-disable"};
  }

  const NetNs& ns_;
  Process proc_;
};

}  // namespace netagent::testing
