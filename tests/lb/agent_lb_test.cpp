// Service load balancing end to end: the netagent binary on a node namespace, programmed from
// manifests, with real clients and backends.
//  - a client namespace reaches TCP and UDP echo servers through a LoadBalancer IP (allocated by
//    LB IPAM from a pool) and a NodePort; a process in the node's cgroup through a ClusterIP;
//  - backends scaled down and up by editing the EndpointSlice while new connections keep working;
//  - a long-lived connection survives `kill -9` of the agent and its restart;
//  - a service deleted while the agent was down is gone after it restarts.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "netagent/testing/agent_node.hpp"
#include "netagent/testing/privileged.hpp"
#include "netagent/testing/topology.hpp"

namespace netagent {
namespace {

using namespace netagent::testing;
using namespace std::chrono_literals;

const char* kCluster = R"(apiVersion: v1
kind: ConfigMap
metadata: {name: cluster-settings, namespace: flux-system}
data: {CILIUM_LB_POOL_START: 10.25.11.100, CILIUM_LB_POOL_END: 10.25.11.119}
---
apiVersion: v1
kind: Node
metadata: {name: node-a}
status: {addresses: [{type: InternalIP, address: 10.25.11.11}]}
---
apiVersion: cilium.io/v2alpha1
kind: CiliumLoadBalancerIPPool
metadata: {name: infra-pool}
spec:
  blocks: [{start: "${CILIUM_LB_POOL_START}", stop: "${CILIUM_LB_POOL_END}"}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo, annotations: {lbipam.cilium.io/ips: 10.25.11.100}}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.10
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080, nodePort: 30080}
  - {name: dns, port: 53, protocol: UDP, targetPort: 5353, nodePort: 30053}
)";

std::string slice(const std::vector<std::string>& pods,
                  const std::vector<std::string>& remote_pods = {}) {
  std::string y = R"(apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: demo, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}, {name: dns, port: 5353, protocol: UDP}]
endpoints:
)";
  for (const auto& p : pods)
    y += "- {addresses: [" + p + "], nodeName: node-a}\n";
  for (const auto& p : remote_pods)
    y += "- {addresses: [" + p + "], nodeName: node-b}\n";
  if (pods.empty() && remote_pods.empty()) y += "[]\n";
  return y;
}

class AgentLb : public ::testing::Test {
 protected:
  void SetUp() override {
    NETAGENT_REQUIRE_ROOT();
    lan_ = std::make_unique<Lan>("alb");
    node_ = lan_->host("node", "10.25.11.11/24");
    client_ = lan_->host("client", "10.25.11.50/24");
    client_->route("10.25.11.96/27 via 10.25.11.11");  // the LB pools, as BGP would route them
    const char* ips[] = {"10.1.0.5", "10.1.0.6", "10.1.0.7"};
    const char* names[] = {"web1", "web2", "web3"};
    for (int i = 0; i < 3; ++i) {
      pods_.push_back(std::make_unique<Pod>(*node_, names[i], ips[i]));
      servers_.push_back(
          std::make_unique<Process>(std::vector<std::string>{NETAGENT_ECHO_BIN, "--name", names[i],
                                                             "--tcp", "8080", "--udp", "5353"},
                                    &pods_.back()->ns()));
    }
    write("cluster.yaml", kCluster);
    write("slice.yaml", slice({"10.1.0.5", "10.1.0.6"}));
  }

  std::string socket() const { return netagent_.socket(); }
  void write(const std::string& file, const std::string& yaml) {
    netagent_.write_manifest(file, yaml);
  }

  std::unique_ptr<Process> start_agent() {
    auto p = netagent_.start(node_->ns());
    bool ready = wait_until([&] { return served("10.25.11.100", 80) != ""; }, 10s);
    EXPECT_TRUE(ready) << p->log();
    return p;
  }

