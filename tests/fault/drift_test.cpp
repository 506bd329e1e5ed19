// Fault: the datapath changed behind the agent's back (issue 10, item 4). A real agent in a node
// namespace serves a LoadBalancer/NodePort/ClusterIP service and enforces a policy on its pods;
// then, as an operator with bpftool and tc could, the test deletes the service's entries and a
// backend and their Maglev table from the pinned LB maps, detaches the socket LB's cgroup link,
// removes the NodePort program from the uplink (`tc filter del dev eth0 ingress`) and deletes a
// pod's policy entries.
//   1. what was not touched keeps working (the other pod, straight to its address);
//   2. the drift check (POST /v1/resync, or the periodic one) names every repaired map and
//      attachment in its reply, in GET /v1/status and in the metrics;
//   3. afterwards the maps hold exactly what they held before (GET /v1/bpf/lb, the policy maps
//      read from their pins) and traffic flows again, with no restart (same pid).
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <arpa/inet.h>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fault_cluster.hpp"
#include "netagent/netctl/client.hpp"
#include "netagent/testing/agent_node.hpp"
#include "netagent/testing/privileged.hpp"
#include "netagent/testing/topology.hpp"

extern "C" {
#include "netagent/lb.h"
#include "netagent/policy.h"
}

namespace netagent {
namespace {

using namespace netagent::testing;
using namespace std::chrono_literals;
using nlohmann::json;

std::string pod_manifest(const std::string& name, const std::string& ip, const std::string& app) {
  return "---\napiVersion: v1\nkind: Pod\nmetadata: {name: " + name +
         ", namespace: demo, labels: {app: " + app +
         "}}\nspec: {nodeName: node-a, containers: [{name: c, image: echo}]}\nstatus: {podIP: " +
         ip + ", podIPs: [{ip: " + ip + "}]}\n";
}

const std::string kCluster = kFaultClusterBase + R"(---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo, annotations: {lbipam.cilium.io/ips: 10.25.11.100}}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.10
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080, nodePort: 30080}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: demo, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- {addresses: [10.1.0.5], nodeName: node-a}
- {addresses: [10.1.0.6], nodeName: node-a}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web-ingress, namespace: demo}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - fromEntities: [world, host]
    toPorts: [{ports: [{port: "8080", protocol: TCP}]}]
)";

// A pinned map's entries, as bytes (what bpftool map dump shows).
using Entries = std::map<std::string, std::string>;

struct PinnedMap {
  explicit PinnedMap(const std::string& path) : fd(bpf_obj_get(path.c_str())) {
    EXPECT_GE(fd, 0) << "open " << path << ": " << std::strerror(errno);
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
      key_size = info.key_size;
      value_size = info.value_size;
    }
  }
  ~PinnedMap() {
    if (fd >= 0) close(fd);
  }
  Entries dump() const {
    Entries out;
    std::string key(key_size, '\0'), next(key_size, '\0'), value(value_size, '\0');
    const void* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
      if (bpf_map_lookup_elem(fd, next.data(), value.data()) == 0) out[next] = value;
      key = next;
      prev = key.data();
    }
    return out;
  }
  bool remove(const std::string& key) const { return bpf_map_delete_elem(fd, key.data()) == 0; }
  template <typename K>
  bool remove(const K& key) const {
    return bpf_map_delete_elem(fd, &key) == 0;
  }
  int fd = -1;
  uint32_t key_size = 0, value_size = 0;
};

class DriftFault : public ::testing::Test {
 protected:
  void SetUp() override {
    NETAGENT_REQUIRE_ROOT();
    lan_ = std::make_unique<Lan>("drf");
    node_ = lan_->host("node", "10.25.11.11/24");
    client_ = lan_->host("client", "10.25.11.50/24");
    client_->route("10.25.11.96/27 via 10.25.11.11");  // the LB pool, as BGP would route it
    client_->route("10.1.0.0/24 via 10.25.11.11");     // the pods, straight
    std::string cluster = kCluster;
    const std::vector<std::string> names = {"web1", "web2"}, ips = {"10.1.0.5", "10.1.0.6"};
    start_echo_pods(*node_, names, ips, 8080, pods_, servers_);
    for (size_t i = 0; i < names.size(); ++i)
      cluster += pod_manifest(names[i], ips[i], "web");
    netagent_.write_manifest("cluster.yaml", cluster);
  }

