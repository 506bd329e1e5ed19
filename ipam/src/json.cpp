#include "netagent/ipam/json.hpp"

namespace netagent::ipam {

using nlohmann::json;

json to_json(const ServiceAllocation& s) {
  json ips = json::array();
  for (const auto& a : s.ips) {
    ips.push_back({{"ip", a.ip.str()}, {"pool", a.pool}, {"placement", to_string(a.placement)}});
  }
  json j = {{"service", s.key},
            {"ips", std::move(ips)},
            {"satisfied", s.satisfied},
            {"reason", to_string(s.reason)},
            {"canonical", s.canonical}};
  if (!s.message.empty()) j["message"] = s.message;
  if (!s.sharing_key.empty()) j["sharing_key"] = s.sharing_key;
  return j;
}

json to_json(const PoolStatus& p) {
  json j = {{"name", p.name},
            {"blocks", p.blocks},
            {"disabled", p.disabled},
            {"conflicting", p.conflicting},
            {"ips_total", p.total},
            {"ips_used", p.used},
            {"ips_available", p.available},
            {"services", p.services}};
  if (p.conflicting) {
    j["conflict_reason"] = p.conflict_reason;
    j["conflict_message"] = p.conflict_message;
  }
  return j;
}

json to_json(const Allocation& a) {
  json pools = json::array();
  for (const auto& p : a.pools)
    pools.push_back(to_json(p));
  json services = json::array();
  for (const auto& [_, s] : a.services)
    services.push_back(to_json(s));
  json errors = json::array();
  for (const auto& e : a.errors)
    errors.push_back(e.str());
  return {{"dormant", a.dormant}, {"pools", pools}, {"services", services}, {"errors", errors}};
}

json to_json(const IpamCounters& c) {
  json per_pool = json::array();
  for (const auto& p : c.per_pool) {
    per_pool.push_back({{"name", p.name},
                        {"ips_total", p.total},
                        {"ips_used", p.used},
                        {"ips_available", p.available},
                        {"conflicting", p.conflicting},
                        {"disabled", p.disabled}});
  }
  return {{"pools", c.pools},
          {"pools_conflicting", c.pools_conflicting},
          {"pools_disabled", c.pools_disabled},
          {"services", c.services},
          {"services_satisfied", c.services_satisfied},
          {"services_unsatisfied", c.services_unsatisfied},
          {"services_noncanonical", c.services_noncanonical},
          {"ips_used", c.ips_used},
          {"ips_available", c.ips_available},
          {"per_pool", per_pool}};
}

json state_to_json(const AllocationState& st) {
  json services = json::object();
  for (const auto& [key, ips] : st.services) {
    json list = json::array();
    for (auto ip : ips)
      list.push_back(ip.str());
    services[key] = std::move(list);
  }
  return {{"version", 1}, {"services", services}};
}

Result<AllocationState> state_from_json(const json& j) {
  if (!j.is_object()) return Error{"ipam state: expected a JSON object"};
  auto v = j.find("version");
  if (v == j.end() || !v->is_number_integer() || v->get<int>() != 1) {
    return Error{"ipam state: unsupported or missing \"version\" (expected 1)"};
  }
  AllocationState st;
  auto services = j.find("services");
  if (services == j.end()) return st;
  if (!services->is_object()) return Error{"ipam state: \"services\" must be an object"};
  for (const auto& [key, list] : services->items()) {
    if (!list.is_array()) return Error{"ipam state: services[\"" + key + "\"] must be a list"};
    auto& out = st.services[key];
    for (size_t i = 0; i < list.size(); ++i) {
      auto ip = list[i].is_string() ? Ipv4Addr::parse(list[i].get<std::string>()) : std::nullopt;
      if (!ip) {
        return Error{"ipam state: services[\"" + key + "\"][" + std::to_string(i) +
                     "] is not an IPv4 address"};
      }
      out.push_back(*ip);
    }
  }
  return st;
}

}  // namespace netagent::ipam
