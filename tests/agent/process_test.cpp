// The netagent executable: start-up failures with their exit codes and messages, serving the
// API and metrics, clean shutdown on SIGTERM that leaves pinned state, restart over a stale
// socket, and --cleanup. Each agent runs in its own network namespace with its own bpffs dir.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent_process.hpp"
#include "netagent/agent/exit_code.hpp"
#include "netagent/netctl/client.hpp"
#include "netagent/testing/privileged.hpp"

namespace netagent::agent {
namespace {

using namespace std::chrono_literals;
using netagent::testing::exit_code_of;
using test::LoneAgent;
namespace fs = std::filesystem;

class NetagentProcess : public ::testing::Test {
 protected:
  void SetUp() override { NETAGENT_REQUIRE_ROOT(); }

  // Runs netagent expecting it to fail at start-up.
  int fails(const std::vector<std::string>& extra, std::string* out,
            const std::string& prefix = "") {
    return node->run(node->args(extra), out, prefix);
  }

  // Pins a BPF map under the agent's bpf-root, as a datapath part would.
  std::string pin_map(const std::string& name) {
    fs::create_directories(node->bpf_root());
    std::string path = node->bpf_root() + "/" + name;
    netagent::testing::sh_ok("bpftool map create " + path +
                             " type array key 4 value 4 entries 1 name " + name);
    return path;
  }

