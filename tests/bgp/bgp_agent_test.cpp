// The agent's BGP part end to end: the netagent binary on node-a (10.25.11.11, AS 64512) in a
// node namespace, configured by manifest files in a temporary directory (the example manifests'
// style), peering with a real BIRD 2 standing in for the SRX (10.25.11.1, AS 64501) in a router
// namespace. What BIRD holds is read from `birdc show route all`.
//  - CiliumBGPPeeringPolicy: BIRD holds exactly the allocated /32s with next hop, AS path,
//    origin and communities; services created, re-labelled, deleted and an
//    externalTrafficPolicy Local service getting a local endpoint are announced and withdrawn
//    within a second; BIRD restarting; the agent stopping without graceful restart withdraws;
//  - CiliumBGPClusterConfig/PeerConfig/Advertisement with graceful restart: the agent stopping
//    leaves the routes stale at BIRD, the restarted agent refreshes them (a service deleted
//    meanwhile is flushed);
//  - TCP MD5 from a Secret: a wrong password never establishes, the right one does; the node
//    re-labelled out of the nodeSelector ends the session;
//  - FRR and GoBGP as two more peers of one instance; removing one leaves the other alone;
//  - an LB apply that fails (its pinned services map filled up behind its back) is not
//    announced, the LB part shows the error, and its retry, once there is room, is.
// Timers are short (connect retry 1 s, hold 9 s) so that the whole binary runs in about a minute.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

extern "C" {
#include "netagent/lb.h"
}
#include "netagent/testing/agent_node.hpp"
#include "netagent/testing/privileged.hpp"
#include "netagent/testing/routers.hpp"
#include "netagent/testing/topology.hpp"

namespace netagent {
namespace {

using namespace netagent::testing;
using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

// ---- manifests

const char* kCluster = R"(apiVersion: v1
kind: ConfigMap
metadata: {name: cluster-settings, namespace: flux-system}
data: {CILIUM_LB_POOL_START: 10.25.11.100, CILIUM_LB_POOL_END: 10.25.11.119}
---
apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {bgp-policy: infra}}
status: {addresses: [{type: InternalIP, address: 10.25.11.11}]}
---
apiVersion: cilium.io/v2alpha1
kind: CiliumLoadBalancerIPPool
metadata: {name: infra-pool, labels: {cluster: infra}}
spec:
  blocks: [{start: "${CILIUM_LB_POOL_START}", stop: "${CILIUM_LB_POOL_END}"}]
)";

// BGPv1: one virtual router, services not labelled announce=no, pool communities.
std::string peering_policy(const std::string& neighbor_extra = "") {
  return R"(apiVersion: cilium.io/v2alpha1
kind: CiliumBGPPeeringPolicy
metadata: {name: infra}
spec:
  nodeSelector: {matchLabels: {bgp-policy: infra}}
  virtualRouters:
  - localASN: 64512
    exportPodCIDR: false
    serviceSelector:
      matchExpressions: [{key: announce, operator: NotIn, values: ["no"]}]
    neighbors:
    - peerAddress: 10.25.11.1/32
      peerASN: 64501
      connectRetryTimeSeconds: 1
      holdTimeSeconds: 9
      keepAliveTimeSeconds: 3
)" + neighbor_extra +
         R"(      advertisedPathAttributes:
      - selectorType: CiliumLoadBalancerIPPool
        selector: {matchLabels: {cluster: infra}}
        communities: {standard: ["64512:100"], wellKnown: [no-export], large: ["64512:1:2"]}
)";
}

// BGPv2 with graceful restart.
const char* kClusterConfig = R"(apiVersion: cilium.io/v2
kind: CiliumBGPClusterConfig
metadata: {name: bgp-cluster-config}
spec:
  nodeSelector: {matchLabels: {bgp-policy: infra}}
  bgpInstances:
  - name: instance-64512
    localASN: 64512
    peers:
    - {name: srx, peerAddress: 10.25.11.1, peerASN: 64501, peerConfigRef: {name: srx}}
