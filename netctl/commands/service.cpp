// netctl service list / bpf lb list / bpf ct list: services as the agent means them, and what
// is actually in the LB maps.
#include <ostream>

#include "netagent/netctl/command.hpp"

namespace netctl = netagent::netctl;
using nlohmann::json;

namespace {

// "10.1.0.5:8080/TCP (active, web-1 on infra-1)" per backend, one per line.
std::string backend_cell(const json& backends) {
  std::string out;
  for (const auto& b : backends) {
    std::string line = b.value("address", "");
    std::string detail = b.value("state", "");
    if (b.value("cluster", "local") != "local") detail += ", cluster " + b.value("cluster", "");
    if (!b.value("pod", "").empty()) detail += ", " + b.value("pod", "");
    if (!b.value("node", "").empty()) detail += " on " + b.value("node", "");
    if (!detail.empty()) line += " (" + detail + ")";
    out += (out.empty() ? "" : "\n") + line;
  }
  return out.empty() ? "(no backends)" : out;
}

// "10.25.11.100 (infra-pool, requested)" per address.
std::string ips_cell(const json& ips, const json&) {
  std::string out;
  for (const auto& a : ips) {
    out += (out.empty() ? "" : "\n") + a.value("ip", "") + " (" + a.value("pool", "") + ", " +
           a.value("placement", "") + ")";
  }
  return out.empty() ? "-" : out;
}

}  // namespace

NETCTL_COMMANDS(service) {
  commands.get("service list", "Services: each frontend with its backends and their state",
               "/v1/services", {.custom = [](const json& body, std::ostream& out) {
                 json rows = json::array();
                 for (const auto& f : body.value("services", json::array())) {
                   json r = f;
                   r["backends_text"] = backend_cell(f.value("backends", json::array()));
                   rows.push_back(r);
                 }
                 if (rows.empty()) {
                   out << "no services\n";
                 } else {
                   out << netctl::render_table(rows, {{"ID", "id"},
                                                      {"SERVICE", "service"},
                                                      {"TYPE", "type"},
                                                      {"FRONTEND", "frontend"},
                                                      {"STATE", "state"},
                                                      {"BACKENDS", "backends_text"}});
                 }
                 for (const auto& p : body.value("problems", json::array())) {
                   out << "problem: " << p.value("service", "") << ": " << p.value("message", "")
                       << "\n";
                 }
               }});
  commands.get("bpf lb list", "The LB maps as the kernel holds them: frontends and slots",
               "/v1/bpf/lb",
               {.rows = "/frontends",
                .columns = {{"ID", "id"},
                            {"FRONTEND", "frontend"},
                            {"TYPE", "type"},
                            {"MAGLEV", "maglev_table"},
                            {"BACKENDS", "backends", netctl::lines()}},
                .empty = "the LB maps hold no service"});
  commands.get("bpf lb backends", "The LB backend map", "/v1/bpf/lb",
               {.rows = "/backends",
                .columns = {{"ID", "id"},
                            {"ADDRESS", "address"},
                            {"PROTO", "protocol"},
                            {"LOCAL", "local"},
                            {"TERMINATING", "terminating"}},
                .empty = "no backends"});
  commands
      .get("bpf ct list", "Conntrack entries of the per-packet LB", "/v1/bpf/ct",
           {.rows = "/entries",
            .columns = {{"DIR", "direction"},
                        {"PROTO", "protocol"},
                        {"SOURCE", "source"},
                        {"DESTINATION", "destination"},
                        {"NAT", "nat"},
                        {"SVC", "service_id"},
                        {"AGE", "age_seconds", netctl::duration()},
                        {"FLAGS", "flags"}},
            .empty = "no conntrack entries"})
      .query("--limit", "limit", "Show at most this many entries (default 1000)");
  commands.get("ipam", "LoadBalancer IP pools and the addresses services got", "/v1/ipam",
               {.custom = [](const json& body, std::ostream& out) {
                 if (body.value("dormant", false)) {
                   out << "LB IPAM is dormant: no CiliumLoadBalancerIPPool exists\n";
                   return;
                 }
                 json pools = json::array();
                 for (const auto& p : body.value("pools", json::array()))
                   pools.push_back(p);
                 out << netctl::render_table(pools, {{"POOL", "name"},
                                                     {"BLOCKS", "blocks", netctl::join(", ")},
                                                     {"DISABLED", "disabled"},
                                                     {"CONFLICT", "conflict_reason"},
                                                     {"USED", "ips_used"},
                                                     {"AVAILABLE", "ips_available"}})
                     << "\n";
                 out << netctl::render_table(body.value("services", json::array()),
                                             {{"SERVICE", "service"},
                                              {"IPS", "ips", ips_cell},
                                              {"STATUS", "reason"},
                                              {"MESSAGE", "message"}});
               }});
}
