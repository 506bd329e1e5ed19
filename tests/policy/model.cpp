#include "model.hpp"

#include <yaml-cpp/yaml.h>

#include <stdexcept>

#include "netagent/k8s/decode.hpp"
#include "netagent/policy/decode.hpp"
#include "netagent/policy/evaluator.hpp"
#include "netagent/testing/manifests.hpp"

namespace netagent::policy::testing {

namespace {

const char* kNamespaces[] = {"x", "y", "z"};
const char* kPods[] = {"a", "b", "c"};

std::string model_manifests() {
  std::string out;
  for (int n = 0; n < 3; ++n) {
    std::string ns = kNamespaces[n];
    out += "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + ns +
           "\n  labels:\n    ns: " + ns + "\n---\n";
    for (int p = 0; p < 3; ++p) {
      std::string pod = kPods[p];
      out += "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + pod + "\n  namespace: " + ns +
             "\n  labels:\n    pod: " + pod + "\nspec:\n  nodeName: node-1\n  containers:\n";
      for (const char* port : {"80", "81"}) {
        for (const char* proto : {"tcp", "udp", "sctp"}) {
          std::string upper = proto;
          for (auto& c : upper)
            c = char(std::toupper(c));
          out += std::string("  - name: cont-") + port + "-" + proto +
                 "\n    image: agnhost\n    ports:\n    - name: serve-" + port + "-" + proto +
                 "\n      containerPort: " + port + "\n      protocol: " + upper + "\n";
        }
      }
      out += "status:\n  podIP: " + Model::pod_ip(ns + "/" + pod).str() + "\n---\n";
    }
  }
  return out;
}

}  // namespace

Model::Model(const std::string& extra) : manifests_(model_manifests() + extra) {}

const std::vector<std::string>& Model::pod_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (auto ns : kNamespaces) {
      for (auto p : kPods)
        v.push_back(std::string(ns) + "/" + p);
    }
    return v;
  }();
  return names;
}

Ipv4Addr Model::pod_ip(const std::string& pod) {
  uint32_t n = uint32_t(pod[0] - 'x' + 1), p = uint32_t(pod[2] - 'a' + 1);
  return Ipv4Addr{(10u << 24) | (n << 8) | (p * 10)};
}

k8s::Snapshot Model::snapshot(const std::string& policies) const {
  k8s::KindRegistry reg;
  register_kinds(reg);
  return netagent::testing::snapshot_from_yaml(
      {{"model.yaml", manifests_}, {"policies.yaml", policies}}, {.registry = &reg});
}

CompiledPolicy Model::compile(const std::string& policies, const CompileOptions& opts) const {
  auto cp = policy::compile(snapshot(policies), opts);
  if (!cp) throw std::runtime_error(cp.error().str());
  return std::move(*cp);
}

Reachability Model::evaluate(const CompiledPolicy& cp, uint16_t port, uint8_t proto) {
  Reachability r(pod_names(), false);
  for (size_t i = 0; i < pod_names().size(); ++i) {
    for (size_t j = 0; j < pod_names().size(); ++j) {
      auto d = decide(cp, Flow{pod_ip(pod_names()[i]), pod_ip(pod_names()[j]), proto, port});
      r.set(i, j, d.allowed());
    }
  }
  return r;
}

}  // namespace netagent::policy::testing