---
apiVersion: cilium.io/v2
kind: CiliumBGPPeerConfig
metadata: {name: srx}
spec:
  timers: {connectRetryTimeSeconds: 1, holdTimeSeconds: 9, keepAliveTimeSeconds: 3}
  gracefulRestart: {enabled: true, restartTimeSeconds: 120}
  families:
  - {afi: ipv4, safi: unicast, advertisements: {matchLabels: {advertise: bgp}}}
---
apiVersion: cilium.io/v2
kind: CiliumBGPAdvertisement
metadata: {name: bgp-loadbalancer-ips, labels: {advertise: bgp}}
spec:
  advertisements:
  - advertisementType: Service
    service: {addresses: [LoadBalancerIP]}
    selector:
      matchExpressions: [{key: somekey, operator: NotIn, values: [never-used-value]}]
    attributes:
      communities: {standard: ["64512:200"]}
)";

struct Svc {
  std::string name;
  std::string ip;  // requested LoadBalancer IP (.1xx); the ClusterIP and pod use the same .xx
  std::string labels = "{}";
  bool local = false;  // externalTrafficPolicy Local
  std::string endpoint_node = "node-a";
  std::string lb_class;
};

std::string service(const Svc& s) {
  auto last = s.ip.substr(s.ip.rfind('.') + 1);
  std::string y = "apiVersion: v1\nkind: Service\nmetadata: {name: " + s.name +
                  ", namespace: demo, labels: " + s.labels +
                  ", annotations: {lbipam.cilium.io/ips: " + s.ip +
                  "}}\nspec:\n  type: LoadBalancer\n  clusterIP: 10.96.0." + last + "\n";
  if (s.local) y += "  externalTrafficPolicy: Local\n";
  if (!s.lb_class.empty()) y += "  loadBalancerClass: " + s.lb_class + "\n";
  y += "  selector: {app: " + s.name +
       "}\n  ports: [{name: http, port: 80, targetPort: 8080}]\n---\n"
       "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: " +
       s.name + "-1, namespace: demo, labels: {kubernetes.io/service-name: " + s.name +
       "}}\naddressType: IPv4\nports: [{name: http, port: 8080}]\nendpoints:\n"
       "- {addresses: [10.1.0." +
       last + "], nodeName: " + s.endpoint_node + ", conditions: {ready: true}}\n";
  return y;
}

class BgpAgent : public ::testing::Test {
 protected:
  void SetUp() override {
    NETAGENT_REQUIRE_ROOT();
    NETAGENT_REQUIRE(sh("command -v bird >/dev/null && command -v birdc >/dev/null") == 0,
                     "BIRD 2 is not installed (apt-get install bird2)");
    lan_ = std::make_unique<Lan>("bga");
    router_ = lan_->host("srx", "10.25.11.1/24");
    node_ = lan_->host("node", "10.25.11.11/24");
    write("cluster.yaml", kCluster);
  }
  void TearDown() override {
    if (HasFailure() && agent_) std::cerr << "---- agent log\n" << agent_->log();
  }

  std::string socket() const { return netagent_.socket(); }
  void write(const std::string& file, const std::string& yaml) {
    netagent_.write_manifest(file, yaml);
  }
  void remove(const std::string& file) { netagent_.remove_manifest(file); }
  void write_service(const Svc& s) { write("svc-" + s.name + ".yaml", service(s)); }

  void start_agent() {
    ::unlink(socket().c_str());
    agent_ = netagent_.start(node_->ns());
    ASSERT_TRUE(netagent_.wait_api("/v1/status")) << agent_->log();
  }

  json api(const std::string& path) { return netagent_.api(path); }
  std::string netctl_out(const std::string& args) {
    std::string out;
    EXPECT_EQ(sh(std::string(NETCTL_BIN) + " --socket " + socket() + " " + args, &out), 0) << out;
    return out;
  }
  json peer() {
    auto peers = api("/v1/bgp/peers")["peers"];
    return peers.size() == 1 ? peers[0] : json::object();
  }
  std::string agent_state() { return peer().value("state", "?"); }

