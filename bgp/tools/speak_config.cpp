#include "speak_config.hpp"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

#include "netagent/k8s/field.hpp"

namespace netagent::bgp::speak {
namespace {

using k8s::Field;

IpAddress address(const Field& f) {
  auto a = IpAddress::parse(f.str());
  if (!a) f.fail("not an IP address: '" + f.str() + "'");
  return *a;
}

std::chrono::seconds secs(const Field& f, std::chrono::seconds def) {
  auto v = f.opt_integer(0, 65535);
  return v ? std::chrono::seconds(*v) : def;
}

PeerConfig peer(const Field& f) {
  PeerConfig p;
  p.name = f["name"].str();
  p.address = address(f["address"]);
  p.port = uint16_t(f["port"].opt_integer(1, 65535).value_or(179));
  p.peer_asn = uint32_t(f["peer_asn"].integer(1, 4294967295));
  p.hold_time = secs(f["hold_time"], p.hold_time);
  p.keepalive_time = secs(f["keepalive_time"], p.keepalive_time);
  p.connect_retry = secs(f["connect_retry"], p.connect_retry);
  if (auto ttl = f["ebgp_multihop_ttl"].opt_integer(1, 255)) p.ebgp_multihop_ttl = uint8_t(*ttl);
  p.md5_password = f["md5_password"].str_or("");
  p.passive = f["passive"].opt_boolean().value_or(false);
  if (f["graceful_restart"].present()) {
    p.graceful_restart.enabled = f["graceful_restart"]["enabled"].opt_boolean().value_or(true);
    p.graceful_restart.restart_time =
        secs(f["graceful_restart"]["restart_time"], p.graceful_restart.restart_time);
  }
  if (f["families"].present()) {
    p.families.clear();
    for (const auto& fam : f["families"].items()) {
      auto parsed = Family::parse(fam.str());
      if (!parsed) fam.fail("unknown family '" + fam.str() + "' (ipv4-unicast, ipv6-unicast)");
      p.families.push_back(*parsed);
    }
  }
  if (f["local_address"].present()) p.local_address = address(f["local_address"]);
  return p;
}

}  // namespace

Result<SpeakFile> parse_speak_yaml(const std::string& text, const std::string& source) {
  SpeakFile out;
  try {
    Field root(YAML::Load(text), "");
    for (const auto& fi : root["instances"].items()) {
      InstanceConfig in;
      in.name = fi["name"].str();
      in.local_asn = uint32_t(fi["local_asn"].integer(1, 4294967295));
      auto id = Ipv4Addr::parse(fi["router_id"].str());
      if (!id) fi["router_id"].fail("not an IPv4 address");
      in.router_id = *id;
      if (auto port = fi["listen_port"].opt_integer(0, 65535)) in.listen_port = uint16_t(*port);
      if (fi["listen_address"].present()) in.listen_address = address(fi["listen_address"]);
      for (const auto& fp : fi["peers"].items())
        in.peers.push_back(peer(fp));
      auto& routes = out.routes[in.name];
      for (const auto& fr : fi["routes"].items()) {
        auto r = parse_route(fr.str());
        if (!r) fr.fail(r.error().message);
        routes.push_back(*r);
      }
      out.speaker.instances.push_back(std::move(in));
    }
  } catch (const k8s::FieldError& e) {
    return Error{source + ": " + e.path + ": " + e.what()};
  } catch (const YAML::Exception& e) {
    return Error{source + ": " + e.what()};
  }
  if (auto st = validate(out.speaker); !st) return st.error().wrap(source);
  return out;
}

Result<SpeakFile> load_speak_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) return sys_error("open " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_speak_yaml(ss.str(), path);
}

}  // namespace netagent::bgp::speak
