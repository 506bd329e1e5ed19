#include "netagent/policy/policy_reconciler.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "netagent/datapath/abi.hpp"
#include "netagent/datapath/attach.hpp"
#include "netagent/policy/decode.hpp"

namespace netagent::policy {

using nlohmann::json;

namespace {

// TC priority of the policy filters on an endpoint's veth (nothing else is attached there).
constexpr uint32_t kTcPriority = 1;

datapath::TcHook hook(uint32_t ifindex, datapath::TcDirection d) {
  return datapath::TcHook{int(ifindex), d, kTcPriority, 1};
}

// IPv4 addresses of this network namespace's interfaces, loopback aside.
std::vector<Ipv4Addr> local_addresses() {
  std::vector<Ipv4Addr> out;
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) != 0) return out;
  for (auto* i = ifs; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK))
      continue;
    auto a = Ipv4Addr::from_be(reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr);
    if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  }
  freeifaddrs(ifs);
  std::sort(out.begin(), out.end(), [](auto x, auto y) { return x.value < y.value; });
  return out;
}

}  // namespace

datapath::TcHook PolicyReconciler::endpoint_hook(uint32_t ifindex, datapath::TcDirection d) {
  return hook(ifindex, d);
}

const std::vector<std::string>& PolicyReconciler::own_programs() {
  // The programs this part attaches: the only ones it replaces or removes at its hooks.
  static const std::vector<std::string> names = {"policy_from_endpoint", "policy_to_endpoint"};
  return names;
}

PolicyReconciler::PolicyReconciler(boost::asio::io_context& io, Options options)
    : io_(io), opts_(std::move(options)), endpoints_(opts_.state_dir + "/endpoints.json") {
  settings_.mode = opts_.mode;
  settings_.audit = opts_.audit;
  settings_.node_name = opts_.node_name;
}

PolicyReconciler::~PolicyReconciler() = default;

void PolicyReconciler::register_kinds(k8s::KindRegistry& registry) {
  policy::register_kinds(registry);
}

Status PolicyReconciler::start() {
  std::error_code ec;
  std::filesystem::create_directories(opts_.state_dir, ec);
  if (ec) return Error{"create --state-dir " + opts_.state_dir + ": " + ec.message()};
  if (auto st = endpoints_.load(); !st) return st.error().wrap("read the registered endpoints");

  policy::PolicyDatapathOptions o;
  o.pin_root = opts_.bpf_root;
  auto dp = policy::PolicyDatapath::load(o);
  if (!dp) {
    return dp.error().wrap(
        "load the policy datapath (if pinned maps from an incompatible version are in the way, "
        "`netagent --cleanup` removes them)");
  }
  dp_ = std::move(*dp);
  auto state = dp_->read_state();
  if (!state) return state.error().wrap("read back the pinned policy maps");
  programmed_ = std::move(*state);

  auto reader = datapath::RingBufferReader::open(
      io_, dp_->events_fd(), [this](std::span<const uint8_t> b) { on_record(b); });
  if (!reader) return reader.error().wrap("read the flow events");
  events_ = std::move(*reader);

  // Endpoints from before a restart: program them first, then put the (new) programs on
  // their veths. Their filters are still attached; attaching replaces the program atomically.
  for (const auto& [id, ep] : endpoints_.all()) {
    auto idx = datapath::ifindex_of(ep.interface);
    if (!idx) {
      spdlog::warn(
          "policy: endpoint {} ({}): interface {} is gone; keeping the registration "
          "until the CNI plugin deletes it",
          id, ep.key(), ep.interface);
      continue;
    }
    endpoints_.find_mutable(id)->ifindex = uint32_t(*idx);
    if (auto why = interface_problem(ep.interface)) {
      // Registered by an earlier version that did not check: never attached again.
      endpoints_.find_mutable(id)->refused = *why;
      spdlog::warn(
          "policy: endpoint {} ({}): {}; its programs are not attached (delete the endpoint: "
          "DELETE /v1/endpoints/{})",
          id, ep.key(), *why, id);
    }
  }
  // The maps still hold what the previous run programmed: swap the new programs in at once
  // and leave the maps alone until the first snapshot (compiling an empty one now would open
  // every endpoint for a moment). If the maps were lost (a reboot cleared bpffs), packets drop
  // as from an unknown endpoint until then: fail closed.
  for (const auto& [id, ep] : endpoints_.all()) {
    if (!ep.ifindex || !ep.refused.empty()) continue;
    if (auto st = attach(*endpoints_.find_mutable(id)); !st) {
      spdlog::warn("policy: endpoint {} ({}): {}", id, ep.key(), st.error().str());
    }
  }
  spdlog::info("policy: enforcement {}{}, {} endpoints restored, {} map entries found",
               to_string(settings_.mode), settings_.audit ? " (audit mode)" : "",
               endpoints_.all().size(), programmed_.policy.entries.size());
  return {};
}

