#pragma once
// The endpoints the CNI plugin registered on this node (POST /v1/endpoints), kept in
// <state-dir>/endpoints.json so that a restarted agent keeps enforcing on the same veths with
// the same endpoint ids (the keys of the pinned policy entries).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "netagent/common/ip.hpp"
#include "netagent/common/result.hpp"
#include "netagent/k8s/selector.hpp"

namespace netagent::policy {

struct Endpoint {
  uint32_t id = 0;
  std::string ns, pod;
  std::string interface;  // host-side veth in the agent's network namespace
  std::vector<Ipv4Addr> ips;
  k8s::Labels labels;     // from the registration; used only when the Pod is not in the manifests
  uint32_t ifindex = 0;   // resolved at registration and at start (not persisted)
  bool attached = false;  // the policy programs are on the veth (not persisted)
  std::string refused;    // why the programs are not attached (an uplink, a foreign program)

  std::string key() const { return ns + "/" + pod; }
  nlohmann::json to_json() const;
  // Validates a registration body or a persisted record; errors name the field.
  static Result<Endpoint> from_json(const nlohmann::json& j);
};

// Registration checks (POST /v1/endpoints), each the reason for refusing, or nullopt. An
// endpoint's interface is the host side of its pod's veth: never loopback, never one of the
// agent's --devices (the uplinks the NodePort/LoadBalancer programs run on).
std::optional<std::string> interface_refusal(const std::string& interface, bool loopback,
                                             const std::vector<std::string>& devices);
// Every address must lie in one of this node's IPv4 pod CIDRs (the Node's spec.podCIDRs).
std::optional<std::string> address_refusal(const std::vector<Ipv4Addr>& ips,
                                           const std::vector<IpPrefix>& pod_cidrs);

class EndpointStore {
 public:
  explicit EndpointStore(std::string path) : path_(std::move(path)) {}

  // Reads the file (a missing file is an empty store); a corrupt file is an error that names it.
  Status load();
  // Writes the whole store (temporary file, fsync, rename: never a half-written file).
  Status save() const;

  const std::map<uint32_t, Endpoint>& all() const { return eps_; }
  const Endpoint* find(uint32_t id) const;
  // For run-time fields (ifindex), never the identity of an endpoint.
  Endpoint* find_mutable(uint32_t id) {
    auto it = eps_.find(id);
    return it == eps_.end() ? nullptr : &it->second;
  }
  const Endpoint* find(const std::string& ns, const std::string& pod) const;
  // Registers or replaces (same ns/pod keeps its id); returns the stored endpoint.
  const Endpoint& put(Endpoint ep);
  bool remove(uint32_t id);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::map<uint32_t, Endpoint> eps_;
  uint32_t next_id_ = 1;
};

}  // namespace netagent::policy
