#include <nlohmann/json.hpp>

#include "netagent/bgp/status.hpp"

namespace netagent::bgp {

void MessageCounters::count(MessageType t) {
  switch (t) {
    case MessageType::open:
      ++open;
      break;
    case MessageType::update:
      ++update;
      break;
    case MessageType::notification:
      ++notification;
      break;
    case MessageType::keepalive:
      ++keepalive;
      break;
    case MessageType::route_refresh:
      ++route_refresh;
      break;
  }
}

NotificationInfo describe(const NotificationMessage& n) {
  return NotificationInfo{n.code, n.subcode, n.description(), n.shutdown_communication()};
}

std::vector<std::string> capability_names(const Negotiated& n) {
  std::vector<std::string> out;
  for (const auto& f : n.families)
    out.push_back(f.str());
  if (n.four_octet_as) out.push_back("4-octet-as");
  if (n.route_refresh) out.push_back("route-refresh");
  if (n.enhanced_route_refresh) out.push_back("enhanced-route-refresh");
  if (n.peer_graceful_restart) {
    const auto& gr = *n.peer_graceful_restart;
    std::string s = "graceful-restart(restart-time " + std::to_string(gr.restart_time) + "s";
    if (gr.restart_state) s += ", restarting";
    if (n.graceful_notification) s += ", notification";
    out.push_back(s + ")");
  }
  // Capabilities the peer sent that this speaker does not use, by name where known.
  for (const auto& u : n.peer_capabilities.unknown) {
    switch (u.code) {
      case cap::kExtendedMessage:
        out.push_back("peer:extended-message");
        break;
      case cap::kAddPath:
        out.push_back("peer:add-path");
        break;
      case cap::kLongLivedGr:
        out.push_back("peer:long-lived-graceful-restart");
        break;
      case cap::kFqdn:
        out.push_back("peer:fqdn");
        break;
      default:
        out.push_back("peer:unknown(" + std::to_string(u.code) + ")");
    }
  }
  return out;
}

namespace {

nlohmann::json counters(const MessageCounters& c) {
  return {{"open", c.open},
          {"update", c.update},
          {"notification", c.notification},
          {"keepalive", c.keepalive},
          {"route_refresh", c.route_refresh},
          {"total", c.total()}};
}

nlohmann::json notification(const NotificationInfo& n) {
  nlohmann::json j{{"code", n.code}, {"subcode", n.subcode}, {"description", n.description}};
  if (n.communication) j["communication"] = *n.communication;
  return j;
}

}  // namespace

void to_json(nlohmann::json& j, const PeerStatus& s) {
  j = {{"instance", s.instance},
       {"name", s.name},
       {"address", s.address.str()},
       {"port", s.port},
       {"local_asn", s.local_asn},
       {"peer_asn", s.peer_asn},
       {"state", std::string(state_name(s.state))},
       {"messages_in", counters(s.messages_in)},
       {"messages_out", counters(s.messages_out)},
       {"prefixes_in", s.prefixes_in},
       {"prefixes_out", s.prefixes_out},
       {"transitions", s.transitions},
       {"established_count", s.established_count},
       {"update_errors", s.update_errors},
       {"prefixes_in_by_family",
        {{"ipv4-unicast", s.prefixes_in_v4}, {"ipv6-unicast", s.prefixes_in_v6}}},
       {"prefix_limit",
        {{"max_per_family", s.max_prefixes},
         {"warning_at", s.prefix_warning_at},
         {"warning", s.prefix_limit_warning},
         {"ceases", s.prefix_limit_ceases}}},
       {"notifications_sent", s.notifications_sent}};
  if (s.idle_hold_seconds) j["idle_hold_seconds"] = *s.idle_hold_seconds;
  if (s.prefix_limit_exceeded) j["prefix_limit"]["exceeded"] = *s.prefix_limit_exceeded;
  if (s.uptime_seconds) j["uptime_seconds"] = *s.uptime_seconds;
  if (s.local_address) j["local_address"] = s.local_address->str();
  if (s.negotiated) {
    j["hold_time"] = s.negotiated->hold_time;
    j["keepalive_time"] = s.negotiated->keepalive_time;
    j["peer_router_id"] = s.negotiated->peer_router_id.str();
    j["capabilities"] = capability_names(*s.negotiated);
  }
  if (s.last_error) {
    nlohmann::json e{{"reason", s.last_error->reason}, {"age_seconds", s.last_error->age_seconds}};
    if (s.last_error->sent) e["notification_sent"] = notification(*s.last_error->sent);
    if (s.last_error->received) e["notification_received"] = notification(*s.last_error->received);
    j["last_error"] = e;
  }
}

void to_json(nlohmann::json& j, const PathAttributes& a) {
  j = nlohmann::json::object();
  if (a.origin) j["origin"] = std::string(origin_name(*a.origin));
  if (a.as_path) j["as_path"] = a.as_path->str();
  if (a.med) j["med"] = *a.med;
  if (a.local_pref) j["local_preference"] = *a.local_pref;
  if (a.atomic_aggregate) j["atomic_aggregate"] = true;
  if (a.aggregator)
    j["aggregator"] = std::to_string(a.aggregator->asn) + " " + a.aggregator->address.str();
  if (!a.communities.empty()) {
    std::vector<std::string> c;
    for (auto v : a.communities)
      c.push_back(v.str());
    j["communities"] = c;
  }
  if (!a.large_communities.empty()) {
    std::vector<std::string> c;
    for (const auto& v : a.large_communities)
      c.push_back(v.str());
    j["large_communities"] = c;
  }
  if (!a.unknown.empty()) {
    std::vector<int> codes;
    for (const auto& u : a.unknown)
      codes.push_back(u.type);
    j["unknown_attributes"] = codes;
  }
}

void to_json(nlohmann::json& j, const AdvertisedRoute& r) {
  j = {{"prefix", r.prefix.str()}, {"next_hop", r.next_hop.str()}, {"attributes", r.attributes}};
}

void to_json(nlohmann::json& j, const ReceivedRoute& r) {
  j = {{"prefix", r.prefix.str()}, {"attributes", r.attributes}};
  if (r.next_hop) j["next_hop"] = r.next_hop->str();
}

}  // namespace netagent::bgp
