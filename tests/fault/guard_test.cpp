// The guard faults (issue 10): what an operator, a CNI plugin gone wrong or another tool can do to
// the agent's hold on the node, each against a real agent on a node namespace with a NodePort
// service reached from a client namespace:
//  - a second agent on the same --bpf-root (its own socket, state dir and a different tree) is
//    refused, naming the holder, while the first keeps serving with its maps unchanged; kill -9
//    and a restart re-take the lock; --cleanup is refused while the lock is held;
//  - POST /v1/endpoints refuses an uplink (--devices), loopback, a missing interface and an
//    address outside the node's pod CIDRs with a 4xx, counted by reason, and NodePort traffic
//    through the uplink keeps working;
//  - another tool's program at the policy hook is neither replaced by a registration nor removed
//    by a deletion; once it is gone, the next registration (or a resync) attaches; one at the
//    uplink's hook stops the LB part at start instead of being replaced;
//  - an uplink endpoint left by an earlier version is shown as refused and never attached; the
//    state dir and files become owner-only;
//  - --cleanup removes only the agent's pins and refuses a bpffs mount root.
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fault_cluster.hpp"
#include "netagent/datapath/attach.hpp"
#include "netagent/netctl/client.hpp"
#include "netagent/testing/agent_node.hpp"
#include "netagent/testing/privileged.hpp"
#include "netagent/testing/topology.hpp"

namespace netagent {
namespace {

using namespace netagent::testing;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

const std::string kCluster = kFaultClusterBase + R"(---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.10
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: demo, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- {addresses: [10.1.0.5], nodeName: node-a}
)";

// The tree of a second agent: the same node, no services (run on the first agent's maps, it
// would delete every frontend).
const char* kOtherTree = R"(apiVersion: v1
kind: Node
metadata: {name: node-a}
spec: {podCIDRs: [10.1.0.0/24]}
status: {addresses: [{type: InternalIP, address: 10.25.11.11}]}
)";

// A TC program of "another tool": returns TC_ACT_OK, named foreign_guard.
int load_foreign_program() {
  struct bpf_insn insns[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, TC_ACT_OK},
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  return bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "foreign_guard", "GPL", insns, 2, nullptr);
}

// A bpffs instance of the test's own (a fresh superblock), unmounted on destruction.
class PrivateBpffs {
 public:
  PrivateBpffs() {
    if (::mount("bpf", dir_.path().c_str(), "bpf", 0, nullptr) != 0) {
      throw std::runtime_error("mount bpffs at " + dir_.path());
    }
  }
  ~PrivateBpffs() { ::umount2(dir_.path().c_str(), MNT_DETACH); }
  const std::string& path() const { return dir_.path(); }

 private:
  TempDir dir_{"na-guard-bpffs"};
};

class GuardFault : public ::testing::Test {
 protected:
  void SetUp() override {
    NETAGENT_REQUIRE_ROOT();
    lan_ = std::make_unique<Lan>("grd");
    node_ = lan_->host("node", "10.25.11.11/24");
    client_ = lan_->host("client", "10.25.11.50/24");
    start_echo_pods(*node_, {"web1", "web2"}, {"10.1.0.5", "10.1.0.6"}, 8080, pods_, servers_);
    a_.write_manifest("cluster.yaml", kCluster);
  }

  std::unique_ptr<Process> start_agent() {
    auto p = a_.start(node_->ns());
    EXPECT_TRUE(wait_until([&] { return nodeport() == "web1\n"; }, 15s)) << p->log();
    return p;
  }

  // The NodePort through the node's uplink, from the client.
  std::string nodeport() {
    auto r = run_in(client_->ns(), "",
                    [&] { return tcp_request("10.25.11.11", 30080, "hi", nullptr, 500); });
    return r.rfind("error", 0) == 0 ? "" : r;
  }