  // Whoever answers a TCP request through the client, or "" when nobody does.
  std::string served(const std::string& ip, uint16_t port) {
    auto r = run_in(client_->ns(), "", [&] { return tcp_request(ip, port, "hi", nullptr, 500); });
    return r.rfind("error", 0) == 0 ? "" : r;
  }
  std::set<std::string> answers(const std::string& ip, uint16_t port, int n) {
    std::set<std::string> s;
    for (int i = 0; i < n; ++i)
      s.insert(served(ip, port));
    return s;
  }

  nlohmann::json api(const std::string& path) { return netagent_.api(path); }

  std::unique_ptr<Lan> lan_;
  std::unique_ptr<Host> node_, client_;
  std::vector<std::unique_ptr<Pod>> pods_;
  std::vector<std::unique_ptr<Process>> servers_;
  AgentNode netagent_{{.tag = "agent-lb"}};
};

TEST_F(AgentLb, LoadBalancerIpNodePortAndClusterIp) {
  auto agent = start_agent();
  // LB IPAM gave the service the address it requested from the pool.
  auto ipam = api("/v1/ipam");
  ASSERT_EQ(ipam["services"].size(), 1u) << ipam.dump();
  std::string lb_ip = ipam["services"][0]["ips"][0]["ip"];
  EXPECT_EQ(lb_ip, "10.25.11.100");
  EXPECT_EQ(answers(lb_ip, 80, 12), (std::set<std::string>{"web1\n", "web2\n"}));
  EXPECT_EQ(answers("10.25.11.11", 30080, 12), (std::set<std::string>{"web1\n", "web2\n"}));
  auto udp = run_in(client_->ns(), "", [&] {
    std::string from;
    auto r = udp_request(lb_ip, 53, "q", &from);
    return r + "|" + from;
  });
  EXPECT_TRUE(udp == "web1\n|" + lb_ip + ":53" || udp == "web2\n|" + lb_ip + ":53") << udp;
  auto cip = run_in(node_->ns(), netagent_.cgroup.path(), [] {
    std::string peer;
    auto r = tcp_request("10.96.0.10", 80, "hi", &peer);
    return r + "|" + peer;
  });
  EXPECT_TRUE(cip == "web1\n|10.96.0.10:80" || cip == "web2\n|10.96.0.10:80") << cip;

  // netctl shows the service with its frontends and backends.
  std::string out;
  ASSERT_EQ(sh(std::string(NETCTL_BIN) + " --socket " + socket() + " service list", &out), 0)
      << out;
  EXPECT_NE(out.find("demo/web"), std::string::npos) << out;
  EXPECT_NE(out.find(lb_ip + ":80/TCP"), std::string::npos) << out;
  EXPECT_NE(out.find("10.1.0.6:8080/TCP (active"), std::string::npos) << out;
  // netctl ipam: the pool with its used and available counts, and the service's address.
  ASSERT_EQ(sh(std::string(NETCTL_BIN) + " --socket " + socket() + " ipam", &out), 0) << out;
  EXPECT_NE(out.find(lb_ip + " ("), std::string::npos) << out;
  {
    std::istringstream lines(out);
    std::string header, row;
    std::getline(lines, header);
    std::getline(lines, row);
    std::istringstream cells(row);
    std::vector<std::string> c{std::istream_iterator<std::string>(cells), {}};
    ASSERT_GE(c.size(), 2u) << out;
    EXPECT_EQ(c[c.size() - 2], "1") << "used\n" << out;
    EXPECT_NE(c.back(), "-") << "available\n" << out;
  }
  ASSERT_EQ(sh(std::string(NETCTL_BIN) + " --socket " + socket() + " bpf ct list -o json", &out),
            0);
  EXPECT_GT(nlohmann::json::parse(out)["total"].get<int>(), 0) << out;
}

