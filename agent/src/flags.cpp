#include "netagent/agent/flags.hpp"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <set>
#include <sstream>

#include "netagent/agent/exit_code.hpp"

namespace netagent::agent {

namespace {

// CLI11 reads TOML/INI config files; this teaches it YAML. Keys are the long flag names; values
// are scalars or lists of scalars. Errors name the file, line and key.
class YamlConfig : public CLI::Config {
 public:
  YamlConfig(std::set<std::string> keys, const CLI::Option* file_option)
      : keys_(std::move(keys)), file_option_(file_option) {}

  std::string to_config(const CLI::App*, bool, bool, std::string) const override { return ""; }

  std::vector<CLI::ConfigItem> from_config(std::istream& in) const override {
    const std::string file = file_option_->as<std::string>();
    YAML::Node root;
    try {
      root = YAML::Load(in);
    } catch (const YAML::Exception& e) {
      throw CLI::ConfigError("config file " + file + ": not valid YAML at line " +
                             std::to_string(e.mark.line + 1) + ": " + e.msg);
    }
    std::vector<CLI::ConfigItem> items;
    if (root.IsNull()) return items;
    if (!root.IsMap()) {
      throw CLI::ConfigError("config file " + file +
                             ": must be a YAML mapping of settings (e.g. 'manifests: /dir')");
    }
    for (const auto& kv : root) {
      const std::string key = kv.first.as<std::string>();
      const std::string where =
          "config file " + file + " line " + std::to_string(kv.first.Mark().line + 1);
      if (!keys_.count(key)) {
        std::string known;
        for (const auto& k : keys_)
          known += (known.empty() ? "" : ", ") + k;
        throw CLI::ConfigError(where + ": unknown setting '" + key +
                               "' (settings are the flag names without dashes: " + known + ")");
      }
      CLI::ConfigItem item;
      item.name = key;
      const YAML::Node& v = kv.second;
      if (v.IsScalar()) {
        item.inputs.push_back(v.Scalar());
      } else if (v.IsSequence()) {
        for (const auto& e : v) {
          if (!e.IsScalar()) {
            throw CLI::ConfigError(where + ": " + key + " must be a list of plain values");
          }
          item.inputs.push_back(e.Scalar());
        }
      } else if (v.IsNull()) {
        continue;  // "key:" with no value keeps the default
      } else {
        throw CLI::ConfigError(where + ": " + key + " must be a value or a list of values");
      }
      items.push_back(std::move(item));
    }
    return items;
  }

 private:
  std::set<std::string> keys_;
  const CLI::Option* file_option_;
};

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "";
  return buf;
}

ParsedArgs fail(std::string message) {
  ParsedArgs out;
  out.action = Action::Exit;
  out.exit_code = kExitBadConfig;
  out.message = std::move(message);
  return out;
}

}  // namespace