  // The programs on a device of the node at tc `dir`, as tc lists them.
  std::string tc_filters(const std::string& dev, const std::string& dir) {
    std::string out;
    node_->ns().sh("tc filter show dev " + dev + " " + dir, &out);
    return out;
  }

  std::string map_dump(const std::string& name) {
    std::string out;
    sh("bpftool -j map dump pinned " + a_.bpf_root() + "/" + name, &out);
    return out;
  }

  auto post_endpoint(const json& body) {
    return netctl::Client(a_.socket(), 5s).request("POST", "/v1/endpoints", &body);
  }

  double metric(const std::string& name, const std::map<std::string, std::string>& labels) {
    return metric_value(a_.api("/v1/metrics"), name, labels).value_or(0);
  }

  json reconciler(const std::string& name) {
    const json status = a_.api("/v1/status");
    for (const auto& r : status["reconcilers"]) {
      if (r.value("name", "") == name) return r;
    }
    return nullptr;
  }

  std::unique_ptr<Lan> lan_;
  std::unique_ptr<Host> node_, client_;
  std::vector<std::unique_ptr<Pod>> pods_;
  std::vector<std::unique_ptr<Process>> servers_;
  AgentNode a_{{.tag = "guard-a"}};
};

TEST_F(GuardFault, ASecondAgentOnTheSameBpfRootIsRefusedAndTheFirstKeepsServing) {
  auto first = start_agent();
  const std::string services = map_dump("lb4_services");
  const std::string backends = map_dump("lb4_backends");
  ASSERT_NE(services.find("key"), std::string::npos) << services;

  // Its own socket, state dir, cgroup and tree; the first agent's bpf-root.
  AgentNode b({.tag = "guard-b"});
  b.write_manifest("cluster.yaml", kOtherTree);
  auto argv = b.args();
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == "--bpf-root") argv[i + 1] = a_.bpf_root();
  }
  Process second(argv, &node_->ns(), b.log_path());
  const bool exited = wait_until([&] { return !second.alive(); }, 15s);
  EXPECT_TRUE(exited) << "the second agent runs on the first one's bpf-root\n" << second.log();
  EXPECT_EQ(exit_code_of(second.stop(SIGTERM)), 6) << second.log();
  EXPECT_NE(
      second.log().find("--bpf-root " + a_.bpf_root() + " is locked by another netagent (pid " +
                        std::to_string(first->pid()) + ", --api-socket " + a_.socket() +
                        ", --state-dir " + a_.state_dir() + ")"),
      std::string::npos)
      << second.log();

  // 1. The first agent kept serving, with its maps exactly as they were.
  EXPECT_EQ(nodeport(), "web1\n");
  EXPECT_EQ(map_dump("lb4_services"), services);
  EXPECT_EQ(map_dump("lb4_backends"), backends);
  // 2. Its status shows the lock it holds; no part is in error.
  json status = a_.api("/v1/status");
  EXPECT_EQ(status["bpf_root_lock"]["held"], true) << status.dump();
  EXPECT_EQ(status["bpf_root_lock"]["path"], a_.bpf_root());
  EXPECT_EQ(reconciler("lb")["state"], "ok");

  // --cleanup (another socket) is refused while the lock is held, and changes nothing.
  std::string out;
  int st = sh(node_->ns().prefix() + " " + NETAGENT_BIN + " --cleanup --devices eth0 --cgroup " +
                  a_.cgroup.path() + " --bpf-root " + a_.bpf_root() + " --api-socket " +
                  b.socket() + " 2>&1",
              &out);
  EXPECT_EQ(st, 6) << out;
  EXPECT_NE(out.find("refusing to clean up: --bpf-root " + a_.bpf_root() +
                     " is locked by another netagent (pid " + std::to_string(first->pid())),
            std::string::npos)
      << out;
  EXPECT_TRUE(fs::exists(a_.bpf_root() + "/lb4_services"));
  EXPECT_EQ(nodeport(), "web1\n");

  // 3. kill -9: the kernel drops the lock with the process; a restarted agent takes it and
  // serves what it served, with no other step.
  first->stop(SIGKILL);
  EXPECT_EQ(nodeport(), "web1\n");  // the datapath keeps running without its agent
  auto again = a_.start(node_->ns());
  ASSERT_TRUE(a_.wait_api("/v1/status", [](const json& s) {
    return s["bpf_root_lock"]["held"] == true;
  })) << again->log();
  EXPECT_NE(again->log().find("holding the exclusive lock on --bpf-root " + a_.bpf_root()),
            std::string::npos);
  EXPECT_EQ(nodeport(), "web1\n");
  EXPECT_EQ(map_dump("lb4_services"), services);
}

