// netctl bgp peers / bgp routes advertised|received / bgp desired: the embedded BGP speaker's
// sessions and Adj-RIBs, and what the Cilium BGP CRDs ask of this node.
#include <ostream>

#include "netagent/netctl/command.hpp"

namespace netctl = netagent::netctl;
using nlohmann::json;

namespace {

// "open 1, update 3, keepalive 12 (16)"
std::string messages_cell(const json& m, const json&) {
  if (!m.is_object()) return "-";
  return std::to_string(m.value("update", 0)) + " upd / " + std::to_string(m.value("total", 0));
}

std::string error_cell(const json& e, const json&) {
  if (!e.is_object()) return "-";
  std::string out = e.value("reason", "");
  for (const char* k : {"notification_sent", "notification_received"}) {
    if (!e.contains(k)) continue;
    const auto& n = e[k];
    out += std::string(k == std::string("notification_sent") ? " (sent " : " (received ") +
           n.value("description", "") + ")";
  }
  return out + " " + netctl::format_duration(e.value("age_seconds", 0.0)) + " ago";
}

// "1200 / 100000", "80000 / 100000 (warning)", "0 / 100000 (over the limit, idle 52s)".
std::string prefixes_in_cell(const json& v, const json& row) {
  std::string out = v.is_number() ? std::to_string(v.get<uint64_t>()) : "-";
  const auto& limit = row.value("prefix_limit", json::object());
  const uint64_t max = limit.value("max_per_family", uint64_t(0));
  if (max == 0) return out;
  out += " / " + std::to_string(max);
  if (limit.contains("exceeded")) {
    out += " (over the limit";
    if (row.contains("idle_hold_seconds")) {
      out += ", idle " + netctl::format_duration(row["idle_hold_seconds"].get<double>());
    }
    return out + ")";
  }
  if (limit.value("warning", false)) out += " (warning)";
  return out;
}

std::string uptime_cell(const json& v, const json&) {
  if (!v.is_number()) return "-";
  return v.get<double>() < 1 ? std::string("<1s") : netctl::format_duration(v.get<double>());
}

// One table of routes per peer.
void print_routes(const json& body, std::ostream& out) {
  const auto& peers = body.value("peers", json::array());
  if (peers.empty()) {
    out << "no BGP peers\n";
    return;
  }
  bool first = true;
  for (const auto& p : peers) {
    if (!first) out << "\n";
    first = false;
    out << "peer " << p.value("instance", "") << "/" << p.value("peer", "") << " ("
        << p.value("address", "") << ", " << p.value("state", "")
        << "): " << p.value("routes", json::array()).size() << " route(s)\n";
    json rows = json::array();
    for (const auto& r : p.value("routes", json::array())) {
      json row = r;
      const auto& a = r.value("attributes", json::object());
      row["as_path"] = a.value("as_path", "");
      row["origin"] = a.value("origin", "");
      if (a.contains("local_preference")) row["local_preference"] = a["local_preference"];
      if (a.contains("communities")) row["communities"] = a["communities"];
      if (a.contains("large_communities")) row["large_communities"] = a["large_communities"];
      rows.push_back(std::move(row));
    }
    if (rows.empty()) continue;
    out << netctl::render_table(rows,
                                {{"PREFIX", "prefix"},
                                 {"NEXT HOP", "next_hop"},
                                 {"AS PATH", "as_path"},
                                 {"ORIGIN", "origin"},
                                 {"LOCAL PREF", "local_preference"},
                                 {"COMMUNITIES", "communities", netctl::join(" ")},
                                 {"LARGE COMMUNITIES", "large_communities", netctl::join(" ")}});
  }
}

// The compiled configuration: where it comes from, the peers, then every route with why.
void print_desired(const json& body, std::ostream& out) {
  const std::string source = body.value("source", "");
  out << "node " << body.value("node", "") << ": "
      << (source.empty() ? "no BGP configuration selects this node" : "from " + source) << "\n";
  json peers = json::array(), routes = json::array();
  for (const auto& i : body.value("instances", json::array())) {
    for (const auto& p : i.value("peers", json::array())) {
      const auto& t = p.value("timers", json::object());
      const auto& gr = p.value("graceful_restart", json::object());
      peers.push_back(
          {{"instance", i.value("name", "")},
           {"local_asn", i.value("local_asn", 0)},
           {"router_id", i.value("router_id", "")},
           {"peer", p.value("name", "")},
           {"address", p.value("address", "")},
           {"peer_asn", p.value("peer_asn", 0)},
           {"timers", std::to_string(t.value("connect_retry_seconds", 0)) + "/" +
                          std::to_string(t.value("hold_seconds", 0)) + "/" +
                          std::to_string(t.value("keepalive_seconds", 0))},
           {"gr", gr.value("enabled", false)
                      ? std::to_string(gr.value("restart_time_seconds", 0)) + "s"
                      : std::string("off")},
           {"md5", p.contains("auth")
                       ? p["auth"].value("secret", "") +
                             (p["auth"].value("password_set", false) ? "" : " (no password)")
                       : std::string("-")},
           {"families", p.value("families", json::array())},
           {"routes", p.value("routes", json::array()).size()}});
      for (const auto& r : p.value("routes", json::array())) {
        json row = r;
        row["peer"] = i.value("name", "") + "/" + p.value("name", "");
        routes.push_back(row);
      }
    }
  }
  if (!peers.empty()) {
    out << netctl::render_table(peers, {{"INSTANCE", "instance"},
                                        {"LOCAL ASN", "local_asn"},
                                        {"ROUTER ID", "router_id"},
                                        {"PEER", "peer"},
                                        {"ADDRESS", "address"},
                                        {"PEER ASN", "peer_asn"},
                                        {"RETRY/HOLD/KA", "timers"},
                                        {"GR", "gr"},
                                        {"MD5 SECRET", "md5"},
                                        {"FAMILIES", "families", netctl::join(", ")},
                                        {"ROUTES", "routes"}});
  }
  if (!routes.empty()) {
    out << "\n"
        << netctl::render_table(routes,
                                {{"PEER", "peer"},
                                 {"PREFIX", "prefix"},
                                 {"COMMUNITIES", "communities", netctl::join(" ")},
                                 {"LARGE COMMUNITIES", "large_communities", netctl::join(" ")},
                                 {"LOCAL PREF", "local_pref"},
                                 {"SOURCES", "sources", netctl::lines()}});
  }
  for (const auto& c : body.value("conditions", json::array())) {
    out << "condition " << c.value("type", "") << " on " << c.value("object", "") << ": "
        << c.value("message", "") << "\n";
  }
  for (const auto& p : body.value("problems", json::array()))
    out << "problem: " << p.get<std::string>() << "\n";
}

}  // namespace