Status PolicyReconciler::apply(const store::Store& in) {
  snapshot_ = in.snapshot();
  remote_ = in.get<RemoteWorkloads>();
  return reprogram();
}

Status PolicyReconciler::reprogram() {
  // Until the first snapshot nothing is known about policy: keep what is programmed.
  if (!snapshot_) return {};
  auto t0 = std::chrono::steady_clock::now();
  auto in = policy::input_from_snapshot(*snapshot_);
  if (!in) return in.error().wrap("read the policies");
  if (auto st = cluster_from_settings(snapshot_->settings, settings_); !st) return st;
  if (remote_) {
    in->remote_identities = remote_->identities;
    in->remote_addresses = remote_->addresses;
  }
  // Registered endpoints are this node's pods with the addresses the CNI gave them; labels
  // come from the Pod manifest when there is one, else from the registration.
  std::vector<policy::LocalEndpoint> locals;
  for (const auto& [id, ep] : endpoints_.all()) {
    auto w = std::find_if(in->workloads.begin(), in->workloads.end(),
                          [&](const auto& w) { return w.ns == ep.ns && w.name == ep.pod; });
    if (w == in->workloads.end()) {
      policy::Workload nw;
      nw.ns = ep.ns;
      nw.name = ep.pod;
      nw.labels = ep.labels;
      in->workloads.push_back(std::move(nw));
      w = std::prev(in->workloads.end());
    }
    w->ips = ep.ips;
    w->node = settings_.node_name;
    locals.push_back(policy::LocalEndpoint{ep.ns, ep.pod, id, ep.ifindex, std::nullopt, ep.ips});
  }
  settings_.host_ips = local_addresses();
  auto cp = policy::compile(*in, compile_options(settings_));
  if (!cp) return cp.error().wrap("compile the policies");
  std::vector<std::string> unknown;
  auto desired = policy::datapath_state(*cp, locals, &unknown);
  auto d = policy::diff(programmed_, desired);
  if (!d.empty()) {
    if (auto st = dp_->apply(d); !st) {
      // Whatever part was written is in the kernel: read it back so the next attempt diffs
      // against the truth.
      if (auto s = dp_->read_state()) programmed_ = std::move(*s);
      return st.error().wrap("program the policy maps");
    }
    spdlog::info("policy: {} map writes (policy +{} -{}, ipcache +{} -{}, endpoints +{} -{})",
                 d.size(), d.policy.upserts.size(), d.policy.deletes.size(),
                 d.ipcache.upserts.size(), d.ipcache.deletes.size(), d.endpoints.upserts.size(),
                 d.endpoints.deletes.size());
  }
  programmed_ = std::move(desired);
  last_diff_ = d.size();
  applies_++;
  // Unsupported features (L7, toFQDNs, ...) are enforced as documented, never silently: each
  // is logged once and listed in status.
  for (const auto& s : cp->statuses) {
    for (const auto& w : s.warnings) {
      std::string line = s.display() + ": " + w;
      if (warned_.insert(line).second) spdlog::warn("policy: {}", line);
    }
  }
  for (const auto& w : cp->warnings) {
    if (warned_.insert(w).second) spdlog::warn("policy: {}", w);
  }
  for (const auto& u : unknown) {
    if (std::find(unknown_.begin(), unknown_.end(), u) == unknown_.end()) {
      spdlog::warn("policy: endpoint {} is not known to the compiler and gets no entries", u);
    }
  }
  unknown_ = std::move(unknown);
  cp_ = std::make_unique<policy::CompiledPolicy>(std::move(*cp));
  // Endpoints registered before the first snapshot get their programs now that their entries
  // exist, and so do those whose veth carried another tool's program at our hook (a resync
  // retries them once it is gone). An uplink or loopback endpoint is never attached.
  for (const auto& [id, ep] : endpoints_.all()) {
    if (!ep.ifindex || ep.attached || interface_problem(ep.interface)) continue;
    Endpoint& m = *endpoints_.find_mutable(id);
    const std::string before = m.refused;
    if (auto st = attach(m); !st) {
      if (m.refused.empty() || m.refused != before) {
        spdlog::warn("policy: endpoint {} ({}): {}", id, ep.key(), st.error().str());
      }
    } else if (!before.empty()) {
      spdlog::info("policy: endpoint {} ({}): programs attached to {}", id, ep.key(), ep.interface);
    }
  }
  if (apply_seconds_) {
    apply_seconds_->observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return {};
}

Result<store::DriftReport> PolicyReconciler::verify_datapath() {
  store::DriftReport report;
  if (!dp_) return report;
  // The maps against what this part programmed (read back at start, then every apply).
  auto r = policy::repair_drift(dp_->maps(), programmed_);
  if (!r) {
    // What was rewritten before the failure is in the kernel: diff against the truth next.
    if (auto s = dp_->read_state()) programmed_ = std::move(*s);
    return r.error().wrap("check the policy maps");
  }
  for (const auto& [map, e] : r->maps)
    report.maps[map] = store::MapDrift{e.missing, e.extra, e.changed};
  report.entries_checked = r->checked;
  // The programs on each attached endpoint's veth (while it is still the registered one).
  for (const auto& [id, ep] : endpoints_.all()) {
    if (!ep.attached || !ep.ifindex) continue;
    auto idx = datapath::ifindex_of(ep.interface);
    if (!idx || uint32_t(*idx) != ep.ifindex) continue;
    bool ok = true;
    for (auto [d, fd] : {std::pair{datapath::TcDirection::Ingress, dp_->from_endpoint_fd()},
                         std::pair{datapath::TcDirection::Egress, dp_->to_endpoint_fd()}}) {
      auto runs = datapath::tc_runs(hook(ep.ifindex, d), fd);
      if (!runs) return runs.error().wrap("check the policy programs on " + ep.interface);
      ok = ok && *runs;
    }
    if (ok) continue;
    if (auto st = attach(*endpoints_.find_mutable(id)); !st) {
      // Another tool's program at the hook is left in place (the endpoint shows it as
      // refused); other endpoints are still checked.
      if (st.error().errnum != EEXIST) return st.error();
      report.unrepaired.push_back("endpoint " + std::to_string(id) + ": " + st.error().str());
      continue;
    }
    report.attachments.push_back("tc on " + ep.interface + " (endpoint " + std::to_string(id) +
                                 ")");
  }
  return report;
}

Status PolicyReconciler::attach(Endpoint& ep) {
  if (auto why = interface_problem(ep.interface)) {
    ep.refused = *why;
    return Error{*why};
  }
  // Ingress of the host veth carries what the pod sends (its egress policy), egress of the
  // host veth what is delivered to it (its ingress policy). Another tool's filter at our
  // handle and priority is never replaced (EEXIST).
  if (auto st = datapath::tc_attach_owned(hook(ep.ifindex, datapath::TcDirection::Ingress),
                                          dp_->from_endpoint_fd(), own_programs());
      !st) {
    if (st.error().errnum == EEXIST) ep.refused = st.error().message;
    return st.error().wrap("attach the egress policy program to " + ep.interface);
  }
  if (auto st = datapath::tc_attach_owned(hook(ep.ifindex, datapath::TcDirection::Egress),
                                          dp_->to_endpoint_fd(), own_programs());
      !st) {
    if (st.error().errnum == EEXIST) ep.refused = st.error().message;
    // Not half attached: take the ingress program off again.
    (void)datapath::tc_detach_owned(hook(ep.ifindex, datapath::TcDirection::Ingress),
                                    own_programs());
    return st.error().wrap("attach the ingress policy program to " + ep.interface);
  }
  ep.attached = true;
  ep.refused.clear();
  return {};
}

void PolicyReconciler::detach(const Endpoint& ep) {
  // Only when the interface is still the one registered (the CNI may have deleted the veth,
  // and its ifindex may have been reused), and only the programs this part attached: a filter
  // of the LB (an uplink registered by an earlier version) or of another tool stays.
  auto idx = datapath::ifindex_of(ep.interface);
  if (!idx || uint32_t(*idx) != ep.ifindex) return;
  for (auto d : {datapath::TcDirection::Ingress, datapath::TcDirection::Egress}) {
    if (auto st = datapath::tc_detach_owned(hook(ep.ifindex, d), own_programs()); !st) {
      spdlog::warn("policy: detach from {}: {}", ep.interface, st.error().str());
    }
  }
}

std::optional<std::string> PolicyReconciler::interface_problem(const std::string& name) const {
  bool loopback = false;
  if (unsigned idx = if_nametoindex(name.c_str()); idx != 0) {
    ifaddrs* ifs = nullptr;
    if (getifaddrs(&ifs) == 0) {
      for (auto* i = ifs; i; i = i->ifa_next) {
        if (name == i->ifa_name && (i->ifa_flags & IFF_LOOPBACK)) loopback = true;
      }
      freeifaddrs(ifs);
    }
  }
  return interface_refusal(name, loopback || name == "lo", opts_.devices);
}

void PolicyReconciler::register_metrics(metrics::Registry& registry) {
  registrations_refused_ =
      &registry.counter("netagent_policy_endpoint_registrations_refused_total",
                        "Endpoint registrations (POST /v1/endpoints) refused, by reason: uplink, "
                        "loopback, no_interface, outside_pod_cidrs, no_pod_cidrs, "
                        "foreign_program",
                        {"reason"});
  flow_events_ = &registry.counter("netagent_policy_flow_events_total",
                                   "Flow events of the policy datapath read from the ring "
                                   "buffer, by direction, verdict and drop reason",
                                   {"direction", "verdict", "reason"});
  apply_seconds_ = &registry
                        .histogram("netagent_policy_apply_seconds",
                                   "Time to compile the policies and apply the map diff", {},
                                   {0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5})
                        .get();
  registry.add_collector("policy", [this](metrics::Collection& c) {
    if (!dp_) return;
    if (auto counters = dp_->counters()) {
      for (unsigned dir : {FLOW_DIR_INGRESS, FLOW_DIR_EGRESS}) {
        for (unsigned v : {FLOW_VERDICT_FORWARDED, FLOW_VERDICT_DROPPED, FLOW_VERDICT_AUDIT}) {
          const auto& n = counters->verdicts[dir * POLICY_VERDICT_SLOTS + v];
          c.counter("netagent_policy_verdicts_total",
                    "Packets the policy programs decided (new flows), by direction and verdict",
                    {{"direction", dir == FLOW_DIR_EGRESS ? "egress" : "ingress"},
                     {"verdict", verdict_name(uint8_t(v))}},
                    double(n.packets));
        }
      }
      for (unsigned r = 1; r < __DROP_REASON_MAX; ++r) {
        if (!counters->drops[r].packets) continue;
        c.counter("netagent_policy_drops_total", "Packets dropped by the policy programs",
                  {{"reason", datapath::drop_reason_name(r)}}, double(counters->drops[r].packets));
      }
    }
    c.gauge("netagent_policy_endpoints", "Endpoints registered on this node", {},
            double(endpoints_.all().size()));
    c.gauge("netagent_policy_identities", "Security identities known", {},
            cp_ ? double(cp_->identities.size()) : 0);
    c.gauge("netagent_policy_map_entries", "Policy map entries programmed", {},
            double(programmed_.policy.entries.size()));
    c.gauge("netagent_policy_ipcache_entries", "ipcache entries programmed", {},
            double(programmed_.ipcache.entries.size()));
    size_t unsupported = 0;
    if (cp_) {
      for (const auto& s : cp_->statuses)
        unsupported += s.warnings.size();
    }
    c.gauge("netagent_policy_unsupported_rules",
            "Policy fields this datapath does not enforce as written (L7, toFQDNs, ...)", {},
            double(unsupported));
  });
}

void PolicyReconciler::stop() {
  for (const auto& s : subscribers_)
    s->stream->close();
  subscribers_.clear();
  events_.reset();
}

Status PolicyReconciler::cleanup() {
  if (auto st = endpoints_.load(); !st) return st;
  for (const auto& [id, ep] : endpoints_.all()) {
    auto idx = datapath::ifindex_of(ep.interface);
    if (!idx) continue;
    for (auto d : {datapath::TcDirection::Ingress, datapath::TcDirection::Egress}) {
      if (auto st = datapath::tc_detach_owned(hook(uint32_t(*idx), d), own_programs()); !st) {
        spdlog::warn("policy: cleanup of endpoint {}: {}", ep.key(), st.error().str());
      }
    }
  }
  std::error_code ec;
  std::filesystem::remove(endpoints_.path(), ec);
  return {};
}

}  // namespace netagent::policy