TEST_F(GuardFault, EndpointRegistrationRefusesUplinksLoopbackAndForeignAddresses) {
  auto agent = start_agent();
  struct Case {
    json body;
    int status;
    std::string message;
    std::string reason;
  };
  const std::string web2 = pods_[1]->host_device();
  std::vector<Case> cases = {
      {{{"namespace", "demo"}, {"pod", "up"}, {"interface", "eth0"}, {"ips", {"10.1.0.9"}}},
       400,
       "interface eth0 is one of the agent's --devices",
       "uplink"},
      {{{"namespace", "demo"}, {"pod", "lo"}, {"interface", "lo"}, {"ips", {"10.1.0.9"}}},
       400,
       "interface lo is a loopback device",
       "loopback"},
      {{{"namespace", "demo"}, {"pod", "far"}, {"interface", web2}, {"ips", {"10.9.9.9"}}},
       400,
       "address 10.9.9.9 is outside this node's pod CIDRs (10.1.0.0/24)",
       "outside_pod_cidrs"},
      {{{"namespace", "demo"},
        {"pod", "ghost"},
        {"interface", "nosuchdev0"},
        {"ips", {"10.1.0.9"}}},
       400,
       "interface nosuchdev0 does not exist",
       "no_interface"},
  };
  for (const auto& c : cases) {
    auto r = post_endpoint(c.body);
    ASSERT_TRUE(r.ok()) << r.error().str();
    EXPECT_EQ(r->status, c.status) << r->body.dump();
    EXPECT_NE(r->body.dump().find(c.message), std::string::npos) << r->body.dump();
    // 1. NodePort traffic through the uplink keeps working; its program is still the LB's.
    EXPECT_EQ(nodeport(), "web1\n") << "after registering " << c.body.dump();
    EXPECT_NE(tc_filters("eth0", "ingress").find("tc_nodeport_ing"), std::string::npos)
        << tc_filters("eth0", "ingress");
    // 2. Counted by reason.
    EXPECT_EQ(
        metric("netagent_policy_endpoint_registrations_refused_total", {{"reason", c.reason}}), 1)
        << c.reason;
  }
  EXPECT_EQ(reconciler("policy")["status"]["registrations_refused"], cases.size());
  EXPECT_EQ(a_.api("/v1/endpoints")["endpoints"].size(), 0u);
  // Nothing was attached to the veth of the refused address.
  EXPECT_EQ(tc_filters(web2, "ingress").find("bpf"), std::string::npos);

  // 3. The right registration is accepted and enforced, and the NodePort still answers.
  auto ok = post_endpoint({{"namespace", "demo"},
                           {"pod", "web1"},
                           {"interface", pods_[0]->host_device()},
                           {"ips", {"10.1.0.5"}}});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, 200) << ok->body.dump();
  EXPECT_EQ(ok->body["state"], "enforcing") << ok->body.dump();
  EXPECT_EQ(nodeport(), "web1\n");
}

