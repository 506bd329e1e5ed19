#include "netagent/policy/endpoint_store.hpp"

#include "netagent/common/file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace netagent::policy {

using nlohmann::json;

json Endpoint::to_json() const {
  json ips_j = json::array();
  for (const auto& a : ips)
    ips_j.push_back(a.str());
  return {{"id", id},     {"namespace", ns}, {"pod", pod}, {"interface", interface},
          {"ips", ips_j}, {"labels", labels}};
}

Result<Endpoint> Endpoint::from_json(const json& j) {
  if (!j.is_object()) return Error{"an endpoint must be a JSON object"};
  Endpoint ep;
  auto str = [&](const char* k, std::string& out) -> Status {
    auto it = j.find(k);
    if (it == j.end() || !it->is_string() || it->get<std::string>().empty()) {
      return Error{std::string(k) + ": required, a non-empty string"};
    }
    out = it->get<std::string>();
    return {};
  };
  for (auto [k, out] : {std::pair{"namespace", &ep.ns}, std::pair{"pod", &ep.pod},
                        std::pair{"interface", &ep.interface}}) {
    if (auto st = str(k, *out); !st) return st.error();
  }
  if (ep.ns.find('/') != std::string::npos || ep.pod.find('/') != std::string::npos) {
    return Error{"namespace and pod must not contain '/'"};
  }
  auto ips = j.find("ips");
  if (ips == j.end() || !ips->is_array() || ips->empty()) {
    return Error{"ips: required, a non-empty list of IPv4 addresses"};
  }
  for (size_t i = 0; i < ips->size(); ++i) {
    const auto& v = (*ips)[i];
    auto a = v.is_string() ? Ipv4Addr::parse(v.get<std::string>()) : std::nullopt;
    if (!a) {
      return Error{"ips[" + std::to_string(i) + "]: " + v.dump() +
                   " is not an IPv4 address (IPv6 is not enforced by this datapath)"};
    }
    ep.ips.push_back(*a);
  }
  if (auto l = j.find("labels"); l != j.end() && !l->is_null()) {
    if (!l->is_object()) return Error{"labels: must be an object of strings"};
    for (const auto& [k, v] : l->items()) {
      if (!v.is_string()) return Error{"labels." + k + ": must be a string"};
      ep.labels[k] = v.get<std::string>();
    }
  }
  if (auto id = j.find("id"); id != j.end() && id->is_number_unsigned()) {
    ep.id = id->get<uint32_t>();
  }
  return ep;
}

std::optional<std::string> interface_refusal(const std::string& interface, bool loopback,
                                             const std::vector<std::string>& devices) {
  if (loopback) {
    return "interface " + interface + " is a loopback device, not the host side of a pod's veth";
  }
  if (std::find(devices.begin(), devices.end(), interface) != devices.end()) {
    return "interface " + interface +
           " is one of the agent's --devices (an uplink that carries the NodePort/LoadBalancer "
           "programs), not the host side of a pod's veth";
  }
  return std::nullopt;
}

std::optional<std::string> address_refusal(const std::vector<Ipv4Addr>& ips,
                                           const std::vector<IpPrefix>& pod_cidrs) {
  std::string cidrs;
  for (const auto& c : pod_cidrs) {
    if (c.is_v4()) cidrs += (cidrs.empty() ? "" : ", ") + c.str();
  }
  for (auto a : ips) {
    bool in = std::any_of(pod_cidrs.begin(), pod_cidrs.end(),
                          [&](const IpPrefix& c) { return c.is_v4() && c.as_v4().contains(a); });
    if (!in) {
      return "address " + a.str() + " is outside this node's pod CIDRs (" +
             (cidrs.empty() ? std::string("none") : cidrs) + ")";
    }
  }
  return std::nullopt;
}

Status EndpointStore::load() {
  std::error_code ec;
  if (!std::filesystem::exists(path_, ec)) return {};  // nothing registered yet
  std::ifstream in(path_);
  if (!in) return sys_error("read " + path_);
  json doc;
  try {
    doc = json::parse(in);
  } catch (const json::exception& e) {
    return Error{path_ + ": not valid JSON (" + e.what() +
                 "); move it away to start with no endpoints"};
  }
  const auto& list = doc.contains("endpoints") ? doc["endpoints"] : json::array();
  for (size_t i = 0; i < list.size(); ++i) {
    auto ep = Endpoint::from_json(list[i]);
    if (!ep || ep->id == 0) {
      return Error{path_ + ": endpoints[" + std::to_string(i) +
                   "]: " + (ep ? std::string("id: required") : ep.error().message)};
    }
    next_id_ = std::max(next_id_, ep->id + 1);
    eps_[ep->id] = std::move(*ep);
  }
  if (doc.contains("next_id") && doc["next_id"].is_number_unsigned()) {
    next_id_ = std::max(next_id_, doc["next_id"].get<uint32_t>());
  }
  return {};
}

Status EndpointStore::save() const {
  json list = json::array();
  for (const auto& [id, ep] : eps_)
    list.push_back(ep.to_json());
  std::string text = json{{"next_id", next_id_}, {"endpoints", list}}.dump(2) + "\n";
  if (auto st = write_file_atomic(path_, text, 0600); !st) return st.error().wrap("save endpoints");
  return {};
}

const Endpoint* EndpointStore::find(uint32_t id) const {
  auto it = eps_.find(id);
  return it == eps_.end() ? nullptr : &it->second;
}

const Endpoint* EndpointStore::find(const std::string& ns, const std::string& pod) const {
  for (const auto& [id, ep] : eps_) {
    if (ep.ns == ns && ep.pod == pod) return &ep;
  }
  return nullptr;
}

const Endpoint& EndpointStore::put(Endpoint ep) {
  if (const auto* old = find(ep.ns, ep.pod)) {
    ep.id = old->id;
  } else {
    ep.id = next_id_++;
  }
  uint32_t id = ep.id;
  eps_[id] = std::move(ep);
  return eps_[id];
}

bool EndpointStore::remove(uint32_t id) {
  return eps_.erase(id) > 0;
}

}  // namespace netagent::policy
