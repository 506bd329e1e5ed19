#pragma once
// Cilium's global-service annotations (pkg/annotation): a Service with
//   service.cilium.io/global: "true"            (older: io.cilium/global-service)
// in several clusters balances over the backends of every cluster that shares it;
//   service.cilium.io/shared: "false"           (older: io.cilium/shared-service)
// keeps this cluster's backends to itself (it still uses the others'); shared defaults to true;
//   service.cilium.io/affinity: local|remote|none   (older: io.cilium/service-affinity)
// prefers this cluster's (or the remote clusters') backends while any of them is ready.
#include <string>

#include "netagent/common/result.hpp"
#include "netagent/k8s/objects.hpp"

namespace netagent::mesh {

enum class Affinity { None, Local, Remote };
const char* to_string(Affinity a);

struct GlobalServiceSpec {
  bool global = false;
  bool shared = true;  // meaningful only when global
  Affinity affinity = Affinity::None;
  bool operator==(const GlobalServiceSpec&) const = default;
};

// Reads the annotations; a value that is not "true"/"false" (or local|remote|none) is an error
// naming the Service and the annotation.
Result<GlobalServiceSpec> global_service_spec(const k8s::ObjectMeta& meta);

}  // namespace netagent::mesh