TEST_F(GuardFault, AnotherToolsProgramAtThePolicyHookIsNeitherReplacedNorRemoved) {
  auto agent = start_agent();
  int foreign = load_foreign_program();
  ASSERT_GE(foreign, 0) << "load a TC program: " << std::strerror(errno);
  const std::string web1 = pods_[0]->host_device();
  const std::string web2 = pods_[1]->host_device();
  auto hook_of = [&](const std::string& dev, datapath::TcDirection d) {
    InNetns in(node_->ns());
    auto idx = datapath::ifindex_of(dev);
    return datapath::TcHook{idx ? *idx : 0, d, 1, 1};
  };
  auto prog_at = [&](const datapath::TcHook& h) -> std::string {
    InNetns in(node_->ns());
    auto p = datapath::tc_attached_prog(h);
    return p && *p ? (*p)->name : "";
  };
  auto put = [&](const datapath::TcHook& h) {
    InNetns in(node_->ns());
    auto st = datapath::tc_attach(h, foreign);
    ASSERT_TRUE(st.ok()) << st.error().str();
  };
  auto remove = [&](const datapath::TcHook& h) {
    InNetns in(node_->ns());
    ASSERT_TRUE(datapath::tc_detach(h).ok());
  };

  // Another tool's filter at handle 1, priority 1 on web2's veth: registration refuses (409)
  // and leaves it there.
  const auto web2_in = hook_of(web2, datapath::TcDirection::Ingress);
  put(web2_in);
  json body = {{"namespace", "demo"}, {"pod", "web2"}, {"interface", web2}, {"ips", {"10.1.0.6"}}};
  auto r = post_endpoint(body);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 409) << r->body.dump();
  EXPECT_NE(r->body.dump().find("'foreign_guard'"), std::string::npos) << r->body.dump();
  EXPECT_EQ(prog_at(web2_in), "foreign_guard");
  EXPECT_EQ(metric("netagent_policy_endpoint_registrations_refused_total",
                   {{"reason", "foreign_program"}}),
            1);
  EXPECT_EQ(nodeport(), "web1\n");

  // The cause removed, the same registration attaches the policy programs.
  remove(web2_in);
  r = post_endpoint(body);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200) << r->body.dump();
  EXPECT_EQ(r->body["state"], "enforcing");
  EXPECT_EQ(prog_at(web2_in), "policy_from_end");

  // An endpoint whose hook another tool took over since: deleting the endpoint leaves that
  // program alone and removes only ours.
  r = post_endpoint(
      {{"namespace", "demo"}, {"pod", "web1"}, {"interface", web1}, {"ips", {"10.1.0.5"}}});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body.dump();
  const auto web1_in = hook_of(web1, datapath::TcDirection::Ingress);
  const auto web1_out = hook_of(web1, datapath::TcDirection::Egress);
  EXPECT_EQ(prog_at(web1_out), "policy_to_endpo");
  put(web1_in);
  auto del = netctl::Client(a_.socket(), 5s).del("/v1/endpoints/demo/web1");
  ASSERT_TRUE(del.ok()) << del.error().str();
  EXPECT_EQ(prog_at(web1_in), "foreign_guard");
  EXPECT_EQ(prog_at(web1_out), "");
  remove(web1_in);
  EXPECT_EQ(nodeport(), "web1\n");

  // A registered endpoint whose hook another tool took while the agent was down: the restarted
  // agent leaves that program, shows the endpoint refused, and one resync attaches once the
  // program is gone.
  r = post_endpoint(
      {{"namespace", "demo"}, {"pod", "web1"}, {"interface", web1}, {"ips", {"10.1.0.5"}}});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body.dump();
  ASSERT_EQ(exit_code_of(agent->stop(SIGTERM)), 0);
  put(web1_in);
  agent = start_agent();
  ASSERT_TRUE(a_.wait_api("/v1/endpoints/demo/web1",
                          [](const json& e) { return e.value("state", "") == "refused"; }))
      << a_.api("/v1/endpoints/demo/web1").dump() << agent->log();
  EXPECT_NE(a_.api("/v1/endpoints/demo/web1").value("refused", "").find("'foreign_guard'"),
            std::string::npos);
  EXPECT_EQ(reconciler("policy")["status"]["endpoints_refused"], 1);
  EXPECT_EQ(prog_at(web1_in), "foreign_guard");
  remove(web1_in);
  auto resync = netctl::Client(a_.socket(), 5s).request("POST", "/v1/resync");
  ASSERT_TRUE(resync.ok());
  EXPECT_TRUE(a_.wait_api("/v1/endpoints/demo/web1", [](const json& e) {
    return e.value("state", "") == "enforcing";
  })) << a_.api("/v1/endpoints/demo/web1").dump();
  EXPECT_EQ(prog_at(web1_in), "policy_from_end");
  EXPECT_EQ(reconciler("policy")["status"]["endpoints_refused"], 0);
  ::close(foreign);
  EXPECT_EQ(nodeport(), "web1\n");
}