NETCTL_COMMANDS(bgp) {
  commands.get("bgp peers",
               "BGP sessions: state, uptime, negotiated capabilities, hold time, messages, "
               "prefixes (received against the per-family limit) and the last error",
               "/v1/bgp/peers",
               {.rows = "/peers",
                .columns = {{"INSTANCE", "instance"},
                            {"PEER", "name"},
                            {"ADDRESS", "address"},
                            {"ASN", "peer_asn"},
                            {"STATE", "state"},
                            {"UPTIME", "uptime_seconds", uptime_cell},
                            {"HOLD", "hold_time"},
                            {"CAPABILITIES", "capabilities", netctl::lines()},
                            {"MSGS IN", "messages_in", messages_cell},
                            {"MSGS OUT", "messages_out", messages_cell},
                            {"PFX IN / LIMIT", "prefixes_in", prefixes_in_cell},
                            {"PFX OUT", "prefixes_out"},
                            {"LAST ERROR", "last_error", error_cell}},
                .empty = "no BGP peers (no CiliumBGPPeeringPolicy or CiliumBGPClusterConfig "
                         "selects this node)"});
  commands
      .get("bgp routes advertised", "Routes sent to each peer (Adj-RIB-Out)",
           "/v1/bgp/routes/advertised", {.custom = print_routes})
      .query("--instance", "instance", "Only this BGP instance (virtual router)")
      .query("--peer", "peer", "Only this peer (name or address)");
  commands
      .get("bgp routes received", "Routes each peer sent (Adj-RIB-In; kept, never installed)",
           "/v1/bgp/routes/received", {.custom = print_routes})
      .query("--instance", "instance", "Only this BGP instance (virtual router)")
      .query("--peer", "peer", "Only this peer (name or address)");
  commands.get("bgp desired",
               "What the BGP CRDs ask of this node: instances, peers and routes with their sources",
               "/v1/bgp/desired", {.custom = print_desired});
}
