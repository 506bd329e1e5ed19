// Flags, config file and validation of netagent's settings.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "netagent/agent/exit_code.hpp"
#include "netagent/agent/flags.hpp"
#include "netagent/testing/netns.hpp"

namespace netagent::agent {
namespace {

ParsedArgs parse(std::vector<std::string> args) {
  args.insert(args.begin(), "netagent");
  std::vector<const char*> argv;
  for (const auto& a : args)
    argv.push_back(a.c_str());
  return parse_args(static_cast<int>(argv.size()), argv.data());
}

std::string hostname() {
  char buf[256] = {};
  gethostname(buf, sizeof(buf) - 1);
  return buf;
}

TEST(Flags, DefaultsMatchTheDocumentation) {
  auto p = parse({"--manifests", "/srv/manifests"});
  ASSERT_EQ(p.action, Action::Run) << p.message;
  const Config& c = p.config;
  EXPECT_EQ(c.manifests, "/srv/manifests");
  EXPECT_EQ(c.node_name, hostname());
  EXPECT_TRUE(c.devices.empty());
  EXPECT_EQ(c.cgroup, "");  // detected at start-up
  EXPECT_EQ(c.bpf_root, "/sys/fs/bpf/netagent");
  EXPECT_EQ(c.state_dir, "/var/lib/netagent");
  EXPECT_EQ(c.api_socket, "/var/run/netagent/api.sock");
  EXPECT_EQ(c.metrics_addr, "127.0.0.1:9962");
  EXPECT_EQ(c.metrics_host, "127.0.0.1");
  EXPECT_EQ(c.metrics_port, 9962);
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.maglev_table_size, 16381u);
  EXPECT_EQ(c.maglev_hash_seed, "JLfvgnHc2kaSUFaI");
  EXPECT_EQ(c.maglev_seed,
            (std::array<uint8_t, 12>{36, 183, 239, 130, 113, 220, 218, 70, 146, 80, 86, 136}));
  EXPECT_EQ(c.node_port_min, 30000);
  EXPECT_EQ(c.node_port_max, 32767);
  EXPECT_EQ(c.lb_map_max, 65536u);
  EXPECT_EQ(c.policy_enforcement, PolicyEnforcement::Default);
  EXPECT_FALSE(c.policy_audit_mode);
}

TEST(Flags, EverySettingCanBeGiven) {
  auto p = parse({"--manifests",
                  "/m",
                  "--node-name",
                  "infra-1",
                  "--devices",
                  "eth0,eth1",
                  "--devices",
                  "bond0",
                  "--cgroup",
                  "/sys/fs/cgroup/unified/node1",
                  "--bpf-root",
                  "/sys/fs/bpf/n1",
                  "--state-dir",
                  "/tmp/s",
                  "--api-socket",
                  "/tmp/s/api.sock",
                  "--metrics-addr",
                  "[::1]:9999",
                  "--log-level",
                  "debug",
                  "--lb-maglev-table-size",
                  "65521",
                  "--lb-maglev-hash-seed",
                  "AAECAwQFBgcICQoL",
                  "--node-port-range",
                  "20000-22767",
                  "--bpf-lb-map-max",
                  "1024",
                  "--policy-enforcement",
                  "always",
                  "--policy-audit-mode"});
  ASSERT_EQ(p.action, Action::Run) << p.message;
  const Config& c = p.config;
  EXPECT_EQ(c.node_name, "infra-1");
  EXPECT_EQ(c.devices, (std::vector<std::string>{"eth0", "eth1", "bond0"}));
  EXPECT_EQ(c.cgroup, "/sys/fs/cgroup/unified/node1");
  EXPECT_EQ(c.bpf_root, "/sys/fs/bpf/n1");
  EXPECT_EQ(c.metrics_host, "::1");
  EXPECT_EQ(c.metrics_port, 9999);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.maglev_table_size, 65521u);
  EXPECT_EQ(c.maglev_seed, (std::array<uint8_t, 12>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
  EXPECT_EQ(c.node_port_min, 20000);
  EXPECT_EQ(c.node_port_max, 22767);
  EXPECT_EQ(c.lb_map_max, 1024u);
  EXPECT_EQ(c.policy_enforcement, PolicyEnforcement::Always);
  EXPECT_TRUE(c.policy_audit_mode);
}

TEST(Flags, ASettingGivenTwiceTakesTheLastValue) {
  auto p = parse({"--manifests", "/a", "--manifests", "/b", "--devices", "x", "--devices", "y"});
  ASSERT_EQ(p.action, Action::Run) << p.message;
  EXPECT_EQ(p.config.manifests, "/b");
  EXPECT_EQ(p.config.devices, (std::vector<std::string>{"x", "y"}));
}

TEST(Flags, MetricsAddressForms) {
  struct Case {
    std::string addr;
    std::string host;
    uint16_t port;
  };
  for (const auto& c : {Case{"", "", 0}, Case{":9962", "0.0.0.0", 9962},
                        Case{"0.0.0.0:1", "0.0.0.0", 1}, Case{"[::]:9962", "::", 9962}}) {
    auto p = parse({"--manifests", "/m", "--metrics-addr", c.addr});
    ASSERT_EQ(p.action, Action::Run) << c.addr << ": " << p.message;
    EXPECT_EQ(p.config.metrics_host, c.host) << c.addr;
    EXPECT_EQ(p.config.metrics_port, c.port) << c.addr;
  }
}

TEST(Flags, EveryAllowedMaglevTableSizeIsAccepted) {
  for (uint32_t m : kMaglevTableSizes) {
    auto p = parse({"--manifests", "/m", "--lb-maglev-table-size", std::to_string(m)});
    EXPECT_EQ(p.action, Action::Run) << m << ": " << p.message;
  }
}

TEST(Flags, BadValuesAreRejectedWithTheSettingNamed) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const Case cases[] = {
      {{"--bogus"}, "The following argument was not expected: --bogus"},
      {{}, "no desired-state source: give --manifests DIR"},
      {{"--kubeconfig", "/k", "--k8s-in-cluster"}, "--kubeconfig and --k8s-in-cluster"},
      {{"--lb-maglev-table-size", "1000"},
       "bad value for lb-maglev-table-size: '1000' is not an allowed Maglev table size (a prime, "
       "one of 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071)"},
      {{"--lb-maglev-table-size", "16382"}, "not an allowed Maglev table size"},
      {{"--lb-maglev-table-size", "lots"}, "--lb-maglev-table-size"},
      {{"--lb-maglev-hash-seed", "short"},
       "bad value for lb-maglev-hash-seed: 'short' must be 12 bytes in base64 (16 characters), "
       "the same on every node"},
      {{"--lb-maglev-hash-seed", "AAECAwQFBgcICQoLDA=="}, "must be 12 bytes in base64"},
      {{"--lb-maglev-hash-seed", "!!!!!!!!!!!!!!!!"}, "must be 12 bytes in base64"},
      {{"--node-port-range", "32767-30000"},
       "bad value for node-port-range: '32767-30000' must satisfy 1 <= MIN <= MAX <= 65535"},
      {{"--node-port-range", "0-100"}, "must satisfy 1 <= MIN <= MAX <= 65535"},
      {{"--node-port-range", "30000-70000"}, "must satisfy 1 <= MIN <= MAX <= 65535"},
      {{"--node-port-range", "30000"}, "is not MIN-MAX (e.g. 30000-32767)"},
      {{"--node-port-range", "a-b"}, "is not MIN-MAX"},
      {{"--bpf-lb-map-max", "8"}, "bad value for bpf-lb-map-max: '8' must be 16..65536"},
      {{"--bpf-lb-map-max", "70000"}, "bad value for bpf-lb-map-max: '70000' must be 16..65536"},
      {{"--metrics-addr", "localhost:9962"},
       "bad value for metrics-addr: 'localhost:9962' needs an IP address as HOST"},
      {{"--metrics-addr", "127.0.0.1:70000"}, "has a port that is not 0..65535"},
      {{"--metrics-addr", "127.0.0.1"}, "is not HOST:PORT"},
      {{"--metrics-addr", "::1:9962"}, "is not HOST:PORT"},
      {{"--policy-enforcement", "sometimes"},
       "bad value for policy-enforcement: 'sometimes' is not one of default, always, never"},
      {{"--log-level", "verbose"}, "bad value for log-level: 'verbose'"},
      {{"--devices", "eth0/1"}, "bad value for devices: 'eth0/1' is not a network interface name"},
      {{"--devices", "averyveryverylongname"}, "is not a network interface name"},
      {{"--bpf-root", "relative/dir"},
       "bad value for bpf-root: 'relative/dir' must be an absolute path"},
      {{"--api-socket", "api.sock"}, "bad value for api-socket"},
      {{"--cgroup", "cg"}, "bad value for cgroup"},
      {{"--config", "/nonexistent/netagent.yaml"}, "/nonexistent/netagent.yaml"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = c.args;
    if (c.message.find("no desired-state source") == std::string::npos) {
      args.insert(args.begin(), {"--manifests", "/m"});
    }
    auto p = parse(args);
    SCOPED_TRACE(::testing::PrintToString(c.args));
    EXPECT_EQ(p.action, Action::Exit);
    EXPECT_EQ(p.exit_code, kExitBadConfig);
    EXPECT_NE(p.message.find(c.message), std::string::npos) << p.message;
  }
}

TEST(Flags, HelpAndVersionExitZero) {
  auto h = parse({"--help"});
  EXPECT_EQ(h.action, Action::Exit);
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.message.find("--manifests DIR"), std::string::npos);
  EXPECT_NE(h.message.find("--lb-maglev-table-size"), std::string::npos);
  auto v = parse({"--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_EQ(v.message, "netagent 0.1.0\n");
}

TEST(Flags, CleanupNeedsNoManifests) {
  auto p = parse({"--cleanup", "--bpf-root", "/sys/fs/bpf/x"});
  ASSERT_EQ(p.action, Action::Cleanup) << p.message;
  EXPECT_EQ(p.config.bpf_root, "/sys/fs/bpf/x");
}

class ConfigFile : public ::testing::Test {
 protected:
  std::string write(const std::string& yaml) {
    std::string path = dir.path() + "/netagent-" + std::to_string(n++) + ".yaml";
    std::ofstream(path) << yaml;
    return path;
  }
  netagent::testing::TempDir dir{"daemon-config"};
  int n = 0;
};

TEST_F(ConfigFile, CarriesTheSameSettingsAsTheFlags) {
  auto path = write(R"(# netagent settings
manifests: /etc/netagent/manifests
node-name: apps-1
devices: [eth0, eth1]
cgroup: /sys/fs/cgroup/unified
bpf-root: /sys/fs/bpf/apps
state-dir: /var/lib/netagent-apps
api-socket: /run/netagent/apps.sock
metrics-addr: "0.0.0.0:9963"
log-level: warn
lb-maglev-table-size: 4093
lb-maglev-hash-seed: AAECAwQFBgcICQoL
node-port-range: 31000-31999
policy-enforcement: never
policy-audit-mode: true
)");
  auto p = parse({"--config", path});
  ASSERT_EQ(p.action, Action::Run) << p.message;
  const Config& c = p.config;
  EXPECT_EQ(c.config_file, path);
  EXPECT_EQ(c.manifests, "/etc/netagent/manifests");
  EXPECT_EQ(c.node_name, "apps-1");
  EXPECT_EQ(c.devices, (std::vector<std::string>{"eth0", "eth1"}));
  EXPECT_EQ(c.cgroup, "/sys/fs/cgroup/unified");
  EXPECT_EQ(c.bpf_root, "/sys/fs/bpf/apps");
  EXPECT_EQ(c.state_dir, "/var/lib/netagent-apps");
  EXPECT_EQ(c.api_socket, "/run/netagent/apps.sock");
  EXPECT_EQ(c.metrics_port, 9963);
  EXPECT_EQ(c.log_level, "warn");
  EXPECT_EQ(c.maglev_table_size, 4093u);
  EXPECT_EQ(c.maglev_seed[11], 11);
  EXPECT_EQ(c.node_port_min, 31000);
  EXPECT_EQ(c.policy_enforcement, PolicyEnforcement::Never);
  EXPECT_TRUE(c.policy_audit_mode);
}

TEST_F(ConfigFile, FlagsWinOverTheFile) {
  auto path = write(
      "manifests: /from/file\nnode-name: file-node\ndevices: eth0,eth1\n"
      "lb-maglev-table-size: 4093\n");
  auto p = parse({"--config", path, "--node-name", "flag-node", "--lb-maglev-table-size", "251"});
  ASSERT_EQ(p.action, Action::Run) << p.message;
  EXPECT_EQ(p.config.manifests, "/from/file");
  EXPECT_EQ(p.config.node_name, "flag-node");
  EXPECT_EQ(p.config.devices, (std::vector<std::string>{"eth0", "eth1"}));
  EXPECT_EQ(p.config.maglev_table_size, 251u);
}

TEST_F(ConfigFile, ValuesFromTheFileAreValidatedToo) {
  auto path = write("manifests: /m\nlb-maglev-table-size: 1000\n");
  auto p = parse({"--config", path});
  EXPECT_EQ(p.exit_code, kExitBadConfig);
  EXPECT_NE(p.message.find("bad value for lb-maglev-table-size: '1000'"), std::string::npos)
      << p.message;
}

TEST_F(ConfigFile, MistakesNameTheFileAndLine) {
  struct Case {
    std::string yaml;
    std::string message;
  };
  const Case cases[] = {
      {"manifests: /m\n\ndevicess: [eth0]\n",
       " line 3: unknown setting 'devicess' (settings are "
       "the flag names without dashes: "},
      {"manifests: /m\ncleanup: true\n", "unknown setting 'cleanup'"},
      {"manifests: /m\nconfig: /other.yaml\n", "unknown setting 'config'"},
      {"manifests: [/m\n", ": not valid YAML at line"},
      {"- manifests\n", "must be a YAML mapping of settings"},
      {"manifests: {dir: /m}\n", " line 1: manifests must be a value or a list of values"},
      {"devices: [[eth0]]\n", "devices must be a list of plain values"},
  };
  for (const auto& c : cases) {
    auto path = write(c.yaml);
    auto p = parse({"--config", path});
    SCOPED_TRACE(c.yaml);
    EXPECT_EQ(p.exit_code, kExitBadConfig);
    EXPECT_NE(p.message.find("config file " + path), std::string::npos) << p.message;
    EXPECT_NE(p.message.find(c.message), std::string::npos) << p.message;
  }
}

TEST_F(ConfigFile, EmptyFileKeepsDefaults) {
  auto path = write("# nothing yet\n");
  auto p = parse({"--config", path, "--manifests", "/m"});
  ASSERT_EQ(p.action, Action::Run) << p.message;
  EXPECT_EQ(p.config.maglev_table_size, 16381u);
}

}  // namespace
}  // namespace netagent::agent