TEST_F(GuardFault, AnotherToolsProgramOnTheUplinkHookStopsTheLbInsteadOfBeingReplaced) {
  int foreign = load_foreign_program();
  ASSERT_GE(foreign, 0) << "load a TC program: " << std::strerror(errno);
  datapath::TcHook hook;
  {
    InNetns in(node_->ns());
    auto idx = datapath::ifindex_of("eth0");
    ASSERT_TRUE(idx.ok());
    hook = {*idx, datapath::TcDirection::Ingress, 1, 1};
    ASSERT_TRUE(datapath::tc_attach(hook, foreign).ok());
  }
  auto agent = a_.start(node_->ns());
  ASSERT_TRUE(wait_until([&] { return !agent->alive(); }, 15s)) << agent->log();
  EXPECT_EQ(exit_code_of(agent->stop(SIGTERM)), 1) << agent->log();
  EXPECT_NE(agent->log().find("reconciler lb failed to start: NodePort LB: tc ingress on eth0 "
                              "(handle 1, priority 1) runs program " +
                              std::to_string([&] {
                                InNetns in(node_->ns());
                                auto p = datapath::tc_attached_prog(hook);
                                return p.ok() && *p ? (*p)->id : 0u;
                              }()) +
                              " 'foreign_guard', which netagent did not attach there"),
            std::string::npos)
      << agent->log();
  {
    InNetns in(node_->ns());
    auto p = datapath::tc_attached_prog(hook);
    ASSERT_TRUE(p.ok() && *p);
    EXPECT_EQ((*p)->name, "foreign_guard");
    // The cause removed, the next start serves.
    ASSERT_TRUE(datapath::tc_detach(hook).ok());
  }
  ::close(foreign);
  agent = start_agent();
  EXPECT_EQ(nodeport(), "web1\n");
}

