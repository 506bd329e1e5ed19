#pragma once
// What the Speaker reports for `netctl bgp peers`, `netctl bgp routes advertised|received` and
// Prometheus: plain structs, plus JSON for the API.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "netagent/bgp/fsm.hpp"
#include "netagent/bgp/negotiation.hpp"
#include "netagent/bgp/rib.hpp"

namespace netagent::bgp {

struct MessageCounters {
  uint64_t open = 0;
  uint64_t update = 0;
  uint64_t notification = 0;
  uint64_t keepalive = 0;
  uint64_t route_refresh = 0;
  uint64_t total() const { return open + update + notification + keepalive + route_refresh; }
  void count(MessageType t);
};

struct NotificationInfo {
  uint8_t code = 0;
  uint8_t subcode = 0;
  std::string description;                   // "Cease / Administrative Shutdown"
  std::optional<std::string> communication;  // RFC 8203 shutdown communication
};
NotificationInfo describe(const NotificationMessage& n);

struct PeerStatus {
  std::string instance;
  std::string name;
  IpAddress address;
  uint16_t port = 179;
  uint32_t local_asn = 0;
  uint32_t peer_asn = 0;
  SessionState state = SessionState::idle;
  std::optional<int64_t> uptime_seconds;   // since Established
  std::optional<IpAddress> local_address;  // of the established session
  std::optional<Negotiated> negotiated;    // capabilities, hold and keepalive times
  MessageCounters messages_in;
  MessageCounters messages_out;
  uint64_t prefixes_in = 0;   // Adj-RIB-In
  uint64_t prefixes_out = 0;  // Adj-RIB-Out
  uint64_t transitions = 0;
  uint64_t established_count = 0;
  uint64_t update_errors = 0;  // UPDATEs handled by RFC 7606 treat-as-withdraw or discard
  // The receive limit per family (PrefixLimit) and where the peer stands against it.
  uint32_t max_prefixes = 0;  // 0: no limit
  uint64_t prefixes_in_v4 = 0;
  uint64_t prefixes_in_v6 = 0;
  uint64_t prefix_warning_at = 0;
  bool prefix_limit_warning = false;  // a family is at or over the warning share of the limit
  uint64_t prefix_limit_ceases = 0;   // sessions ended for going over the limit
  // Why the last session ended over the limit, until a session is Established again.
  std::optional<std::string> prefix_limit_exceeded;
  // While Idle after a failure (e.g. the prefix limit): seconds until it may start again.
  std::optional<int64_t> idle_hold_seconds;
  // NOTIFICATIONs sent, by description ("Cease / Maximum Number of Prefixes Reached").
  std::map<std::string, uint64_t> notifications_sent;
  struct Error {
    std::string reason;
    std::optional<NotificationInfo> sent;
    std::optional<NotificationInfo> received;
    int64_t age_seconds = 0;
  };
  std::optional<Error> last_error;
};

// Human names of what was negotiated: "ipv4-unicast", "4-octet-as", "route-refresh",
// "graceful-restart(restart-time 120s, notification)", "unknown(73)".
std::vector<std::string> capability_names(const Negotiated& n);

void to_json(nlohmann::json& j, const PeerStatus& s);
void to_json(nlohmann::json& j, const AdvertisedRoute& r);
void to_json(nlohmann::json& j, const ReceivedRoute& r);
void to_json(nlohmann::json& j, const PathAttributes& a);

}  // namespace netagent::bgp