ParsedArgs parse_args(int argc, const char* const* argv) {
  Config c;
  std::string node_port_range = "30000-32767";
  std::string policy_enforcement = "default";
  bool cleanup = false;

  CLI::App app{
      "netagent: eBPF service load balancing, network policy, LB IPAM, BGP and ClusterMesh for "
      "a Kubernetes node"};
  app.name("netagent");
  app.set_version_flag("--version", std::string("netagent ") + NETAGENT_VERSION);
  app.get_formatter()->column_width(34);
  app.footer(
      "One-shot offline command (what `netctl policy trace --manifests` and `netctl policy "
      "matrix` run):\n  netagent policy trace|matrix --manifests DIR ...   "
      "(netagent policy --help)");

  auto* config_opt = app.set_config("--config", "",
                                    "YAML file with the same settings as the "
                                    "flags (keys without dashes); flags win");
  config_opt->type_name("FILE");
  app.add_option("--manifests", c.manifests,
                 "Directory of Kubernetes manifests (multi-document YAML, kustomizations) to "
                 "serve; with the API source too, for what Git holds")
      ->type_name("DIR");
  app.add_flag("--k8s-in-cluster", c.k8s_in_cluster,
               "Read the Kubernetes API with the pod's service account (KUBERNETES_SERVICE_HOST/"
               "PORT, token and CA under /var/run/secrets/kubernetes.io/serviceaccount)");
  app.add_option("--kubeconfig", c.kubeconfig,
                 "Read the Kubernetes API with this kubeconfig (outside a cluster)")
      ->type_name("FILE");
  app.add_option("--k8s-api-server", c.k8s_api_server,
                 "The API server's address (URL, HOST:PORT or HOST for https on 6443), replacing "
                 "the in-cluster or kubeconfig one: a kube-proxy-free node cannot reach the "
                 "kubernetes ClusterIP before the agent programs it")
      ->type_name("URL");
  app.add_option("--k8s-secrets-namespace", c.k8s_secrets_namespace,
                 "The only namespace whose Secrets the API source reads (ClusterMesh, BGP "
                 "peer authentication)")
      ->type_name("NS")
      ->capture_default_str();
  app.add_option("--k8s-lease-duration", c.k8s_lease_duration,
                 "Seconds the Lease of the agent that writes LB IPAM status back lasts (renewed "
                 "every 2/15 of it, given up after 2/3 without renewal)")
      ->type_name("SECONDS")
      ->check(CLI::Range(3, 3600))
      ->capture_default_str();
  app.add_option("--node-name", c.node_name,
                 "This node's name, matched against a Node manifest (default: host name)")
      ->type_name("NAME");
  auto* devices_opt =
      app.add_option("--devices", c.devices,
                     "External devices that NodePort/LoadBalancer traffic arrives on")
          ->delimiter(',')
          ->type_name("IFACE[,IFACE]");
  app.add_option("--cgroup", c.cgroup,
                 "cgroup v2 directory where socket-level LB attaches (default: the cgroup v2 "
                 "mount root, detected)")
      ->type_name("PATH");
  app.add_option("--bpf-root", c.bpf_root, "bpffs directory for pinned maps and programs")
      ->type_name("PATH")
      ->capture_default_str();
  app.add_option("--state-dir", c.state_dir, "Directory for state kept across restarts")
      ->type_name("DIR")
      ->capture_default_str();
  app.add_option("--api-socket", c.api_socket, "Unix socket of the agent API (netctl)")
      ->type_name("PATH")
      ->capture_default_str();
  app.add_option("--metrics-addr", c.metrics_addr,
                 "Prometheus /metrics listen address; empty disables")
      ->type_name("HOST:PORT")
      ->capture_default_str();
  app.add_option("--log-level", c.log_level, "trace, debug, info, warn, error, critical or off")
      ->type_name("LEVEL")
      ->capture_default_str();
  app.add_option("--lb-maglev-table-size", c.maglev_table_size,
                 "Maglev lookup table size per service (a prime: 251 ... 131071)")
      ->type_name("M")
      ->capture_default_str();
  app.add_option("--lb-maglev-hash-seed", c.maglev_hash_seed,
                 "Maglev hash seed, 12 bytes base64; must be the same on every node")
      ->type_name("BASE64")
      ->capture_default_str();
  app.add_option("--bpf-lb-map-max", c.lb_map_max,
                 "Size of the LB maps: N frontends (rev-NAT entries and Maglev tables), 2N "
                 "backends, 4N service-map entries (frontends plus their backend slots)")
      ->type_name("N")
      ->capture_default_str();
  app.add_option("--node-port-range", node_port_range, "NodePort range")
      ->type_name("MIN-MAX")
      ->capture_default_str();
  app.add_option("--policy-enforcement", policy_enforcement,
                 "default (only selected endpoints are isolated), always or never")
      ->type_name("MODE")
      ->capture_default_str();
  app.add_flag("--policy-audit-mode", c.policy_audit_mode,
               "Report policy denials as audit verdicts instead of dropping");
  app.add_option("--datapath-verify-interval", c.datapath_verify_interval,
                 "Seconds between drift checks of the datapath (maps and program attachments "
                 "compared with what the agent programmed, differences repaired); 0 turns the "
                 "periodic check off (POST /v1/resync still runs one)")
      ->type_name("SECONDS")
      ->capture_default_str();
  app.add_option("--clustermesh-etcd-config", c.clustermesh_etcd_config,
                 "This cluster's ClusterMesh etcd, where the agent publishes (Cilium's etcd "
                 "config YAML: endpoints, trusted-ca-file, cert-file, key-file); default: the "
                 "cilium-clustermesh Secret's entry named after this cluster")
      ->type_name("FILE");
  app.add_option("--clustermesh-lease-ttl", c.clustermesh_lease_ttl,
                 "Lease TTL of the published ClusterMesh entries, in seconds")
      ->type_name("SECONDS")
      ->capture_default_str();
  app.add_option("--api-max-connections", c.api_max_connections,
                 "Connections the API socket serves at once; more are closed at once")
      ->type_name("N")
      ->capture_default_str();
  app.add_option("--metrics-max-connections", c.metrics_max_connections,
                 "Connections the /metrics listener serves at once; more are closed at once")
      ->type_name("N")
      ->capture_default_str();
  app.add_option("--http-idle-timeout", c.http_idle_timeout,
                 "Close an API or metrics connection with no request for this long")
      ->type_name("SECONDS")
      ->capture_default_str();
  app.add_option("--http-request-timeout", c.http_request_timeout,
                 "Close an API or metrics connection whose request (header and body) or reply "
                 "takes longer than this")
      ->type_name("SECONDS")
      ->capture_default_str();
  app.add_option("--bgp-max-prefixes", c.bgp_max_prefixes,
                 "Prefixes a BGP peer may send per address family; more ends the session with "
                 "Cease / Maximum Number of Prefixes Reached (0: no limit)")
      ->type_name("N")
      ->capture_default_str();
  app.add_option("--bgp-max-prefixes-warning", c.bgp_max_prefixes_warning,
                 "Warn when a peer's prefixes reach this percentage of --bgp-max-prefixes")
      ->type_name("PERCENT")
      ->capture_default_str();
  app.add_option("--bgp-max-prefixes-restart", c.bgp_max_prefixes_restart,
                 "After a peer went over --bgp-max-prefixes, wait this long before the session "
                 "may start again")
      ->type_name("SECONDS")
      ->capture_default_str();
  app.add_flag("--cleanup", cleanup,
               "Remove everything the agent pinned and attached, then exit (the agent must be "
               "stopped)")
      ->configurable(false);

  // A setting given twice takes the last value (so scripts can append overrides); --devices
  // accumulates.
  for (CLI::Option* o : app.get_options()) {
    if (o != devices_opt) o->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }

  std::set<std::string> keys;
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_configurable() && !o->get_lnames().empty() && o != config_opt &&
        o->get_lnames()[0] != "help") {
      keys.insert(o->get_lnames()[0]);
    }
  }
  app.config_formatter(std::make_shared<YamlConfig>(keys, config_opt));

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    return ParsedArgs{Action::Exit, {}, 0, app.help()};
  } catch (const CLI::CallForAllHelp&) {
    return ParsedArgs{Action::Exit, {}, 0, app.help("", CLI::AppFormatMode::All)};
  } catch (const CLI::CallForVersion& e) {
    return ParsedArgs{Action::Exit, {}, 0, std::string(e.what()) + "\n"};
  } catch (const CLI::ParseError& e) {
    return fail(std::string(e.what()) + "\nRun with --help for the flags.");
  }

  c.config_file = config_opt->count() ? config_opt->as<std::string>() : "";
  if (c.node_name.empty()) c.node_name = host_name();
  auto range = parse_port_range(node_port_range);
  if (!range) return fail(range.error().message);
  c.node_port_min = range->first;
  c.node_port_max = range->second;
  auto pe = parse_policy_enforcement(policy_enforcement);
  if (!pe) return fail(pe.error().message);
  c.policy_enforcement = *pe;
  if (auto st = validate(c); !st) return fail(st.error().message);
  if (!cleanup && c.manifests.empty() && !c.api_source()) {
    return fail(
        "no desired-state source: give --manifests DIR (a tree of Kubernetes manifests), the "
        "Kubernetes API (--k8s-in-cluster, --kubeconfig FILE or --k8s-api-server URL), or both");
  }
  if (!c.kubeconfig.empty() && c.k8s_in_cluster) {
    return fail("--kubeconfig and --k8s-in-cluster are two ways to reach the API: give one");
  }
  ParsedArgs out;
  out.action = cleanup ? Action::Cleanup : Action::Run;
  out.config = std::move(c);
  return out;
}

}  // namespace netagent::agent
