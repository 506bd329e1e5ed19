// netctl endpoint list|get, policy list|trace|matrix, identity list, monitor: the network policy
// part. `policy trace --manifests` and `policy matrix` work offline: netctl runs the agent's
// one-shot `netagent policy trace|matrix` (it loads and compiles the manifests with the agent's
// code and decides each flow with the real policy program, BPF_PROG_TEST_RUN; root, no running
// agent) and renders its JSON as it renders the API's.
#include <algorithm>
#include <cctype>
#include <ctime>
#include <ostream>
#include <string>
#include <vector>

#include "netagent/netctl/agent_tool.hpp"
#include "netagent/netctl/command.hpp"

namespace netctl = netagent::netctl;
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

// Runs `netagent policy ARGS` and parses the JSON it prints. On failure the tool has already said
// why on stderr: its exit code is returned in *code.
netagent::Result<nlohmann::ordered_json> offline(const netctl::Context& ctx,
                                                 std::vector<std::string> args, bool audit,
                                                 int* code) {
  args.insert(args.begin(), "policy");
  if (audit) args.emplace_back("--policy-audit-mode");
  ctx.out->flush();  // what netctl printed so far goes first (the tool shares its stderr)
  auto run = netctl::run_agent_tool(args);
  if (!run) {
    *code = ctx.fail(run.error());
    return run.error();
  }
  if (run->exit_code != 0) {
    *code = run->exit_code == 2 ? netctl::kExitUsage : netctl::kExitFailed;
    return netagent::Error{"netagent policy failed"};
  }
  try {
    return nlohmann::ordered_json::parse(run->out);
  } catch (const nlohmann::json::exception& e) {
    *code = ctx.fail(netagent::Error{netctl::agent_binary() + " printed no JSON: " + e.what()});
    return netagent::Error{"bad output"};
  }
}

// The human form of a trace (the API's and the offline tool's JSON).
std::string format_trace(const json& t) {
  auto side = [](const json& s) {
    std::string out = s.value("endpoint", "");
    out += (out.empty() ? "" : " ") + std::string("(") + s.value("ip", "") + ", identity " +
           s.value("identity_name", "") + ")";
    return out;
  };
  std::string out = "flow:     " + side(t["source"]) + " -> " + side(t["destination"]) + " " +
                    t.value("protocol", "") + "/" + std::to_string(t.value("dport", 0)) + "\n";
  for (const char* dir : {"egress", "ingress"}) {
    const json& d = t[dir];
    std::string label = std::string(dir) + ":";
    label.resize(10, ' ');
    out += label + d.value("verdict", "");
    if (!d.value("endpoint", "").empty()) out += " at " + d.value("endpoint", "");
    if (!d.value("rule", "").empty()) out += " by " + d.value("rule", "");
    out += "\n";
  }
  out += std::string("verdict:  ") + (t.value("allowed", false) ? "ALLOWED" : "DENIED") + "\n";
  return out;
}

// The matrix as the Kubernetes e2e tests print it: "." reachable, "X" not; rows are sources.
std::string format_matrix(const nlohmann::ordered_json& m) {
  std::vector<std::string> pods = m.value("pods", std::vector<std::string>{});
  size_t w = 1;
  for (const auto& p : pods)
    w = std::max(w, p.size());
  auto pad = [&](const std::string& s) { return s + std::string(w - s.size() + 1, ' '); };
  auto line = [](std::string l) {
    l.pop_back();
    return l + "\n";
  };
  std::string head = pad("-");
  for (const auto& p : pods)
    head += pad(p);
  std::string out = line(head);
  const auto& allowed = m["allowed"];
  for (size_t i = 0; i < pods.size(); ++i) {
    std::string row = pad(pods[i]);
    for (size_t j = 0; j < pods.size(); ++j)
      row += pad(allowed.at(i).at(j).get<bool>() ? "." : "X");
    out += line(row);
  }
  return out;
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
          std::vector<std::string> args = {"trace",
                                           "--manifests",
                                           trace->manifests,
                                           "--dport",
                                           std::to_string(trace->dport),
                                           "--protocol",
                                           trace->protocol,
                                           "--policy-enforcement",
                                           trace->mode};
          for (auto [flag, v] :
               {std::pair{"--src", &trace->src}, std::pair{"--dst", &trace->dst},
                std::pair{"--src-ip", &trace->src_ip}, std::pair{"--dst-ip", &trace->dst_ip}}) {
            if (!v->empty()) args.insert(args.end(), {flag, *v});
          }
          int code = 0;
          auto r = offline(ctx, std::move(args), trace->audit, &code);
          if (!r) return code;
          result = json::parse(r->dump());
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
        ctx.print(result, [](const json& b, std::ostream& out) { out << format_trace(b); });
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
        int code = 0;
        auto r = offline(
            ctx,
            {"matrix", "--manifests", matrix->manifests, "--port", std::to_string(matrix->port),
             "--protocol", matrix->protocol, "--policy-enforcement", matrix->mode},
            matrix->audit, &code);
        if (!r) return code;
        // -o json keeps the tool's order: {"pods": [...], "allowed": [[...], ...]}.
        *ctx.out << (ctx.json() ? r->dump() + "\n" : format_matrix(*r));
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