TEST_F(GuardFault, AnUplinkEndpointOfAnEarlierVersionIsNeverAttachedAndStateIsOwnerOnly) {
  // What an earlier version accepted and persisted: eth0 as an endpoint, in a 0755 state dir
  // with 0644 files.
  fs::create_directories(a_.state_dir());
  ::chmod(a_.state_dir().c_str(), 0755);
  {
    std::ofstream f(a_.state_dir() + "/endpoints.json");
    f << R"({"next_id": 2, "endpoints": [{"id": 1, "namespace": "demo", "pod": "old",
            "interface": "eth0", "ips": ["10.1.0.9"]}]})";
  }
  ::chmod((a_.state_dir() + "/endpoints.json").c_str(), 0644);
  const mode_t old_umask = ::umask(022);
  auto agent = start_agent();
  ::umask(old_umask);

  // 1. The uplink keeps the LB's program: NodePort works.
  EXPECT_EQ(nodeport(), "web1\n");
  EXPECT_NE(tc_filters("eth0", "ingress").find("tc_nodeport_ing"), std::string::npos);
  // 2. The endpoint is shown as refused, with why.
  json ep = a_.api("/v1/endpoints/1");
  EXPECT_EQ(ep["state"], "refused") << ep.dump();
  EXPECT_NE(ep.value("refused", "").find("--devices"), std::string::npos) << ep.dump();
  EXPECT_EQ(reconciler("policy")["status"]["endpoints_refused"], 1);
  EXPECT_NE(agent->log().find("its programs are not attached"), std::string::npos);
  // 3. Deleting it removes the registration and leaves the LB's programs on the uplink.
  auto del = netctl::Client(a_.socket(), 5s).del("/v1/endpoints/1");
  ASSERT_TRUE(del.ok()) << del.error().str();
  EXPECT_NE(tc_filters("eth0", "ingress").find("tc_nodeport_ing"), std::string::npos);
  EXPECT_NE(tc_filters("eth0", "egress").find("tc_nodeport_egr"), std::string::npos);
  EXPECT_EQ(nodeport(), "web1\n");

  // The state dir and every state file are the agent's only.
  auto mode = [](const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 ? unsigned(st.st_mode & 07777) : 07777u;
  };
  EXPECT_EQ(mode(a_.state_dir()), 0700u);
  ASSERT_TRUE(wait_until([&] { return fs::exists(a_.state_dir() + "/lb-ipam.json"); }, 5s));
  EXPECT_EQ(mode(a_.state_dir() + "/lb-ipam.json"), 0600u);
  EXPECT_EQ(mode(a_.state_dir() + "/endpoints.json"), 0600u);
  EXPECT_NE(agent->log().find("was mode 0755; changed it to 0700"), std::string::npos);
}

TEST_F(GuardFault, CleanupRemovesOnlyTheAgentsPinsAndRefusesABpffsRoot) {
  auto agent = start_agent();
  ASSERT_EQ(exit_code_of(agent->stop(SIGTERM)), 0) << agent->log();
  // Other tools' pins beside the agent's: a map, and a directory with a map in it.
  const std::string root = a_.bpf_root();
  fs::create_directories(root + "/other-tool");
  sh_ok("bpftool map create " + root +
        "/other_tool_map type array key 4 value 4 entries 1 name "
        "other_tool_map");
  sh_ok("bpftool map create " + root + "/other-tool/lb4_services type array key 4 value 4 " +
        "entries 1 name foreign_svc");
  ASSERT_TRUE(fs::exists(root + "/lb4_services"));

  std::string out;
  std::string cmd = node_->ns().prefix() + " " + NETAGENT_BIN + " --cleanup --devices eth0 " +
                    "--cgroup " + a_.cgroup.path() + " --state-dir " + a_.state_dir() +
                    " --api-socket " + a_.socket() + " --bpf-root ";
  EXPECT_EQ(sh(cmd + root + " 2>&1", &out), 0) << out;
  EXPECT_TRUE(fs::exists(root + "/other_tool_map")) << out;
  EXPECT_TRUE(fs::exists(root + "/other-tool/lb4_services")) << out;
  EXPECT_FALSE(fs::exists(root + "/lb4_services")) << out;
  EXPECT_FALSE(fs::exists(root + "/links")) << out;
  EXPECT_NE(out.find("left 2 entries under " + root +
                     " that netagent did not pin: other-tool/lb4_services, other_tool_map"),
            std::string::npos)
      << out;
  EXPECT_EQ(tc_filters("eth0", "ingress").find("bpf"), std::string::npos);

  // The root of a bpffs (here a private instance, so nothing else can be hit) is refused.
  PrivateBpffs mnt;
  sh_ok("bpftool map create " + mnt.path() + "/precious type array key 4 value 4 entries 1 " +
        "name precious");
  EXPECT_EQ(sh(cmd + mnt.path() + " 2>&1", &out), 2) << out;
  EXPECT_NE(
      out.find("refusing to clean up --bpf-root " + mnt.path() + ": it is the root of a mount"),
      std::string::npos)
      << out;
  EXPECT_TRUE(fs::exists(mnt.path() + "/precious"));
}

}  // namespace
}  // namespace netagent