  void start_agent(const std::vector<std::string>& extra) {
    agent_ = netagent_.start(node_->ns(), extra);
    ASSERT_TRUE(netagent_.wait_api("/v1/policy", [](const json& p) {
      return p["identities"].get<size_t>() > 0;
    })) << agent_->log();
    for (size_t i = 0; i < pods_.size(); ++i) {
      json body = {{"namespace", "demo"},
                   {"pod", i == 0 ? "web1" : "web2"},
                   {"interface", pods_[i]->host_device()},
                   {"ips", {pods_[i]->ip()}}};
      auto r = netctl::Client(netagent_.socket(), 5s).post("/v1/endpoints", body);
      ASSERT_TRUE(r.ok()) << (r.ok() ? "" : r.error().str()) << agent_->log();
    }
    ASSERT_TRUE(wait_until([&] { return everything_works(); }, 10s)) << agent_->log();
  }

  // From the client (world) through the LB IP, the NodePort and straight to each pod; from a
  // process in the node's cgroup through the ClusterIP (socket LB).
  std::string from_client(const std::string& ip, uint16_t port, int timeout_ms = 500) {
    auto r =
        run_in(client_->ns(), "", [&] { return tcp_request(ip, port, "hi", nullptr, timeout_ms); });
    return r.rfind("error", 0) == 0 ? "" : r;
  }
  std::string via_cluster_ip(int timeout_ms = 500) {
    auto r = run_in(node_->ns(), netagent_.cgroup.path(),
                    [&] { return tcp_request("10.96.0.10", 80, "hi", nullptr, timeout_ms); });
    return r.rfind("error", 0) == 0 ? "" : r;
  }
  // Every path answers, and the services reach both backends.
  bool everything_works() {
    std::set<std::string> lb, np;
    for (int i = 0; i < 12; ++i) {
      lb.insert(from_client("10.25.11.100", 80));
      np.insert(from_client("10.25.11.11", 30080));
    }
    const std::set<std::string> both = {"web1\n", "web2\n"};
    const auto cip = via_cluster_ip();
    return lb == both && np == both && (cip == "web1\n" || cip == "web2\n") &&
           from_client("10.1.0.5", 8080) == "web1\n" && from_client("10.1.0.6", 8080) == "web2\n";
  }

  std::string pin(const std::string& name) const { return netagent_.bpf_root() + "/" + name; }

  // Everything the agent owns in its pinned maps, for before/after comparison.
  std::map<std::string, Entries> owned_maps() const {
    std::map<std::string, Entries> out;
    for (const char* m : {"lb4_services", "lb4_backends", "lb4_revnat", "policy_entries",
                          "ipcache4", "policy_eps", "policy_ep_dev"}) {
      out[m] = PinnedMap(pin(m)).dump();
    }
    return out;
  }

  // The fault: what an operator with bpftool and tc could do behind the agent's back. Returns
  // how many LB service entries were deleted.
  size_t tamper() {
    // The LoadBalancer frontend 10.25.11.100:80/TCP: every slot.
    PinnedMap services(pin("lb4_services"));
    size_t deleted = 0;
    for (const auto& [k, v] : services.dump()) {
      lb4_svc_key key;
      std::memcpy(&key, k.data(), sizeof(key));
      if (key.address == inet_addr("10.25.11.100") && ntohs(key.dport) == 80) {
        EXPECT_TRUE(services.remove(k));
        deleted++;
      }
    }
    EXPECT_EQ(deleted, 3u) << "slot 0 and two backend slots";
    // web2's backend.
    PinnedMap backends(pin("lb4_backends"));
    for (const auto& [k, v] : backends.dump()) {
      lb4_backend b;
      std::memcpy(&b, v.data(), sizeof(b));
      if (b.address == inet_addr("10.1.0.6")) {
        EXPECT_TRUE(backends.remove(k));
      }
    }
    // The Maglev table the service's external frontends share, out of the outer map.
    uint32_t table = 0;
    const json lb = netagent_.api("/v1/bpf/lb");
    for (const auto& f : lb["frontends"]) {
      if (f.value("frontend", "") == "10.25.11.11:30080/TCP") table = f.value("maglev_table", 0u);
    }
    EXPECT_NE(table, 0u) << lb.dump();
    EXPECT_TRUE(PinnedMap(pin("lb4_maglev_16381")).remove(table)) << std::strerror(errno);
    // web1's policy entries (its ingress allow).
    auto eps = netagent_.api("/v1/endpoints");
    uint32_t web1 = 0;
    for (const auto& e : eps["endpoints"]) {
      if (e.value("pod", "") == "web1") web1 = e.value("id", 0u);
    }
    EXPECT_NE(web1, 0u) << eps.dump();
    PinnedMap policy(pin("policy_entries"));
    size_t policy_deleted = 0;
    for (const auto& [k, v] : policy.dump()) {
      policy_key key;
      std::memcpy(&key, k.data(), sizeof(key));
      if (key.endpoint_id == web1) {
        EXPECT_TRUE(policy.remove(k));
        policy_deleted++;
      }
    }
    EXPECT_GT(policy_deleted, 0u);
    // The socket LB's connect hook: its pinned cgroup link detached (bpftool link detach).
    int link = bpf_obj_get((netagent_.bpf_root() + "/links/cgroup_sock4_connect").c_str());
    EXPECT_GE(link, 0) << std::strerror(errno);
    EXPECT_EQ(bpf_link_detach(link), 0) << std::strerror(errno);
    close(link);
    // The NodePort program on the uplink.
    node_->ns().sh_ok("tc filter del dev eth0 ingress");
    return deleted + policy_deleted + 1;
  }

