#include "netagent/mesh/global_service.hpp"

#include <algorithm>

namespace netagent::mesh {

const char* to_string(Affinity a) {
  switch (a) {
    case Affinity::Local:
      return "local";
    case Affinity::Remote:
      return "remote";
    case Affinity::None:
      return "none";
  }
  return "none";
}

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// The value of the current annotation, else of the older alias; nullptr when neither is set.
const std::string* annotation(const k8s::ObjectMeta& meta, const char* key, const char* alias,
                              std::string& which) {
  if (const auto* v = meta.annotation(key)) {
    which = key;
    return v;
  }
  if (const auto* v = meta.annotation(alias)) {
    which = alias;
    return v;
  }
  return nullptr;
}

}  // namespace

Result<GlobalServiceSpec> global_service_spec(const k8s::ObjectMeta& meta) {
  GlobalServiceSpec spec;
  auto bad = [&](const std::string& which, const std::string& value, const char* allowed) {
    return Error{"Service " + meta.key() + ": annotation " + which + ": \"" + value + "\" is not " +
                 allowed};
  };
  std::string which;
  auto flag = [&](const char* key, const char* alias, bool dflt) -> Result<bool> {
    const std::string* v = annotation(meta, key, alias, which);
    if (!v) return dflt;
    std::string l = lower(*v);
    if (l == "true") return true;
    if (l == "false") return false;
    return bad(which, *v, "\"true\" or \"false\"");
  };
  auto global = flag("service.cilium.io/global", "io.cilium/global-service", false);
  if (!global) return global.error();
  auto shared = flag("service.cilium.io/shared", "io.cilium/shared-service", true);
  if (!shared) return shared.error();
  spec.global = *global;
  spec.shared = *shared;
  if (const std::string* v =
          annotation(meta, "service.cilium.io/affinity", "io.cilium/service-affinity", which)) {
    std::string l = lower(*v);
    if (l == "local") {
      spec.affinity = Affinity::Local;
    } else if (l == "remote") {
      spec.affinity = Affinity::Remote;
    } else if (l == "none" || l.empty()) {
      spec.affinity = Affinity::None;
    } else {
      return bad(which, *v, "local, remote or none");
    }
  }
  return spec;
}

}  // namespace netagent::mesh
