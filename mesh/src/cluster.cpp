#include "netagent/mesh/cluster.hpp"

#include "netagent/common/number.hpp"

namespace netagent::mesh {

Status validate_cluster_name(std::string_view name) {
  auto bad = [&](const std::string& why) {
    return Error{"cluster name \"" + std::string(name) + "\": " + why};
  };
  if (name.empty()) return bad("is empty");
  if (name.size() > 32) return bad("is longer than 32 characters");
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  for (char c : name) {
    if (!alnum(c) && c != '-') {
      return bad("may only contain lowercase letters, digits and '-'");
    }
  }
  if (!alnum(name.front()) || !alnum(name.back())) {
    return bad("must start and end with a lowercase letter or digit");
  }
  return Status{};
}

Status validate_cluster_id(int64_t id) {
  if (id < 1 || id > 255) {
    return Error{"cluster id " + std::to_string(id) + " is not in 1..255"};
  }
  return Status{};
}

Result<ClusterInfo> cluster_from_settings(const std::map<std::string, std::string>& settings) {
  ClusterInfo info;
  auto name = settings.find("CLUSTER");
  if (name == settings.end()) return Error{"cluster-settings: CLUSTER is not set"};
  info.name = name->second;
  if (auto st = validate_cluster_name(info.name); !st) {
    return st.error().wrap("cluster-settings CLUSTER");
  }
  auto id = settings.find("CLUSTER_ID");
  if (id == settings.end()) return Error{"cluster-settings: CLUSTER_ID is not set"};
  const std::string& s = id->second;
  auto v = parse_integer<int64_t>(s);
  if (!v) return Error{"cluster-settings CLUSTER_ID: \"" + s + "\" is not a number"};
  if (auto st = validate_cluster_id(*v); !st) return st.error().wrap("cluster-settings CLUSTER_ID");
  info.id = uint32_t(*v);
  return info;
}

}  // namespace netagent::mesh
