#include "netagent/policy/offline_command.hpp"

#include <CLI/CLI.hpp>
#include <ostream>

#include <nlohmann/json.hpp>

#include "netagent/policy/policy_tools.hpp"

namespace netagent::policy {

namespace {

struct Options {
  std::string manifests, src, dst, src_ip, dst_ip, protocol = "TCP", mode = "default";
  int dport = 0;
  int port = 80;
  bool audit = false;
};

Result<CompiledPolicy> compile_offline(const Options& o) {
  auto m = parse_enforcement_mode(o.mode);
  if (!m) {
    return Error{"--policy-enforcement \"" + o.mode + "\" is not default, always or never"};
  }
  auto snap = load_manifests(o.manifests);
  if (!snap) return snap.error();
  PolicySettings s;
  s.mode = *m;
  s.audit = o.audit;
  s.synthesize_pod_ips = true;
  return compile(**snap, compile_options(s));
}

Result<nlohmann::json> run_trace(const Options& o) {
  auto cp = compile_offline(o);
  if (!cp) return cp.error();
  auto req = trace_request({{"src", o.src},
                            {"dst", o.dst},
                            {"src_ip", o.src_ip},
                            {"dst_ip", o.dst_ip},
                            {"dport", std::to_string(o.dport)},
                            {"protocol", o.protocol}});
  if (!req) return req.error();
  return trace(*cp, *req);
}

Result<nlohmann::ordered_json> run_matrix(const Options& o) {
  auto cp = compile_offline(o);
  if (!cp) return cp.error();
  auto proto = parse_protocol(o.protocol);
  if (!proto) return proto.error();
  auto r = matrix(*cp, uint16_t(o.port), *proto);
  if (!r) return r.error();
  // {"pods": [...], "allowed": [[...], ...]}, in this order.
  nlohmann::ordered_json out;
  out["pods"] = r->pods();
  out["allowed"] = nlohmann::ordered_json::array();
  for (size_t i = 0; i < r->pods().size(); ++i) {
    auto row = nlohmann::ordered_json::array();
    for (size_t j = 0; j < r->pods().size(); ++j)
      row.push_back(r->at(i, j));
    out["allowed"].push_back(std::move(row));
  }
  return out;
}

void common_options(CLI::App* c, Options& o) {
  c->add_option("--protocol", o.protocol, "TCP, UDP, SCTP or ICMP")->capture_default_str();
  c->add_option("--policy-enforcement", o.mode, "default, always or never")->capture_default_str();
  c->add_flag("--policy-audit-mode", o.audit, "Audit mode (everything passes)");
}

}  // namespace

int offline_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Options o;
  CLI::App app(
      "Policy questions about a manifest tree, answered offline by the kernel's policy "
      "program (as JSON)",
      "netagent policy");
  app.require_subcommand(1);
  CLI::App* t = app.add_subcommand("trace", "The verdict of each direction of a flow");
  t->add_option("--manifests", o.manifests, "Manifest tree")->required()->type_name("DIR");
  t->add_option("--src", o.src, "Source pod")->type_name("NS/POD");
  t->add_option("--dst", o.dst, "Destination pod")->type_name("NS/POD");
  t->add_option("--src-ip", o.src_ip, "Source address (outside the cluster)")->type_name("IP");
  t->add_option("--dst-ip", o.dst_ip, "Destination address (outside the cluster)")->type_name("IP");
  t->add_option("--dport", o.dport, "Destination port")->required()->check(CLI::Range(1, 65535));
  common_options(t, o);
  CLI::App* m = app.add_subcommand("matrix", "Reachability of every pod pair");
  m->add_option("--manifests", o.manifests, "Manifest tree")->required()->type_name("DIR");
  m->add_option("--port", o.port, "Destination port")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  common_options(m, o);

  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    return app.exit(e, out, err) == 0 ? 0 : 2;
  }
  auto fail = [&](const Error& e) {
    err << "netagent policy: " << e.message << "\n";
    return 1;
  };
  if (t->parsed()) {
    auto r = run_trace(o);
    if (!r) return fail(r.error());
    out << r->dump() << "\n";
  } else {
    auto r = run_matrix(o);
    if (!r) return fail(r.error());
    out << r->dump() << "\n";
  }
  return 0;
}

}  // namespace netagent::policy
