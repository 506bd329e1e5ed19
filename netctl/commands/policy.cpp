// netctl endpoint list|get, policy list|trace|matrix, identity list, monitor: the network policy
// part. `policy trace --manifests` and `policy matrix` work offline: they load and compile the
// manifests with the agent's code and decide each flow with the real policy program
// (BPF_PROG_TEST_RUN), so they need root but no running agent.
#include <cctype>
#include <ctime>
#include <ostream>

#include "netagent/policy/policy_tools.hpp"
#include "netagent/netctl/command.hpp"

namespace netctl = netagent::netctl;
namespace enforcement = netagent::policy;
namespace policy = netagent::policy;
using nlohmann::json;

namespace {

struct TraceOptions {
  std::string manifests, src, dst, src_ip, dst_ip, protocol = "TCP", mode = "default";
  int dport = 0;
  bool audit = false;
};

struct MatrixOptions {
  std::string manifests, protocol = "TCP", mode = "default";
  int port = 80;
  bool audit = false;
};

netagent::Result<policy::CompiledPolicy> compile_offline(const std::string& dir,
                                                         const std::string& mode, bool audit) {
  auto m = policy::parse_enforcement_mode(mode);
  if (!m) {
    return netagent::Error{"--policy-enforcement \"" + mode + "\" is not default, always or never"};
  }
  auto snap = policy::load_manifests(dir);
  if (!snap) return snap.error();
  policy::PolicySettings s;
  s.mode = *m;
  s.audit = audit;
  s.synthesize_pod_ips = true;
  return policy::compile(**snap, policy::compile_options(s));
}

std::string event_line(const json& e) {
  std::string verdict = e.value("verdict", "");
  for (auto& c : verdict)
    c = char(std::toupper(static_cast<unsigned char>(c)));
  std::string out = verdict + " " + e.value("direction", "") + " " + e.value("protocol", "") + " " +
                    e.value("source", "") + " -> " + e.value("destination", "");
  if (!e.value("endpoint", "").empty()) out += " endpoint " + e.value("endpoint", "");
  out += " identity " + std::to_string(e.value("src_identity", 0u)) + " -> " +
         std::to_string(e.value("dst_identity", 0u));
  if (!e.value("reason", "").empty()) out += " reason " + e.value("reason", "");
  if (!e.value("rule", "").empty()) out += " rule \"" + e.value("rule", "") + "\"";
  return out;
}

}  // namespace