  std::unique_ptr<LoneAgent> node = std::make_unique<LoneAgent>();
};

TEST_F(NetagentProcess, ServesUntilSigtermThenExitsZeroLeavingPinsInPlace) {
  auto agent = node->start();
  ASSERT_TRUE(node->wait_ready()) << agent->log();

  auto st = netctl::Client(node->socket()).get("/v1/status");
  ASSERT_TRUE(st.ok()) << st.error().str();
  EXPECT_EQ((*st)["node"]["name"], "node-1");
  EXPECT_EQ((*st)["config"]["bpf_root"], node->bpf_root());
  EXPECT_EQ((*st)["config"]["cgroup"], node->cgroup.path());
  EXPECT_EQ((*st)["pid"], agent->pid());

  // Prometheus on the default address, inside this node's namespace.
  std::string metrics;
  ASSERT_EQ(node->ns.sh("curl -sf http://127.0.0.1:9962/metrics", &metrics), 0) << metrics;
  EXPECT_NE(metrics.find("netagent_build_info{version=\"0.1.0\""), std::string::npos);
  EXPECT_NE(metrics.find("# TYPE netagent_process_start_time_seconds gauge"), std::string::npos);

  // The bpffs root and directories were created; what is pinned stays after shutdown.
  EXPECT_TRUE(fs::is_directory(node->bpf_root()));
  EXPECT_TRUE(fs::is_directory(node->state_dir()));
  const std::string pin = pin_map("na_test_map");

  int status = agent->stop(SIGTERM, 5s);
  EXPECT_EQ(exit_code_of(status), kExitOk) << agent->log();
  EXPECT_TRUE(fs::exists(pin));
  EXPECT_FALSE(fs::exists(node->socket()));
  EXPECT_NE(
      agent->log().find("pinned BPF maps and programs stay in place under " + node->bpf_root()),
      std::string::npos)
      << agent->log();
}

TEST_F(NetagentProcess, ServesTheManifestsAndKeepsTheLastGoodStateOnBadInput) {
  node->write_manifest("cluster.yaml", test::kNodeAndService);
  auto agent = node->start();
  ASSERT_TRUE(node->wait_ready()) << agent->log();
  netctl::Client c(node->socket());
  auto st = c.get("/v1/status");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ((*st)["source"]["state"], "ok");
  EXPECT_EQ((*st)["source"]["description"], "manifests " + node->manifests());
  EXPECT_EQ((*st)["snapshot"]["services"], 1);
  EXPECT_EQ((*st)["node"]["found"], true);
  EXPECT_EQ((*st)["node"]["addresses"][0]["address"], "10.25.11.11");

  // A broken file: the agent keeps running with the last good state and says what is wrong.
  node->write_manifest("broken.yaml", "kind: [\n");
  ASSERT_TRUE(netagent::testing::wait_until(
      [&] {
        auto s = c.get("/v1/status");
        return s.ok() && (*s)["source"]["loads_failed"].get<int>() >= 1;
      },
      5s));
  st = c.get("/v1/status");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ((*st)["source"]["state"], "error (serving the last good snapshot)");
  ASSERT_EQ((*st)["source"]["last_errors"].size(), 1u);
  EXPECT_NE(
      (*st)["source"]["last_errors"][0].get<std::string>().find(node->manifests() + "/broken.yaml"),
      std::string::npos);
  EXPECT_EQ((*st)["snapshot"]["services"], 1);
  EXPECT_TRUE(agent->alive());

  // Fixed: the next load is applied (inotify, within a second or so).
  fs::remove(node->manifests() + "/broken.yaml");
  ASSERT_TRUE(netagent::testing::wait_until(
      [&] {
        auto s = c.get("/v1/status");
        return s.ok() && (*s)["source"]["state"] == "ok";
      },
      5s));
  EXPECT_EQ(exit_code_of(agent->stop(SIGTERM, 5s)), kExitOk) << agent->log();
}

TEST_F(NetagentProcess, SigintAlsoExitsZero) {
  auto agent = node->start({"--metrics-addr", ""});
  ASSERT_TRUE(node->wait_ready()) << agent->log();
  EXPECT_EQ(exit_code_of(agent->stop(SIGINT, 5s)), kExitOk) << agent->log();
}

TEST_F(NetagentProcess, SighupDoesNotStopTheAgent) {
  auto agent = node->start();
  ASSERT_TRUE(node->wait_ready()) << agent->log();
  agent->signal(SIGHUP);
  ASSERT_TRUE(netagent::testing::wait_until(
      [&] { return agent->log().find("SIGHUP: reloading the desired state") != std::string::npos; },
      5s));
  EXPECT_TRUE(agent->alive());
  EXPECT_TRUE(node->wait_ready(2s));
}

TEST_F(NetagentProcess, MissingDevice) {
  std::string out;
  EXPECT_EQ(fails({"--devices", "eth9"}, &out), kExitNoDevice) << out;
  EXPECT_NE(out.find("device eth9 not found in this network namespace"), std::string::npos) << out;
}

// The connection caps plus the descriptor reserve must fit under RLIMIT_NOFILE (raised to the
// hard limit first); otherwise the agent refuses to start and says what to change.
TEST_F(NetagentProcess, RefusesADescriptorLimitBelowTheCapsAndReserve) {
  std::string out;
  EXPECT_EQ(fails({}, &out, "prlimit --nofile=256:512 -- "), kExitHostSetup) << out;
  EXPECT_NE(out.find("the file descriptor limit (ulimit -n, hard 512) is 512, below the 704 the "
                     "agent needs: --api-max-connections 128 + --metrics-max-connections 64 + a "
                     "reserve of 512"),
            std::string::npos)
      << out;
  // A soft limit of 256 under a hard one of 1024 is raised to 1024, which fits.
  auto args = node->args();
  args.insert(args.begin(), {"prlimit", "--nofile=256:1024", "--"});
  netagent::testing::Process agent(args, &node->ns, node->log_path());
  ASSERT_TRUE(node->wait_ready()) << agent.log();
  auto st = netctl::Client(node->socket()).get("/v1/status");
  ASSERT_TRUE(st.ok()) << st.error().str();
  EXPECT_EQ((*st)["limits"]["fd_limit"], 1024) << (*st)["limits"].dump();
  EXPECT_NE(agent.log().find("file descriptors: limit 1024 (was 256)"), std::string::npos);
  agent.stop(SIGTERM);
}

TEST_F(NetagentProcess, ExistingDevicesAreAccepted) {
  netagent::testing::make_veth("ext0", &node->ns, "ext0p", &node->ns);
  auto agent = node->start({"--devices", "ext0,lo"});
  ASSERT_TRUE(node->wait_ready()) << agent->log();
  auto st = netctl::Client(node->socket()).get("/v1/status");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ((*st)["config"]["devices"], nlohmann::json::array({"ext0", "lo"}));
}

TEST_F(NetagentProcess, BadFlagsAndValues) {
  std::string out;
  EXPECT_EQ(fails({"--bogus"}, &out), kExitBadConfig);
  EXPECT_NE(out.find("netagent: The following argument was not expected: --bogus"),
            std::string::npos)
      << out;
  EXPECT_EQ(fails({"--lb-maglev-table-size", "1000"}, &out), kExitBadConfig);
  EXPECT_NE(out.find("bad value for lb-maglev-table-size: '1000'"), std::string::npos) << out;
  EXPECT_EQ(fails({"--cgroup", "/tmp"}, &out), kExitBadConfig);
  EXPECT_NE(out.find("--cgroup /tmp is not a cgroup v2 directory (cgroup v2 is mounted at "),
            std::string::npos)
      << out;
}

TEST_F(NetagentProcess, NotRoot) {
  std::string out;
  EXPECT_EQ(fails({}, &out, "setpriv --reuid=65534 --regid=65534 --clear-groups"), kExitNoPrivilege)
      << out;
  EXPECT_NE(out.find("netagent needs CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN but lacks "
                     "CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN (running as uid 65534)"),
            std::string::npos)
      << out;
}

TEST_F(NetagentProcess, RootWithoutCapBpf) {
  std::string out;
  EXPECT_EQ(fails({}, &out, "setpriv --bounding-set=-bpf --inh-caps=-bpf"), kExitNoPrivilege)
      << out;
  EXPECT_NE(out.find("but lacks CAP_BPF (running as uid 0)"), std::string::npos) << out;
}

TEST_F(NetagentProcess, MissingManifestsDirectory) {
  std::string out;
  auto args = node->args();
  args[2] = node->dir.path() + "/nowhere";
  EXPECT_EQ(node->run(args, &out), kExitNoManifests) << out;
  EXPECT_NE(out.find("manifests directory " + node->dir.path() +
                     "/nowhere: No such file or directory; check --manifests"),
            std::string::npos)
      << out;
}

TEST_F(NetagentProcess, BpfRootMustBeOnBpffs) {
  std::string out;
  EXPECT_EQ(fails({"--bpf-root", node->dir.path() + "/not-bpffs"}, &out), kExitHostSetup) << out;
  EXPECT_NE(out.find("is not on a bpffs; choose a path under /sys/fs/bpf"), std::string::npos)
      << out;
}

TEST_F(NetagentProcess, ASecondAgentOnALiveSocketRefuses) {
  auto first = node->start();
  ASSERT_TRUE(node->wait_ready()) << first->log();
  std::string out;
  EXPECT_EQ(fails({"--metrics-addr", ""}, &out), kExitAlreadyRunning) << out;
  EXPECT_NE(out.find("API socket " + node->socket() + " is in use by a running netagent"),
            std::string::npos)
      << out;
  EXPECT_TRUE(node->wait_ready(2s));  // the first one is unaffected
}

TEST_F(NetagentProcess, RestartsOverTheStaleSocketOfAKilledAgent) {
  auto first = node->start();
  ASSERT_TRUE(node->wait_ready()) << first->log();
  first->stop(SIGKILL);
  ASSERT_TRUE(fs::exists(node->socket()));  // left behind
  auto second = node->start();
  ASSERT_TRUE(node->wait_ready()) << second->log();
  auto st = netctl::Client(node->socket()).get("/v1/status");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ((*st)["pid"], second->pid());
}

TEST_F(NetagentProcess, ReadsItsSettingsFromAConfigFile) {
  const std::string cfg = node->dir.path() + "/netagent.yaml";
  std::ofstream(cfg) << "manifests: " << node->manifests() << "\nnode-name: from-file\n"
                     << "bpf-root: " << node->bpf_root() << "\nstate-dir: " << node->state_dir()
                     << "\napi-socket: " << node->socket() << "\nmetrics-addr: ''\n"
                     << "cgroup: " << node->cgroup.path() << "\n";
  auto agent = std::make_unique<netagent::testing::Process>(
      std::vector<std::string>{NETAGENT_BIN, "--config", cfg, "--log-level", "warn"}, &node->ns,
      node->log_path());
  ASSERT_TRUE(node->wait_ready()) << agent->log();
  auto st = netctl::Client(node->socket()).get("/v1/status");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ((*st)["node"]["name"], "from-file");
  EXPECT_EQ((*st)["config"]["config_file"], cfg);
  EXPECT_EQ((*st)["config"]["metrics_addr"], "");
}

TEST_F(NetagentProcess, CleanupRemovesPinsButNotWhileTheAgentRuns) {
  auto agent = node->start();
  ASSERT_TRUE(node->wait_ready()) << agent->log();
  const std::string pin = pin_map("na_cleanup_map");
  const std::vector<std::string> cleanup = {NETAGENT_BIN,     "--cleanup",    "--bpf-root",
                                            node->bpf_root(), "--api-socket", node->socket()};
  std::string out;
  EXPECT_EQ(node->run(cleanup, &out), kExitAlreadyRunning) << out;
  EXPECT_NE(out.find("refusing to clean up while netagent runs"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(pin));

  ASSERT_EQ(exit_code_of(agent->stop(SIGTERM, 5s)), kExitOk);
  EXPECT_TRUE(fs::exists(pin));
  ASSERT_TRUE(fs::exists(node->bpf_root() + "/lb4_services"));
  EXPECT_EQ(node->run(cleanup, &out), kExitOk) << out;
  // The agent's own pins go; a pin it did not make stays, and the log names it.
  EXPECT_FALSE(fs::exists(node->bpf_root() + "/lb4_services"));
  EXPECT_FALSE(fs::exists(node->bpf_root() + "/links"));
  EXPECT_TRUE(fs::exists(pin));
  EXPECT_NE(out.find("that netagent did not pin: na_cleanup_map"), std::string::npos) << out;
  fs::remove(pin);
  EXPECT_EQ(node->run(cleanup, &out), kExitOk) << out;
  EXPECT_FALSE(fs::exists(node->bpf_root()));  // empty: removed
}

TEST_F(NetagentProcess, OneAgentPerBpfRootAndTheLockSurvivesKill9) {
  auto first = node->start();
  ASSERT_TRUE(node->wait_ready()) << first->log();
  auto st = netctl::Client(node->socket()).get("/v1/status");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ((*st)["bpf_root_lock"]["held"], true) << st->dump();
  // Another socket and state dir, the same bpf-root: refused, naming the holder.
  std::string out;
  const std::string other_socket = node->dir.path() + "/other.sock";
  EXPECT_EQ(fails({"--api-socket", other_socket, "--state-dir", node->dir.path() + "/other-state",
                   "--metrics-addr", ""},
                  &out),
            kExitAlreadyRunning)
      << out;
  EXPECT_NE(out.find("--bpf-root " + node->bpf_root() + " is locked by another netagent (pid " +
                     std::to_string(first->pid()) + ", --api-socket " + node->socket()),
            std::string::npos)
      << out;
  EXPECT_TRUE(node->wait_ready(2s));
  // kill -9 releases the lock with the process: a new agent takes it.
  first->stop(SIGKILL);
  auto second = node->start();
  ASSERT_TRUE(node->wait_ready()) << second->log();
  EXPECT_NE(second->log().find("holding the exclusive lock on --bpf-root"), std::string::npos);
}

}  // namespace
}  // namespace netagent::agent
