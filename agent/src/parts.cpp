#include "parts.hpp"

#include "netagent/bgp/bgp_reconciler.hpp"
#include "netagent/ipam/ipam_reconciler.hpp"
#include "netagent/kubeapi/client.hpp"
#include "netagent/kubeapi/config.hpp"
#include "netagent/lb/service_reconciler.hpp"
#include "netagent/mesh/mesh_reconciler.hpp"
#include "netagent/policy/policy_reconciler.hpp"
#include "netagent/source/api_source.hpp"
#include "netagent/source/manifest_source.hpp"
#include "netagent/writeback/status_writer.hpp"

namespace netagent::agent {
namespace {

policy::EnforcementMode enforcement_mode(PolicyEnforcement p) {
  switch (p) {
    case PolicyEnforcement::Always:
      return policy::EnforcementMode::Always;
    case PolicyEnforcement::Never:
      return policy::EnforcementMode::Never;
    default:
      return policy::EnforcementMode::Default;
  }
}

}  // namespace

void add_parts(Agent& agent, std::shared_ptr<kubeapi::Client> api) {
  const Config& c = agent.config();
  auto& io = agent.io();
  auto& store = agent.store();
  // In apply order; each part reads from the store what earlier ones published (the runtime
  // checks it). LB IPAM hands out addresses; ClusterMesh publishes this cluster's state and
  // the remote clusters' backends and workloads; the LB programs local and remote backends
  // from the same pass and publishes the frontends it serves; BGP announces those. Policy comes
  // after the LB: it judges the backend addresses the LB translated to (socket LB at connect,
  // NodePort LB before routing to the pod's veth), with the remote identities from ClusterMesh.
  agent.add(std::make_unique<ipam::IpamReconciler>(
      store, ipam::IpamReconciler::Options{.state_dir = c.state_dir}));
  agent.add(std::make_unique<mesh::MeshReconciler>(
      io, store,
      mesh::MeshReconciler::Options{.node_name = c.node_name,
                                    .state_dir = c.state_dir,
                                    .lease_ttl = std::chrono::seconds(c.clustermesh_lease_ttl),
                                    .etcd_config_file = c.clustermesh_etcd_config}));
  lb::ServiceReconciler::Options lb;
  lb.datapath.pin_root = c.bpf_root;
  lb.datapath.maglev_table_size = c.maglev_table_size;
  lb.datapath.nodeport_min = c.node_port_min;
  lb.datapath.nodeport_max = c.node_port_max;
  lb.datapath.map_max = c.lb_map_max;
  lb.maglev_hash_seed = c.maglev_hash_seed;
  lb.node_name = c.node_name;
  lb.cgroup = c.cgroup;
  lb.devices = c.devices;
  agent.add(std::make_unique<lb::ServiceReconciler>(io, store, std::move(lb)));
  bgp::PrefixLimit prefix_limit;
  prefix_limit.max = c.bgp_max_prefixes;
  prefix_limit.warning_percent = c.bgp_max_prefixes_warning;
  prefix_limit.restart = std::chrono::seconds(c.bgp_max_prefixes_restart);
  agent.add(std::make_unique<bgp::BgpReconciler>(
      io, bgp::BgpReconciler::Options{.node_name = c.node_name, .prefix_limit = prefix_limit}));
  // Every program writes its drops and verdicts to one pinned flow-event ring; the policy part
  // reads it (the flow stream, `netctl monitor`).
  agent.add(std::make_unique<policy::PolicyReconciler>(
      io, policy::PolicyReconciler::Options{.node_name = c.node_name,
                                            .state_dir = c.state_dir,
                                            .bpf_root = c.bpf_root,
                                            .devices = c.devices,
                                            .mode = enforcement_mode(c.policy_enforcement),
                                            .audit = c.policy_audit_mode}));
  // With the Kubernetes API: the agent holding the Lease writes LB IPAM's results back (Service
  // status, pool conditions, Events); the others read them from there.
  if (api) {
    writeback::StatusWriter::Options w;
    w.node_name = c.node_name;
    w.election.ns = !api->config().ns.empty() ? api->config().ns : c.k8s_secrets_namespace;
    w.election.lease_duration = std::chrono::seconds(c.k8s_lease_duration);
    w.election.renew_deadline = w.election.lease_duration * 2 / 3;
    w.election.retry_period = w.election.lease_duration * 2 / 15;
    agent.add(std::make_unique<writeback::StatusWriter>(io, std::move(api), std::move(w)));
  }
}

namespace {

Result<kubeapi::ClientConfig> api_client_config(const Config& c) {
  Result<kubeapi::ClientConfig> cfg = Error{"no API configuration"};
  if (c.k8s_in_cluster) {
    cfg = kubeapi::in_cluster_config();
  } else if (!c.kubeconfig.empty()) {
    cfg = kubeapi::kubeconfig_config(c.kubeconfig);
  } else {
    // Only a server: no credentials (a local or test API server; a token-less kubeconfig).
    cfg = kubeapi::ClientConfig{};
    cfg->origin = "--k8s-api-server";
  }
  if (!cfg) return cfg;
  if (!c.k8s_api_server.empty()) return kubeapi::with_server(std::move(*cfg), c.k8s_api_server);
  return cfg;
}

}  // namespace

Result<std::shared_ptr<kubeapi::Client>> make_api_client(Agent& agent) {
  const Config& c = agent.config();
  if (!c.api_source()) return std::shared_ptr<kubeapi::Client>();
  auto cfg = api_client_config(c);
  if (!cfg) return cfg.error().wrap("the Kubernetes API source");
  auto client = kubeapi::Client::create(agent.io(), std::move(*cfg));
  if (!client) return client.error().wrap("the Kubernetes API source");
  return std::move(*client);
}

Result<std::unique_ptr<k8s::Source>> make_source(Agent& agent,
                                                 std::shared_ptr<kubeapi::Client> api) {
  const Config& c = agent.config();
  std::unique_ptr<source::ManifestSource> manifests;
  if (!c.manifests.empty()) {
    source::ManifestSource::Options options;
    // The CRD kinds every part registered in add_parts(), so the loader validates them.
    options.manifests.registry = agent.kinds();
    manifests =
        std::make_unique<source::ManifestSource>(agent.io(), c.manifests, std::move(options));
    // SIGHUP and POST /v1/resync read the tree again before re-applying.
    agent.set_reload([s = manifests.get()] { s->reload(); });
  }
  if (!c.api_source()) return std::unique_ptr<k8s::Source>(std::move(manifests));

  // The client make_api_client() built, shared with the status writer.
  if (!api) return Error{"the Kubernetes API source: no API client"};
  source::ApiSourceOptions options;
  options.registry = agent.kinds();
  options.secrets_namespace = c.k8s_secrets_namespace;
  auto from_api =
      std::make_unique<source::ApiSource>(agent.io(), std::move(api), std::move(options));
  if (!manifests) return std::unique_ptr<k8s::Source>(std::move(from_api));
  // Both: the API's object wins when both name one (docs/kubernetes-api.md).
  std::vector<std::unique_ptr<k8s::Source>> both;
  both.push_back(std::move(from_api));
  both.push_back(std::move(manifests));
  return std::unique_ptr<k8s::Source>(std::make_unique<source::MergedSource>(std::move(both)));
}

}  // namespace netagent::agent
