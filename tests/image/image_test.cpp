// The OCI image end to end: scripts/image.sh builds it from this build's netagent and netctl, a
// containerd of the test's own (own config, root, state dir and socket under a temporary
// directory, started by pid in the node's network namespace; never the machine's containerd)
// imports the archive, runs `netagent --version` from it, then runs the agent from the image as
// the DaemonSet does (privileged, host network = the node namespace, bpffs, cgroup and its
// directory bind-mounted), and the test checks that it answers on its API socket, programs the
// service (netctl from the build) and that a client reaches the backend through the NodePort.
// Everything the test started (containerd, the shim, the containers, the image, the
// directories) is removed by destructors, also when an assertion fails.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "netagent/testing/agent_node.hpp"
#include "netagent/testing/privileged.hpp"
#include "netagent/testing/topology.hpp"

namespace netagent {
namespace {

using namespace netagent::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

const char* kManifests = R"(apiVersion: v1
kind: Node
metadata: {name: node-a}
status: {addresses: [{type: InternalIP, address: 10.25.11.11}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  type: NodePort
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

// The name image.sh gives by default, which deploy/netagent/daemonset.yaml runs.
const char* kImage = "localhost/netagent:latest";

std::string quoted(const std::string& s) {
  return "'" + s + "'";
}

// A containerd of the test's own, in `ns` (so that `--net-host` containers share the node's
// network namespace), with every path under its own temporary directory.
class Containerd {
 public:
  explicit Containerd(const NetNs& ns) : dir_("netagent-ctrd") {
    namespace_ = "netagent-image-" + dir_.path().substr(dir_.path().rfind('-') + 1);
    // containerd 1.6 puts its shims' sockets in /run/containerd/s whatever the config says.
    std::error_code ec;
    made_run_dir_ = !fs::exists("/run/containerd", ec);
    std::ofstream(config()) << "version = 2\n"
                            << "root = \"" << dir_.path() << "/root\"\n"
                            << "state = \"" << state()
                            << "\"\n"
                            // No CRI: the test needs images, containers and tasks only.
                            << "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
                            << "[grpc]\n  address = \"" << socket() << "\"\n"
                            << "[ttrpc]\n  address = \"" << socket() << ".ttrpc\"\n"
                            << "[debug]\n  address = \"\"\n"
                            << "[metrics]\n  address = \"\"\n";
    process_ = std::make_unique<Process>(
        std::vector<std::string>{"containerd", "--config", config()}, &ns, log_path());
    ready_ = wait_until([&] { return fs::exists(socket()) && sh(ctr("version")) == 0; }, 15s);
  }

  ~Containerd() {
    for (const auto& id : containers_) {
      sh(ctr("task kill --signal SIGKILL " + id));
      wait_until([&] { return sh(ctr("task delete " + id)) == 0; }, 5s);
      sh(ctr("container delete " + id));
    }
    if (image_) sh(ctr("image remove --sync " + std::string(kImage)));
    // A shim or container process left behind (a task that would not delete): by pid.
    const fs::path tasks = state() + "/io.containerd.runtime.v2.task/" + namespace_;
    std::error_code ec;
    if (fs::exists(tasks, ec)) {
      for (const auto& bundle : fs::directory_iterator(tasks, ec)) {
        for (const char* file : {"init.pid", "shim.pid"}) {
          std::ifstream f(bundle.path() / file);
          pid_t pid = 0;
          if (f >> pid && pid > 1) ::kill(pid, SIGKILL);
        }
      }
    }
    if (process_) process_->stop(SIGTERM);
    // Removed only when this test made them and they are empty (each shim removes its socket).
    if (made_run_dir_) sh("rmdir /run/containerd/s /run/containerd");
    // runc removes a container's cgroups when its task is deleted; these are left only if not.
    for (const auto& id : containers_)
      sh("find /sys/fs/cgroup -depth -type d -name " + cgroup_name(id) + " -delete");
  }

  bool ready() const { return ready_; }
  std::string log() const { return process_ ? process_->log() : ""; }
  std::string socket() const { return dir_.path() + "/containerd.sock"; }
  std::string ctr(const std::string& args) const {
    return "ctr --address " + socket() + " --namespace " + namespace_ + " " + args;
  }
  // The cgroup of container `id` (one level under each hierarchy's root, unique to the test).
  std::string cgroup_name(const std::string& id) const { return namespace_ + "-" + id; }

  int import(const std::string& archive, std::string* out) {
    image_ = true;
    return sh(ctr("image import --snapshotter native " + archive), out);
  }
  // `ctr run` of the image as container `id` with `options` (a DaemonSet pod's: privileged, host
  // network), running `command`.
  std::string run(const std::string& id, const std::string& options, const std::string& command) {
    containers_.push_back(id);
    // runc's state and the stdio FIFOs under the test's directory too, not /run/containerd.
    return ctr("run --snapshotter native --runc-root " + dir_.path() + "/runc --fifo-dir " +
               dir_.path() + "/fifo --net-host --privileged --cgroup /" + cgroup_name(id) + " " +
               options + " " + kImage + " " + id + " " + command);
  }
  std::string task_status(const std::string& id) const {
    std::string out;
    sh(ctr("task list") + " | awk '$1 == \"" + id + "\" {print $3}'", &out);
    while (!out.empty() && out.back() == '\n')
      out.pop_back();
    return out;
  }

 private:
  std::string config() const { return dir_.path() + "/config.toml"; }
  std::string state() const { return dir_.path() + "/state"; }
  std::string log_path() const { return dir_.path() + "/containerd.log"; }

  TempDir dir_;
  std::string namespace_;
  std::unique_ptr<Process> process_;
  bool ready_ = false;
  bool image_ = false;
  bool made_run_dir_ = false;
  std::vector<std::string> containers_;
};

TEST(Image, TheAgentRunsFromTheImageInContainerd) {
  NETAGENT_REQUIRE_ROOT();
  for (const char* tool : {"buildah", "containerd", "ctr", "runc", "containerd-shim-runc-v2"}) {
    NETAGENT_REQUIRE(sh(std::string("command -v ") + tool) == 0,
                     std::string(tool) + " missing (scripts/install-deps.sh installs it)");
  }

  // The image, from this build.
  TempDir work("netagent-image");
  const std::string archive = work.path() + "/netagent.tar";
  std::string out;
  const std::string script = std::string(IMAGE_SCRIPT) + " --build-dir " + BUILD_DIR;
  ASSERT_EQ(sh(script + " --output " + archive, &out), 0) << out;
  ASSERT_TRUE(fs::exists(archive)) << out;
  EXPECT_NE(out.find("image: " + archive), std::string::npos) << out;
  EXPECT_NE(out.find("size " + std::to_string(fs::file_size(archive)) + " bytes"),
            std::string::npos)
      << out;
  // The contents: the two binaries, the interpreter and the libraries netagent links.
  for (const char* file : {"/usr/bin/netagent", "/usr/bin/netctl", "/lib64/ld-linux-x86-64.so.2",
                           "/libc.so.6", "/libstdc++.so.6", "/libbpf.so.1", "/libssl.so.3"}) {
    EXPECT_NE(out.find(file), std::string::npos) << file << " missing from the image:\n" << out;
  }

  // Reproducible: built again from the same binaries and commit, the same bytes.
  std::string again;
  ASSERT_EQ(sh(script + " --output " + work.path() + "/again.tar", &again), 0) << again;
  EXPECT_EQ(sh("cmp " + archive + " " + work.path() + "/again.tar"), 0) << out << again;

  // The node: one backend pod, a client on the LAN.
  Lan lan("img");
  auto node = lan.host("node", "10.25.11.11/24");
  auto client = lan.host("client", "10.25.11.50/24");
  Pod pod(*node, "web1", "10.1.0.5");
  Process server({NETAGENT_ECHO_BIN, "--name", "web1", "--tcp", "8080"}, &pod.ns());
  AgentNode agent({.tag = "agent-image"});
  agent.write_manifest("cluster.yaml", kManifests);

  Containerd containerd(node->ns());
  ASSERT_TRUE(containerd.ready()) << containerd.log();
  ASSERT_EQ(containerd.import(archive, &out), 0) << out;

  ASSERT_EQ(sh(containerd.ctr("image list --quiet"), &out), 0) << out;
  EXPECT_EQ(out, std::string(kImage) + "\n");
  // The DaemonSet runs that name, never pulled.
  std::ifstream daemonset(DAEMONSET);
  const std::string manifest(std::istreambuf_iterator<char>(daemonset), {});
  EXPECT_NE(manifest.find("image: " + std::string(kImage) + "\n        imagePullPolicy: Never"),
            std::string::npos)
      << manifest;

  // `netagent --version` from the image answers as the build's binary does.
  std::string want;
  ASSERT_EQ(sh(std::string(NETAGENT_BIN) + " --version", &want), 0) << want;
  ASSERT_EQ(sh(containerd.run("version", "--rm", "/usr/bin/netagent --version"), &out), 0) << out;
  EXPECT_EQ(out, want);

  // The agent from the image, mounted as the DaemonSet mounts it: the test's bpffs directory at
  // /sys/fs/bpf, its cgroup at /sys/fs/cgroup, and its directory (manifests, state, API socket,
  // log) at the same path.
  const std::string agent_log = agent.dir.path() + "/container.log";
  std::string mounts;
  for (const auto& [src, dst] :
       std::vector<std::pair<std::string, std::string>>{{agent.dir.path(), agent.dir.path()},
                                                        {agent.bpf.path(), "/sys/fs/bpf"},
                                                        {agent.cgroup.path(), "/sys/fs/cgroup"}}) {
    mounts += " --mount type=bind,src=" + src + ",dst=" + dst + ",options=rbind:rw";
  }
  std::string command = "/usr/bin/netagent --manifests " + agent.manifests() +
                        " --node-name node-a --bpf-root /sys/fs/bpf/netagent --state-dir " +
                        agent.state_dir() + " --api-socket " + agent.socket() +
                        " --cgroup /sys/fs/cgroup --devices eth0 --metrics-addr " + quoted("") +
                        " --log-level debug";
  ASSERT_EQ(sh(containerd.run("agent", "-d --log-uri file://" + agent_log + mounts, command), &out),
            0)
      << out;
  auto agent_output = [&] {
    std::ifstream f(agent_log);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };

  // It serves its API on the bind-mounted socket and programs the service with its backend.
  ASSERT_TRUE(agent.wait_api(
      "/v1/services",
      [](const nlohmann::json& j) {
        for (const auto& row : j["services"]) {
          if (row["service"] == "demo/web" && row["programmed"] == true &&
              row.dump().find("10.1.0.5") != std::string::npos) {
            return true;
          }
        }
        return false;
      },
      20s))
      << containerd.task_status("agent") << "\n"
      << agent_output();
  ASSERT_EQ(sh(std::string(NETCTL_BIN) + " --socket " + agent.socket() + " service list", &out), 0)
      << out;
  EXPECT_NE(out.find("demo/web"), std::string::npos) << out;
  EXPECT_NE(out.find("10.1.0.5:8080/TCP"), std::string::npos) << out;
  // Its pins are in the test's bpffs directory, seen from the host.
  EXPECT_TRUE(fs::exists(agent.bpf.path() + "/netagent")) << agent_output();

  // The data plane it programmed: the client reaches the backend through the node's NodePort.
  std::string answer;
  EXPECT_TRUE(wait_until(
      [&] {
        answer = run_in(client->ns(), "",
                        [] { return tcp_request("10.25.11.11", 30080, "hi", nullptr, 500); });
        return answer == "web1\n";
      },
      10s))
      << answer << "\n"
      << agent_output();

  // SIGTERM stops it as kubelet would.
  ASSERT_EQ(sh(containerd.ctr("task kill --signal SIGTERM agent"), &out), 0) << out;
  EXPECT_TRUE(wait_until([&] { return containerd.task_status("agent") == "STOPPED"; }, 15s))
      << containerd.task_status("agent") << "\n"
      << agent_output();
}

}  // namespace
}  // namespace netagent