  void expect_broken() {
    EXPECT_EQ(from_client("10.25.11.100", 80, 300), "") << "the LB IP's entries are gone";
    EXPECT_EQ(from_client("10.25.11.11", 30080, 300), "") << "no NodePort program on eth0";
    EXPECT_EQ(via_cluster_ip(300), "") << "the connect hook is detached";
    EXPECT_EQ(from_client("10.1.0.5", 8080, 300), "") << "web1's policy entries are gone";
    // What was not touched keeps working.
    EXPECT_EQ(from_client("10.1.0.6", 8080), "web2\n");
  }

  double metric(const std::string& name, const std::map<std::string, std::string>& labels) {
    return metric_value(netagent_.api("/v1/metrics"), name, labels).value_or(0);
  }

  // A drift check's record (the resync reply's "datapath_check", or status' last check) names
  // every map and attachment the fault changed.
  void expect_names_the_fault(const json& check) {
    ASSERT_TRUE(check.is_object()) << "no drift check record: " << check.dump();
    EXPECT_EQ(check.value("result", ""), "repaired") << check.dump(2);
    std::map<std::string, json> parts;
    for (const auto& p : check.value("parts", json::array()))
      parts[p.value("name", "")] = p;
    ASSERT_TRUE(parts.count("lb")) << check.dump(2);
    ASSERT_TRUE(parts.count("policy")) << check.dump(2);
    const auto& lb = parts["lb"]["maps"];
    EXPECT_EQ(lb["lb4_services"].value("missing", 0), 3) << check.dump(2);
    EXPECT_EQ(lb["lb4_backends"].value("missing", 0), 1) << check.dump(2);
    EXPECT_EQ(lb["lb4_maglev"].value("missing", 0), 1) << check.dump(2);
    EXPECT_FALSE(lb.contains("lb4_revnat")) << check.dump(2);
    EXPECT_GT(parts["policy"]["maps"]["policy_entries"].value("missing", 0), 0) << check.dump(2);
    const auto att = parts["lb"]["attachments"].dump();
    EXPECT_NE(att.find("tc ingress on eth0"), std::string::npos) << att;
    EXPECT_NE(att.find("cgroup sock4_connect"), std::string::npos) << att;
    EXPECT_EQ(att.find("egress"), std::string::npos) << "only what was removed: " << att;
  }

  void expect_metrics() {
    EXPECT_EQ(
        metric("netagent_datapath_drift_repaired_total", {{"part", "lb"}, {"map", "lb4_services"}}),
        3);
    EXPECT_EQ(
        metric("netagent_datapath_drift_repaired_total", {{"part", "lb"}, {"map", "lb4_backends"}}),
        1);
    EXPECT_EQ(
        metric("netagent_datapath_drift_repaired_total", {{"part", "lb"}, {"map", "lb4_maglev"}}),
        1);
    EXPECT_GT(metric("netagent_datapath_drift_repaired_total",
                     {{"part", "policy"}, {"map", "policy_entries"}}),
              0);
    EXPECT_EQ(metric("netagent_datapath_drift_attachments_restored_total", {{"part", "lb"}}), 2);
    EXPECT_GE(metric("netagent_datapath_drift_checks_total", {{"result", "repaired"}}), 1);
  }

  AgentNode netagent_{{.tag = "drift"}};
  std::unique_ptr<Lan> lan_;
  std::unique_ptr<Host> node_, client_;
  std::vector<std::unique_ptr<Pod>> pods_;
  std::vector<std::unique_ptr<Process>> servers_;
  std::unique_ptr<Process> agent_;
};

