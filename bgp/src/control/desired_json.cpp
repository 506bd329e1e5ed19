#include <nlohmann/json.hpp>

#include "netagent/bgp/control/desired.hpp"

namespace netagent::bgp::control {

using nlohmann::json;

const char* to_string(Afi a) {
  return a == Afi::Ipv4 ? "ipv4" : "ipv6";
}

const char* to_string(Origin o) {
  switch (o) {
    case Origin::Igp:
      return "igp";
    case Origin::Egp:
      return "egp";
    case Origin::Incomplete:
      return "incomplete";
  }
  return "?";
}

json to_json(const DesiredRoute& r) {
  json communities = json::array();
  for (auto c : r.communities)
    communities.push_back(community_str(c));
  json large = json::array();
  for (const auto& c : r.large_communities)
    large.push_back(c.str());
  json j = {{"prefix", r.prefix.str()},      {"afi", to_string(r.afi)},
            {"origin", to_string(r.origin)}, {"communities", communities},
            {"large_communities", large},    {"sources", r.sources}};
  if (r.local_pref) j["local_pref"] = *r.local_pref;
  return j;
}

json to_json(const DesiredPeer& p) {
  json families = json::array();
  for (const auto& f : p.families)
    families.push_back(f.afi + "/" + f.safi);
  json routes = json::array();
  for (const auto& r : p.routes)
    routes.push_back(to_json(r));
  json j = {{"name", p.name},
            {"address", p.address.str()},
            {"port", p.port},
            {"peer_asn", p.peer_asn},
            {"ibgp", p.ibgp},
            {"timers",
             {{"connect_retry_seconds", p.timers.connect_retry},
              {"hold_seconds", p.timers.hold},
              {"keepalive_seconds", p.timers.keepalive}}},
            {"ebgp_multihop_ttl", p.ebgp_multihop_ttl},
            {"graceful_restart",
             {{"enabled", p.graceful_restart.enabled},
              {"restart_time_seconds", p.graceful_restart.restart_time}}},
            {"families", families},
            {"routes", routes}};
  if (p.local_address) j["local_address"] = p.local_address->str();
  // The password itself never leaves the process through JSON.
  if (p.auth_secret) {
    j["auth"] = {{"secret", *p.auth_secret}, {"password_set", !p.password.empty()}};
  }
  return j;
}

json to_json(const DesiredInstance& i) {
  json peers = json::array();
  for (const auto& p : i.peers)
    peers.push_back(to_json(p));
  return {{"name", i.name},
          {"local_asn", i.local_asn},
          {"router_id", i.router_id.str()},
          {"listen_port", i.listen_port},
          {"peers", peers}};
}

json to_json(const DesiredBgp& d) {
  json instances = json::array();
  for (const auto& i : d.instances)
    instances.push_back(to_json(i));
  json conditions = json::array();
  for (const auto& c : d.conditions) {
    conditions.push_back({{"type", c.type}, {"object", c.object}, {"message", c.message}});
  }
  return {
      {"node", d.node}, {"source", d.source}, {"instances", instances}, {"conditions", conditions}};
}

}  // namespace netagent::bgp::control