  // Milliseconds until BIRD holds exactly `want`, or -1 after `limit`.
  long converge(Bird& bird, const std::set<std::string>& want, std::chrono::milliseconds limit) {
    auto t0 = Clock::now();
    if (!wait_until([&] { return bird.prefixes() == want; }, limit, 5ms)) return -1;
    return long(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
  }

  std::unique_ptr<Lan> lan_;
  std::unique_ptr<Host> router_, node_;
  AgentNode netagent_{{.tag = "bgp-agent"}};
  std::unique_ptr<Process> agent_;
};

const std::string kWeb = "10.25.11.100/32", kApi = "10.25.11.101/32", kNew = "10.25.11.102/32",
                  kLocal = "10.25.11.105/32";

TEST_F(BgpAgent, PeeringPolicyAnnouncesServedIpsAndFollowsManifests) {
  Bird bird(router_->ns(), netagent_.dir.path());
  write("bgp.yaml", peering_policy());
  write_service({.name = "web", .ip = "10.25.11.100"});
  write_service({.name = "api", .ip = "10.25.11.101"});
  // Another LoadBalancer class: LB IPAM leaves it alone, nothing to announce.
  write_service({.name = "ext", .ip = "10.25.11.103", .lb_class = "example.com/other"});
  // externalTrafficPolicy Local with its only endpoint on another node: not announced here.
  write_service({.name = "local", .ip = "10.25.11.105", .local = true, .endpoint_node = "node-b"});
  start_agent();

  ASSERT_TRUE(wait_until([&] { return bird.established(); }, 10s)) << bird.details();
  ASSERT_GE(converge(bird, {kWeb, kApi}, 5s), 0) << bird.cmd("show route all");
  for (const auto& p : {kWeb, kApi}) {
    const auto r = bird.routes().at(p);
    EXPECT_EQ(r.next_hop, "10.25.11.11") << p;
    EXPECT_EQ(r.as_path, "64512") << p;
    EXPECT_EQ(r.origin, "IGP") << p;
    EXPECT_EQ(r.community, "(64512,100) (65535,65281)") << p;  // 64512:100 no-export
    EXPECT_EQ(r.large_community, "(64512, 1, 2)") << p;
    EXPECT_EQ(r.local_pref, "100") << p;  // BIRD's default for eBGP routes: none was sent
  }

  // netctl views.
  auto p = json::parse(netctl_out("bgp peers -o json"))["peers"].at(0);
  EXPECT_EQ(p["state"], "Established");
  EXPECT_EQ(p["instance"], "vrouter-64512");
  EXPECT_EQ(p["address"], "10.25.11.1");
  EXPECT_EQ(p["hold_time"], 9);
  EXPECT_EQ(p["prefixes_out"], 2);
  EXPECT_EQ(p["peer_router_id"], "10.25.11.1");
  auto caps = p["capabilities"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(caps.begin(), caps.end(), "4-octet-as"), caps.end()) << p.dump();
  EXPECT_GE(p["messages_out"]["update"].get<int>(), 1);
  auto table = netctl_out("bgp peers");
  EXPECT_NE(table.find("Established"), std::string::npos) << table;
  auto adv = netctl_out("bgp routes advertised");
  EXPECT_NE(adv.find("10.25.11.100/32"), std::string::npos) << adv;
  EXPECT_NE(adv.find("64512:100"), std::string::npos) << adv;
  auto adv_json = json::parse(netctl_out("bgp routes advertised -o json"));
  EXPECT_EQ(adv_json["peers"][0]["routes"].size(), 2u) << adv_json.dump();
  auto desired = netctl_out("bgp desired");
  EXPECT_NE(desired.find("from CiliumBGPPeeringPolicy infra"), std::string::npos) << desired;
  EXPECT_NE(desired.find("Service demo/web LoadBalancerIP"), std::string::npos) << desired;
  auto rcv = json::parse(netctl_out("bgp routes received -o json"));
  EXPECT_EQ(rcv["peers"][0]["routes"].size(), 0u) << "BIRD exports nothing";
  auto text = netctl_out("metrics netagent_bgp");
  for (const char* m : {"netagent_bgp_session_state", "netagent_bgp_session_established",
                        "netagent_bgp_prefixes_advertised", "netagent_bgp_prefixes_received",
                        "netagent_bgp_session_transitions_total"}) {
    EXPECT_NE(text.find(m), std::string::npos) << m << "\n" << text;
  }
  auto fams = json::parse(netctl_out("metrics netagent_bgp_session_state -o json"));
  ASSERT_EQ(fams.size(), 1u) << fams.dump();
  EXPECT_EQ(fams[0]["samples"].at(0)["value"], 6) << fams.dump();  // Established

  // A new service: announced within a second of the manifest change.
  write_service({.name = "new", .ip = "10.25.11.102"});
  auto ms = converge(bird, {kWeb, kApi, kNew}, 1s);
  EXPECT_GE(ms, 0) << bird.cmd("show route");
  RecordProperty("create_ms", int(ms));
  // Re-labelled out of the serviceSelector: withdrawn.
  write_service({.name = "api", .ip = "10.25.11.101", .labels = "{announce: \"no\"}"});
  ms = converge(bird, {kWeb, kNew}, 1s);
  EXPECT_GE(ms, 0) << bird.cmd("show route");
  RecordProperty("relabel_ms", int(ms));
  // The Local service gets a ready endpoint on this node: announced.
  write_service({.name = "local", .ip = "10.25.11.105", .local = true});
  ms = converge(bird, {kWeb, kNew, kLocal}, 1s);
  EXPECT_GE(ms, 0) << bird.cmd("show route");
  // Deleted: withdrawn.
  remove("svc-web.yaml");
  ms = converge(bird, {kNew, kLocal}, 1s);
  EXPECT_GE(ms, 0) << bird.cmd("show route");
  RecordProperty("delete_ms", int(ms));

  // BIRD restarts: the agent reconnects (idle hold 5 s, then connect retry 1-2 s) and
  // announces again.
  bird.stop();
  ASSERT_TRUE(wait_until([&] { return agent_state() != "Established"; }, 5s));
  bird.start();
  ASSERT_TRUE(wait_until([&] { return bird.established(); }, 15s)) << bird.details();
  EXPECT_GE(converge(bird, {kNew, kLocal}, 2s), 0) << bird.cmd("show route");
  EXPECT_EQ(peer()["established_count"], 2);

  // The agent stops without graceful restart: BIRD withdraws at once, told why.
  agent_->stop(SIGTERM);
  EXPECT_GE(converge(bird, {}, 1s), 0) << bird.cmd("show route");
  EXPECT_NE(bird.log().find("Administrative shutdown"), std::string::npos) << bird.log();
}

TEST_F(BgpAgent, ClusterConfigWithGracefulRestartKeepsRoutesAcrossAgentRestart) {
  Bird bird(router_->ns(), netagent_.dir.path());
  write("bgp.yaml", kClusterConfig);
  write_service({.name = "web", .ip = "10.25.11.100"});
  write_service({.name = "api", .ip = "10.25.11.101"});
  start_agent();
  ASSERT_TRUE(wait_until([&] { return bird.established(); }, 10s)) << bird.details();
  ASSERT_GE(converge(bird, {kWeb, kApi}, 5s), 0) << bird.cmd("show route all");
  EXPECT_EQ(bird.routes().at(kWeb).community, "(64512,200)");
  auto caps = peer()["capabilities"].dump();
  EXPECT_NE(caps.find("graceful-restart"), std::string::npos) << caps;

  // SIGTERM: the session closes without withdrawing; BIRD keeps the routes as stale.
  ASSERT_EQ(agent_->stop(SIGTERM), 0);
  ASSERT_TRUE(wait_until([&] { return !bird.established(); }, 5s));
  EXPECT_NE(bird.details().find("Neighbor graceful restart active"), std::string::npos)
      << bird.details();
  sh("sleep 1");
  EXPECT_EQ(bird.prefixes(), (std::set<std::string>{kWeb, kApi})) << bird.cmd("show route all");

  // A service goes away while the agent is down; the restarted agent sends the new table and
  // End-of-RIB, and BIRD flushes the stale route it no longer gets.
  remove("svc-api.yaml");
  start_agent();
  ASSERT_TRUE(wait_until([&] { return bird.established(); }, 10s)) << bird.details();
  // The new agent's OPEN carried the Restart State bit (RFC 4724 §4.1).
  EXPECT_NE(bird.details().find("Restart recovery"), std::string::npos) << bird.details();
  EXPECT_GE(converge(bird, {kWeb}, 5s), 0) << bird.cmd("show route all");
  EXPECT_EQ(bird.details().find("Neighbor graceful restart active"), std::string::npos)
      << bird.details();
  EXPECT_EQ(bird.routes().at(kWeb).community, "(64512,200)");
}

TEST_F(BgpAgent, Md5FromSecretWrongPasswordNeverEstablishesRightOneDoes) {
  Bird bird(router_->ns(), netagent_.dir.path(), "  password \"right-secret\";\n");
  auto secret = [](const std::string& pw) {
    return "apiVersion: v1\nkind: Secret\nmetadata: {name: bgp-auth, namespace: kube-system}\n"
           "stringData: {password: " +
           pw + "}\n";
  };
  write("secret.yaml", secret("wrong-secret"));
  write("bgp.yaml", peering_policy("      authSecretRef: bgp-auth\n"));
  write_service({.name = "web", .ip = "10.25.11.100"});
  start_agent();
  // The signed SYNs are dropped by BIRD's kernel: several connect attempts fail.
  sh("sleep 3");
  EXPECT_NE(agent_state(), "Established");
  EXPECT_FALSE(bird.established());
  EXPECT_TRUE(bird.prefixes().empty());
  auto desired = json::parse(netctl_out("bgp desired -o json"));
  const auto auth = desired["instances"][0]["peers"][0]["auth"];
  EXPECT_EQ(auth, (json{{"secret", "bgp-auth"}, {"password_set", true}}));
  EXPECT_EQ(desired.dump().find("wrong-secret"), std::string::npos) << "passwords never leave";
  // The right password, by editing the Secret: the session restarts with the new key.
  write("secret.yaml", secret("right-secret"));
  ASSERT_TRUE(wait_until([&] { return bird.established(); }, 10s)) << bird.details();
  EXPECT_GE(converge(bird, {kWeb}, 5s), 0) << bird.cmd("show route all");

  // The node re-labelled out of the policy's nodeSelector: the peer is de-configured (Cease),
  // BIRD drops the routes, and netctl shows no peer.
  std::string relabelled = kCluster;
  relabelled.replace(relabelled.find("bgp-policy: infra"), 17, "bgp-policy: none");
  write("cluster.yaml", relabelled);
  EXPECT_GE(converge(bird, {}, 1s), 0) << bird.cmd("show route all");
  EXPECT_TRUE(wait_until([&] { return api("/v1/bgp/peers")["peers"].empty(); }, 1s));
  EXPECT_NE(bird.log().find("Peer de-configured"), std::string::npos) << bird.log();
}

// The same agent with two more routers (FRR bgpd at .2, GoBGP at .3) as peers of one BGPv2
// instance: both hold the route with its attributes; removing one peer from the manifests
// ends only that session.
TEST_F(BgpAgent, FrrAndGoBgpPeersAndRemovingOneLeavesTheOther) {
  NETAGENT_REQUIRE(sh("command -v gobgpd >/dev/null && command -v gobgp >/dev/null && "
                      "command -v vtysh >/dev/null && test -x /usr/lib/frr/bgpd") == 0,
                   "FRR and GoBGP are not installed (apt-get install frr gobgpd)");
  for (const char* a : {"10.25.11.2/24", "10.25.11.3/24"})
    router_->ns().sh_ok(std::string("ip addr add ") + a + " dev eth0");
  Frr frr(router_->ns(), netagent_.dir.path());
  GoBgp gobgp(router_->ns(), netagent_.dir.path());

  auto config = [](bool with_gobgp) {
    std::string c = kClusterConfig;
    const std::string srx =
        "    - {name: srx, peerAddress: 10.25.11.1, peerASN: 64501, peerConfigRef: {name: srx}}\n";
    std::string peers =
        "    - {name: frr, peerAddress: 10.25.11.2, peerASN: 64501, peerConfigRef: {name: srx}}\n";
    if (with_gobgp)
      peers +=
          "    - {name: gobgp, peerAddress: 10.25.11.3, peerASN: 64501, "
          "peerConfigRef: {name: srx}}\n";
    c.replace(c.find(srx), srx.size(), peers);
    return c;
  };
  write("bgp.yaml", config(true));
  write_service({.name = "web", .ip = "10.25.11.100"});
  start_agent();

  auto state = [&](const std::string& name) {
    const auto all = api("/v1/bgp/peers");
    for (const auto& p : all.value("peers", json::array()))
      if (p["name"] == name) return p;
    return json::object();
  };
  ASSERT_TRUE(wait_until([&] { return state("frr").value("state", "") == "Established"; }, 15s))
      << state("frr").dump();
  ASSERT_TRUE(wait_until([&] { return state("gobgp").value("state", "") == "Established"; }, 15s))
      << state("gobgp").dump();

  auto vtysh = [&](const std::string& c) { return frr.vtysh(c); };
  ASSERT_TRUE(wait_until(
      [&] {
        auto out = vtysh("show bgp ipv4 unicast 10.25.11.100/32 json");
        auto j = json::parse(out.substr(std::min(out.find('{'), out.size())), nullptr, false);
        return j.is_object() && j.contains("paths");
      },
      5s));
  auto out = vtysh("show bgp ipv4 unicast 10.25.11.100/32 json");
  const auto path = json::parse(out.substr(out.find('{')))["paths"][0];
  EXPECT_EQ(path["aspath"]["string"], "64512");
  EXPECT_EQ(path["nexthops"][0]["ip"], "10.25.11.11");
  EXPECT_EQ(path["community"]["string"], "64512:200");
  EXPECT_EQ(path["origin"], "IGP");

  auto gobgp_rib = [&] {
    auto j = json::parse(gobgp.rib_json(), nullptr, false);
    return j.is_object() ? j : json::object();
  };
  ASSERT_TRUE(wait_until([&] { return gobgp_rib().size() == 1; }, 5s)) << gobgp_rib().dump();
  bool nh = false, as_path = false, comm = false;
  const auto rib = gobgp_rib();
  for (const auto& a : rib["10.25.11.100/32"][0]["attrs"]) {
    if (a["type"] == 3) nh = a["nexthop"] == "10.25.11.11";
    if (a["type"] == 2) as_path = a["as_paths"][0]["asns"] == json({64512});
    if (a["type"] == 8) comm = a["communities"] == json({(64512u << 16) | 200});
  }
  EXPECT_TRUE(nh && as_path && comm) << rib.dump();

  // GoBGP's peer removed from the manifests: its session ends and GoBGP drops the route; the FRR
  // session is untouched (same session, still Established, nothing re-sent).
  const auto frr_before = state("frr");
  write("bgp.yaml", config(false));
  EXPECT_TRUE(wait_until([&] { return gobgp_rib().empty(); }, 2s)) << gobgp_rib().dump();
  EXPECT_TRUE(state("gobgp").empty());
  const auto frr_after = state("frr");
  EXPECT_EQ(frr_after["state"], "Established");
  EXPECT_EQ(frr_after["established_count"], frr_before["established_count"]);
  EXPECT_EQ(frr_after["messages_out"]["update"], frr_before["messages_out"]["update"]);
}

// Fills a pinned lb4_services map with slot entries of frontends nobody programs (192.0.2.x,
// no slot 0: invisible to packets) until the kernel says it is full. Returns their keys.
std::vector<lb4_svc_key> fill_services(int fd) {
  std::vector<lb4_svc_key> junk;
  std::vector<lb4_svc_value> values(4096);
  for (uint32_t i = 0;;) {
    std::vector<lb4_svc_key> keys;
    for (size_t n = 0; n < values.size(); ++n, ++i) {
      lb4_svc_key k{};
      k.address = htonl((192u << 24) | (2u << 8) | (i & 0xff));
      k.dport = htons(uint16_t(i >> 8));
      k.backend_slot = 1;
      k.proto = IPPROTO_TCP;
      keys.push_back(k);
    }
    uint32_t count = uint32_t(keys.size());
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    int rc = bpf_map_update_batch(fd, keys.data(), values.data(), &count, &opts);
    int err = rc ? errno : 0;
    junk.insert(junk.end(), keys.begin(), keys.begin() + (rc ? count : keys.size()));
    if (rc) {
      EXPECT_EQ(err, E2BIG) << strerror(err);
      return junk;
    }
  }
}

TEST_F(BgpAgent, AFailedLbApplyIsNotAnnouncedAndIsRetried) {
  Bird bird(router_->ns(), netagent_.dir.path());
  write("bgp.yaml", peering_policy());
  write_service({.name = "web", .ip = "10.25.11.100"});
  start_agent();
  ASSERT_TRUE(wait_until([&] { return bird.established(); }, 10s)) << bird.details();
  ASSERT_GE(converge(bird, {kWeb}, 5s), 0) << bird.cmd("show route all");

  // The agent's services map fills up behind its back.
  const std::string pin = netagent_.bpf_root() + "/lb4_services";
  int fd = bpf_obj_get(pin.c_str());
  ASSERT_GE(fd, 0) << pin << ": " << strerror(errno);
  auto junk = fill_services(fd);
  ASSERT_FALSE(junk.empty());

  // A new LoadBalancer service: LB IPAM allocates its address, the LB cannot program it.
  write_service({.name = "new", .ip = "10.25.11.102"});
  auto lb = [&] {
    for (const auto& r : api("/v1/status").value("reconcilers", json::array())) {
      if (r.value("name", "") == "lb") return r;
    }
    return json::object();
  };
  ASSERT_TRUE(wait_until([&] { return lb().value("state", "") == "error"; }, 5s)) << lb().dump();
  const auto error = lb()["last_error"].get<std::string>();
  EXPECT_NE(error.find("lb4_services"), std::string::npos) << error;
  EXPECT_NE(error.find("errno 7"), std::string::npos) << error;  // E2BIG: the map is full
  auto status = netctl_out("status");
  EXPECT_NE(status.find("lb4_services"), std::string::npos) << status;
  // What the LB serves is what BGP announces: not the new address, while the LB retries.
  const auto t0 = Clock::now();
  while (Clock::now() - t0 < 2500ms) {
    ASSERT_EQ(bird.prefixes(), std::set<std::string>{kWeb}) << bird.cmd("show route all");
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_GE(lb()["errors"].get<int>(), 2) << "retried (back-off 1 s, then 2 s)";

  // Room again: the next retry programs the service and BGP announces it.
  uint32_t count = uint32_t(junk.size());
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  ASSERT_EQ(bpf_map_delete_batch(fd, junk.data(), &count, &opts), 0) << strerror(errno);
  close(fd);
  auto ms = converge(bird, {kWeb, kNew}, 10s);
  EXPECT_GE(ms, 0) << bird.cmd("show route all");
  RecordProperty("recovered_ms", int(ms));
  EXPECT_TRUE(wait_until([&] { return lb().value("state", "") == "ok"; }, 2s)) << lb().dump();
  EXPECT_EQ(bird.routes().at(kNew).next_hop, "10.25.11.11");
}

}  // namespace
}  // namespace netagent