TEST_F(DriftFault, ResyncRepairsMapsAndAttachmentsChangedBehindTheAgentsBack) {
  // Default flags: the first periodic check is 60 s away, far beyond this test, so only the
  // resync repairs here (and the test runs unchanged against an agent without the check).
  start_agent({});
  const auto lb_before = netagent_.api("/v1/bpf/lb");
  const auto maps_before = owned_maps();
  const int pid = netagent_.api("/v1/status")["pid"];
  EXPECT_TRUE(netagent_.api("/v1/status")["datapath_check"]["last"].is_null());

  tamper();
  expect_broken();
  EXPECT_NE(netagent_.api("/v1/bpf/lb"), lb_before);

  auto t0 = std::chrono::steady_clock::now();
  auto r = netctl::Client(netagent_.socket(), 10s).post("/v1/resync", json::object());
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  ASSERT_TRUE(r.ok()) << r.error().str() << agent_->log();
  std::cout << "POST /v1/resync (drift check, reload, full apply): " << ms << " ms\n";
  const json check = r->value("datapath_check", json::object());
  expect_names_the_fault(check);
  EXPECT_EQ(check.value("trigger", ""), "resync");
  for (const auto& rec : r->value("reconcilers", json::array()))
    EXPECT_EQ(rec.value("state", ""), "ok") << rec.dump();

  // Exactly what was programmed before, traffic flows again, and the agent did not restart.
  EXPECT_EQ(netagent_.api("/v1/bpf/lb"), lb_before);
  EXPECT_EQ(owned_maps(), maps_before);
  EXPECT_TRUE(everything_works());
  auto status = netagent_.api("/v1/status");
  EXPECT_EQ(status["pid"], pid);
  expect_names_the_fault(status["datapath_check"]["last"]);
  EXPECT_EQ(status["datapath_check"]["checks_repaired"], 1);
  expect_metrics();
  // netctl status shows the check and what it repaired.
  std::string out;
  ASSERT_EQ(sh(std::string(NETCTL_BIN) + " --socket " + netagent_.socket() + " status", &out), 0)
      << out;
  EXPECT_NE(out.find("Drift check:"), std::string::npos) << out;
  EXPECT_NE(out.find("lb lb4_services: repaired 3 missing"), std::string::npos) << out;
  EXPECT_NE(out.find("lb: restored tc ingress on eth0"), std::string::npos) << out;

  // A second resync (through netctl, as the README says) finds nothing to repair.
  ASSERT_EQ(
      sh(std::string(NETCTL_BIN) + " --socket " + netagent_.socket() + " api -X POST /v1/resync",
         &out),
      0)
      << out;
  const json again = json::parse(out, nullptr, false);
  ASSERT_TRUE(again.is_object()) << out;
  EXPECT_EQ(again.value("datapath_check", json::object()).value("result", ""), "clean") << out;
  EXPECT_EQ(again.value("datapath_check", json::object()).value("repaired", -1), 0) << out;
}

TEST_F(DriftFault, ThePeriodicCheckRepairsOnItsOwn) {
  start_agent({"--datapath-verify-interval", "3"});
  const auto lb_before = netagent_.api("/v1/bpf/lb");
  const auto maps_before = owned_maps();
  const int pid = netagent_.api("/v1/status")["pid"];
  // Right after a check, so that the next one is ~3 s away while the fault is observed.
  auto checks = [&] { return netagent_.api("/v1/status")["datapath_check"].value("checks", 0); };
  const int seen = checks();
  ASSERT_TRUE(wait_until([&] { return checks() > seen; }, 5s, 20ms));
  EXPECT_EQ(netagent_.api("/v1/status")["datapath_check"]["last"].value("result", ""), "clean");

  tamper();
  expect_broken();

  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_until([&] { return everything_works(); }, 10s)) << agent_->log();
  std::cout << "repaired by the periodic check within "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - t0)
                   .count()
            << " ms of the fault\n";
  EXPECT_EQ(netagent_.api("/v1/bpf/lb"), lb_before);
  EXPECT_EQ(owned_maps(), maps_before);
  auto status = netagent_.api("/v1/status");
  EXPECT_EQ(status["pid"], pid);
  // The check that repaired it (later ones are clean again).
  EXPECT_EQ(status["datapath_check"]["checks_repaired"], 1) << status["datapath_check"].dump(2);
  expect_metrics();
  EXPECT_NE(agent_->log().find("datapath check (periodic): the kernel differed"),
            std::string::npos);
}

}  // namespace
}  // namespace netagent