NETCTL_COMMANDS(policy) {
  commands.get("endpoint list", "Endpoints registered by the CNI plugin, with their identity",
               "/v1/endpoints",
               {.rows = "/endpoints",
                .columns = {{"ID", "id"},
                            {"NAMESPACE", "namespace"},
                            {"POD", "pod"},
                            {"INTERFACE", "interface"},
                            {"IPS", "ips", netctl::join(", ")},
                            {"IDENTITY", "identity"},
                            {"INGRESS-ENFORCED", "ingress_enforced"},
                            {"EGRESS-ENFORCED", "egress_enforced"},
                            {"STATE", "state"}},
                .empty = "no endpoints registered"});
  commands.get("endpoint get", "One endpoint by id", "/v1/endpoints/{id}", {});
  commands.get("identity list", "Security identities and their labels", "/v1/identities",
               {.rows = "/identities",
                .columns = {{"ID", "id"}, {"LABELS", "labels"}},
                .empty = "no identities"});
  commands.get("policy list", "Policies, the endpoints they select and unsupported fields",
               "/v1/policy", {.custom = [](const json& b, std::ostream& out) {
                 out << "Enforcement:  " << b.value("enforcement", "")
                     << (b.value("audit_mode", false) ? " (audit mode)" : "") << "\n";
                 out << "Endpoints:    " << b.value("endpoints", 0) << ", identities "
                     << b.value("identities", 0) << ", policy entries "
                     << b.value("policy_entries", 0) << ", ipcache entries "
                     << b.value("ipcache_entries", 0) << "\n\n";
                 out << netctl::render_table(b.value("policies", json::array()),
                                             {{"KIND", "kind"},
                                              {"NAMESPACE", "namespace"},
                                              {"NAME", "name"},
                                              {"SELECTED", "selected_endpoints"},
                                              {"SOURCE", "source"}});
                 for (const auto& u : b.value("unsupported", json::array()))
                   out << "unsupported: " << u.get<std::string>() << "\n";
                 for (const auto& w : b.value("warnings", json::array()))
                   out << "warning: " << w.get<std::string>() << "\n";
               }});

  auto& mon = commands.stream("monitor", "Live flow events: policy verdicts and drops",
                              "/v1/monitor", event_line);
  mon.query("--type", "type", "drop or policy-verdict")
      .query("--verdict", "verdict", "allowed, denied, audited or dropped")
      .query("--endpoint", "endpoint", "Endpoint id or NAMESPACE/POD")
      .query("--identity", "identity", "Source or destination security identity");

  auto trace = std::make_shared<TraceOptions>();
  CLI::App* t = commands.add(
      "policy trace", "The verdict of each direction of a flow and the rule that decided it",
      [trace](const netctl::Context& ctx) {
        json result;
        if (!trace->manifests.empty()) {
          auto cp = compile_offline(trace->manifests, trace->mode, trace->audit);
          if (!cp) return ctx.fail(cp.error());
          std::map<std::string, std::string> q = {{"src", trace->src},
                                                  {"dst", trace->dst},
                                                  {"src_ip", trace->src_ip},
                                                  {"dst_ip", trace->dst_ip},
                                                  {"dport", std::to_string(trace->dport)},
                                                  {"protocol", trace->protocol}};
          auto req = policy::trace_request(q);
          if (!req) return ctx.fail(req.error());
          auto r = policy::trace(*cp, *req);
          if (!r) return ctx.fail(r.error());
          result = std::move(*r);
        } else {
          std::string target = "/v1/policy/trace?dport=" + std::to_string(trace->dport) +
                               "&protocol=" + trace->protocol;
          for (auto [k, v] :
               {std::pair{"src", &trace->src}, std::pair{"dst", &trace->dst},
                std::pair{"src_ip", &trace->src_ip}, std::pair{"dst_ip", &trace->dst_ip}}) {
            if (!v->empty()) target += std::string("&") + k + "=" + v->c_str();
          }
          auto r = ctx.client().get(target);
          if (!r) return ctx.fail(r.error());
          result = std::move(*r);
        }
        ctx.print(result,
                  [](const json& b, std::ostream& out) { out << policy::format_trace(b); });
        return netctl::kExitOk;
      });
  t->add_option("--manifests", trace->manifests,
                "Decide offline from this manifest tree (default: ask the running agent)")
      ->type_name("DIR");
  t->add_option("--src", trace->src, "Source pod")->type_name("NS/POD");
  t->add_option("--dst", trace->dst, "Destination pod")->type_name("NS/POD");
  t->add_option("--src-ip", trace->src_ip, "Source address (outside the cluster)")->type_name("IP");
  t->add_option("--dst-ip", trace->dst_ip, "Destination address (outside the cluster)")
      ->type_name("IP");
  t->add_option("--dport", trace->dport, "Destination port")
      ->required()
      ->check(CLI::Range(1, 65535));
  t->add_option("--protocol", trace->protocol, "TCP, UDP, SCTP or ICMP")->capture_default_str();
  t->add_option("--policy-enforcement", trace->mode, "With --manifests: default, always, never")
      ->capture_default_str();
  t->add_flag("--policy-audit-mode", trace->audit, "With --manifests: audit mode");

  auto matrix = std::make_shared<MatrixOptions>();
  CLI::App* m = commands.add(
      "policy matrix",
      "Reachability of every pod pair in the manifests, as the Kubernetes e2e tests print it "
      "(decided by the kernel's policy program)",
      [matrix](const netctl::Context& ctx) {
        auto cp = compile_offline(matrix->manifests, matrix->mode, matrix->audit);
        if (!cp) return ctx.fail(cp.error());
        auto proto = policy::parse_protocol(matrix->protocol);
        if (!proto) return ctx.fail(proto.error());
        auto r = policy::matrix(*cp, uint16_t(matrix->port), *proto);
        if (!r) return ctx.fail(r.error());
        if (ctx.json()) {
          // The order: {"pods": [...], "allowed": [[...], ...]}.
          nlohmann::ordered_json out;
          out["pods"] = r->pods();
          out["allowed"] = nlohmann::ordered_json::array();
          for (size_t i = 0; i < r->pods().size(); ++i) {
            auto row = nlohmann::ordered_json::array();
            for (size_t j = 0; j < r->pods().size(); ++j)
              row.push_back(r->at(i, j));
            out["allowed"].push_back(std::move(row));
          }
          *ctx.out << out.dump() << "\n";
        } else {
          *ctx.out << r->str();
        }
        return netctl::kExitOk;
      });
  m->add_option("--manifests", matrix->manifests, "Manifest tree (pods, namespaces, policies)")
      ->required()
      ->type_name("DIR");
  m->add_option("--port", matrix->port, "Destination port")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  m->add_option("--protocol", matrix->protocol, "TCP, UDP, SCTP or ICMP")->capture_default_str();
  m->add_option("--policy-enforcement", matrix->mode, "default, always or never")
      ->capture_default_str();
  m->add_flag("--policy-audit-mode", matrix->audit, "Audit mode (everything passes)");
}
