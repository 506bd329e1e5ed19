#include "netagent/bgp/config.hpp"

#include <set>
#include <sstream>

#include "netagent/common/number.hpp"

namespace netagent::bgp {
namespace {

constexpr size_t kMd5MaxKeyLen = 80;  // TCP_MD5SIG_MAXKEYLEN (linux/tcp.h)

Status fail(const std::string& where, const std::string& what) {
  return Error{where + ": " + what};
}

}  // namespace

bool PeerConfig::same_session(const PeerConfig& o) const {
  // Everything but the name is a session parameter.
  PeerConfig a = *this;
  a.name = o.name;
  return a == o;
}

Status validate(const SpeakerConfig& config) {
  std::set<std::string> names;
  std::set<uint16_t> ports;
  for (size_t i = 0; i < config.instances.size(); ++i) {
    const auto& in = config.instances[i];
    std::string where = "instances[" + (in.name.empty() ? std::to_string(i) : in.name) + "]";
    if (in.name.empty()) return fail(where + ".name", "must not be empty");
    if (!names.insert(in.name).second) return fail(where + ".name", "duplicate instance name");
    if (in.local_asn == 0) return fail(where + ".local_asn", "must not be 0 (RFC 7607)");
    if (in.router_id.value == 0) return fail(where + ".router_id", "must not be 0.0.0.0");
    if (in.listen_port && *in.listen_port != 0) {
      if (!ports.insert(*in.listen_port).second) {
        return fail(where + ".listen_port",
                    std::to_string(*in.listen_port) + " is used by another instance");
      }
    }
    std::set<std::string> peer_names;
    std::set<std::pair<IpAddress, uint16_t>> endpoints;
    for (size_t j = 0; j < in.peers.size(); ++j) {
      const auto& p = in.peers[j];
      std::string pw = where + ".peers[" + (p.name.empty() ? std::to_string(j) : p.name) + "]";
      if (p.name.empty()) return fail(pw + ".name", "must not be empty");
      if (!peer_names.insert(p.name).second) return fail(pw + ".name", "duplicate peer name");
      if (p.address.is_unspecified()) return fail(pw + ".address", "must be set");
      if (!endpoints.insert({p.address, p.port}).second) {
        return fail(pw + ".address", p.address.str() + " port " + std::to_string(p.port) +
                                         " is already a peer of this instance");
      }
      if (p.port == 0) return fail(pw + ".port", "must not be 0");
      if (p.peer_asn == 0) return fail(pw + ".peer_asn", "must not be 0 (RFC 7607)");
      auto hold = p.hold_time.count();
      if (hold < 0 || hold == 1 || hold == 2 || hold > 65535) {
        return fail(pw + ".hold_time", std::to_string(hold) + " s is not 0 or in [3, 65535]");
      }
      if (p.keepalive_time.count() < 0 || (hold > 0 && p.keepalive_time.count() > hold)) {
        return fail(pw + ".keepalive_time",
                    std::to_string(p.keepalive_time.count()) + " s exceeds the hold time");
      }
      if (p.connect_retry.count() < 1) return fail(pw + ".connect_retry", "must be at least 1 s");
      if (p.ebgp_multihop_ttl && *p.ebgp_multihop_ttl == 0) {
        return fail(pw + ".ebgp_multihop_ttl", "must be in [1, 255]");
      }
      if (p.md5_password.size() > kMd5MaxKeyLen) {
        return fail(pw + ".md5_password", "longer than the kernel's 80-byte TCP MD5 key limit");
      }
      if (p.passive && !in.listen_port) {
        return fail(pw + ".passive", "a passive peer needs the instance's listen_port");
      }
      auto rt = p.graceful_restart.restart_time.count();
      if (p.graceful_restart.enabled && (rt < 1 || rt > 4095)) {
        return fail(pw + ".graceful_restart.restart_time",
                    std::to_string(rt) + " s is not in [1, 4095] (RFC 4724 §3)");
      }
      if (p.families.empty()) return fail(pw + ".families", "must not be empty");
      for (const auto& f : p.families) {
        if (f != kIpv4Unicast && f != kIpv6Unicast) {
          return fail(pw + ".families", f.str() + " is not supported");
        }
      }
      if (p.local_address && afi_of(*p.local_address) != afi_of(p.address)) {
        return fail(pw + ".local_address", "family differs from the peer address");
      }
    }
  }
  return {};
}

std::string Route::str() const {
  std::string s = prefix.str();
  if (next_hop) s += " next-hop " + next_hop->str();
  s += " origin " + std::string(origin_name(origin));
  if (med) s += " med " + std::to_string(*med);
  if (local_preference) s += " local-preference " + std::to_string(*local_preference);
  for (const auto& c : communities)
    s += " community " + c.str();
  for (const auto& c : large_communities)
    s += " large-community " + c.str();
  return s;
}

Result<Route> parse_route(const std::string& text) {
  std::istringstream in(text);
  std::string word;
  Route r;
  if (!(in >> word)) return Error{"route: empty"};
  auto p = Prefix::parse(word, true);
  if (!p) return Error{"route: bad prefix '" + word + "'"};
  r.prefix = *p;
  auto number = [&](const std::string& key) -> Result<uint32_t> {
    std::string v;
    if (!(in >> v)) return Error{"route " + word + ": " + key + " needs a value"};
    auto n = parse_integer<uint32_t>(v);
    if (!n) return Error{"route " + word + ": bad " + key + " '" + v + "'"};
    return *n;
  };
  std::string key;
  while (in >> key) {
    std::string v;
    if (key == "next-hop") {
      in >> v;
      auto a = IpAddress::parse(v);
      if (!a) return Error{"route " + word + ": bad next-hop '" + v + "'"};
      r.next_hop = a;
    } else if (key == "origin") {
      in >> v;
      auto o = parse_origin(v);
      if (!o) return Error{"route " + word + ": bad origin '" + v + "'"};
      r.origin = *o;
    } else if (key == "med") {
      auto n = number(key);
      if (!n) return n.error();
      r.med = *n;
    } else if (key == "local-preference" || key == "local-pref") {
      auto n = number(key);
      if (!n) return n.error();
      r.local_preference = *n;
    } else if (key == "community") {
      in >> v;
      auto c = Community::parse(v);
      if (!c) return Error{"route " + word + ": bad community '" + v + "'"};
      r.communities.push_back(*c);
    } else if (key == "large-community") {
      in >> v;
      auto c = LargeCommunity::parse(v);
      if (!c) return Error{"route " + word + ": bad large-community '" + v + "'"};
      r.large_communities.push_back(*c);
    } else {
      return Error{"route " + word + ": unknown keyword '" + key + "'"};
    }
  }
  return r;
}

}  // namespace netagent::bgp