TEST_F(AgentLb, ScaleDownAndUpWhileNewConnectionsKeepWorking) {
  auto agent = start_agent();
  const std::string ip = "10.25.11.11";
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  // A client loop that opens a new connection every few milliseconds throughout.
  std::thread load([&] {
    while (!stop) {
      (served(ip, 30080).empty() ? failed : ok)++;
      std::this_thread::sleep_for(5ms);
    }
  });
  write("slice.yaml", slice({"10.1.0.5", "10.1.0.6", "10.1.0.7"}));
  EXPECT_TRUE(wait_until([&] { return answers(ip, 30080, 6).count("web3\n") > 0; }, 3s));
  write("slice.yaml", slice({"10.1.0.7"}));
  EXPECT_TRUE(
      wait_until([&] { return answers(ip, 30080, 6) == std::set<std::string>{"web3\n"}; }, 3s));
  write("slice.yaml", slice({"10.1.0.5", "10.1.0.7"}));
  EXPECT_TRUE(wait_until([&] { return answers(ip, 30080, 8).size() == 2; }, 3s));
  stop = true;
  load.join();
  EXPECT_GT(ok.load(), 10);
  EXPECT_EQ(failed.load(), 0) << "new connections failed while backends changed";
}

// A backend on another node (no agent there): the node SNATs the flow so that the reply comes
// back through it, and the client sees the LoadBalancer IP answer.
TEST_F(AgentLb, RemoteBackendsThroughSnat) {
  auto node_b = lan_->host("nodeb", "10.25.11.12/24");
  Pod remote(*node_b, "web4", "10.1.2.9");
  Process server(
      {NETAGENT_ECHO_BIN, "--name", "web4", "--tcp", "8080", "--udp", "5353", "--show-peer"},
      &remote.ns());
  node_->route("10.1.2.0/24 via 10.25.11.12");
  write("slice.yaml", slice({"10.1.0.5"}, {"10.1.2.9"}));
  auto agent = start_agent();
  std::set<std::string> seen;
  ASSERT_TRUE(wait_until(
      [&] {
        auto a = served("10.25.11.100", 80);
        seen.insert(a.substr(0, a.find(' ')) == "web4" ? "web4" : a);
        return seen.count("web4") && seen.count("web1\n");
      },
      5s))
      << agent->log();
  // The remote backend saw the node's address, not the client's (SNAT).
  auto a = served("10.25.11.100", 80);
  for (int i = 0; i < 20 && a.rfind("web4", 0) != 0; ++i)
    a = served("10.25.11.100", 80);
  EXPECT_EQ(a.rfind("web4 from 10.25.11.11:", 0), 0u) << a;
}

// Opens a TCP connection from inside ns that stays open across the test.
int connect_from(const NetNs& ns, const std::string& ip, uint16_t port) {
  InNetns in(ns);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(s);
    return -1;
  }
  return s;
}

std::string ping(int fd) {
  if (send(fd, "ping", 4, MSG_NOSIGNAL) != 4) return "send failed";
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, 2000) != 1) return "no answer";
  char buf[256];
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  return n > 0 ? std::string(buf, size_t(n)) : "closed";
}

TEST_F(AgentLb, LongLivedConnectionSurvivesKill9AndRestart) {
  auto agent = start_agent();
  int fd = connect_from(client_->ns(), "10.25.11.100", 80);
  ASSERT_GE(fd, 0);
  std::string first = ping(fd);
  ASSERT_TRUE(first == "web1\n" || first == "web2\n") << first;

  agent->stop(SIGKILL);
  EXPECT_EQ(ping(fd), first) << "the datapath must keep serving while the agent is down";
  // A service deleted while the agent is down...
  std::string cluster = kCluster;
  cluster.replace(cluster.find("  - {name: dns"), std::string::npos, "");
  write("cluster.yaml", cluster);

  auto again = start_agent();
  EXPECT_EQ(ping(fd), first) << "the connection must keep its backend across the restart";
  // ...is gone after the restart: the UDP port no longer answers.
  EXPECT_TRUE(wait_until(
      [&] {
        auto r = run_in(client_->ns(), "",
                        [] { return udp_request("10.25.11.100", 53, "q", nullptr, 300); });
        return r.rfind("error", 0) == 0;
      },
      5s));
  EXPECT_EQ(ping(fd), first);
  close(fd);
}

}  // namespace
}  // namespace netagent
