#include "netagent/lb/service_reconciler.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <tuple>

#include "netagent/datapath/abi.hpp"

namespace netagent::lb {
namespace {

constexpr std::chrono::seconds kGcInterval{10};

const char* proto_name(uint8_t p) {
  return p == IPPROTO_TCP ? "TCP" : p == IPPROTO_UDP ? "UDP" : "?";
}

FrontendType type_of(uint16_t flags) {
  if (flags & LB_SVC_F_LOAD_BALANCER) return FrontendType::LoadBalancer;
  if (flags & LB_SVC_F_NODE_PORT) return FrontendType::NodePort;
  if (flags & LB_SVC_F_EXTERNAL_IP) return FrontendType::ExternalIP;
  return FrontendType::ClusterIP;
}

// IPv4 addresses of the given devices in this network namespace.
std::vector<Ipv4Addr> device_addresses(const std::vector<std::string>& devices) {
  std::vector<Ipv4Addr> out;
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) != 0) return out;
  for (auto* i = ifs; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    if (std::find(devices.begin(), devices.end(), i->ifa_name) == devices.end()) continue;
    auto* sin = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
    out.push_back(Ipv4Addr::from_be(sin->sin_addr.s_addr));
  }
  freeifaddrs(ifs);
  return out;
}

}  // namespace

ServiceReconciler::ServiceReconciler(boost::asio::io_context& io, store::Store& store,
                                     Options options)
    : store_(store), opts_(std::move(options)), gc_timer_(io) {}

ServiceReconciler::~ServiceReconciler() = default;

Status ServiceReconciler::start() {
  lb::LbDatapathOptions o = opts_.datapath;
  auto seed = lb::MaglevSeed::parse(opts_.maglev_hash_seed);
  if (!seed) return seed.error();
  o.seed = *seed;
  auto dp = lb::LbDatapath::load(o);
  if (!dp) {
    return dp.error().wrap(
        "load the LB datapath (if pinned maps from an incompatible version are in the way, "
        "`netagent --cleanup` removes them)");
  }
  dp_ = std::move(*dp);
  maps_ = std::make_unique<lb::ServiceMaps>(*dp_);
  if (auto st = maps_->restore(); !st) return st.error().wrap("read back the pinned LB maps");
  if (!maps_->frontends().empty()) {
    spdlog::info("lb: found {} frontends and {} backends programmed by a previous run",
                 maps_->frontends().size(), maps_->backend_addrs().size());
  }
  if (auto st = dp_->attach_cgroup(opts_.cgroup); !st) return st.error().wrap("socket LB");
  if (auto st = dp_->attach_devices(opts_.devices); !st) return st.error().wrap("NodePort LB");
  spdlog::info("lb: socket LB on cgroup {}, NodePort/LoadBalancer LB on [{}], Maglev M={}",
               opts_.cgroup, fmt::join(opts_.devices, ", "), o.maglev_table_size);
  schedule_gc();
  return {};
}

lb::NodeView ServiceReconciler::node(const k8s::Snapshot& snapshot) const {
  auto v = lb::node_view(snapshot, opts_.node_name);
  for (auto a : device_addresses(opts_.devices)) {
    if (std::find(v.addresses.begin(), v.addresses.end(), a) == v.addresses.end()) {
      v.addresses.push_back(a);
    }
  }
  return v;
}

Status ServiceReconciler::apply(const store::Store& in) {
  auto t0 = std::chrono::steady_clock::now();
  const auto& snapshot = *in.snapshot();
  // The LoadBalancer IPs are built only when everything is compiled: they change with LB IPAM's
  // allocation (its generation in the store) or a Service's status (the Services' digests).
  auto allocation = in.get<ipam::Allocation>();
  lb::LoadBalancerIpsSource lb_ips;
  lb_ips.generation = in.generation<ipam::Allocation>();
  lb_ips.build = [&] {
    lb::LoadBalancerIps ips;
    if (allocation) {
      for (const auto& [key, s] : allocation->services) {
        for (const auto& ip : s.ips)
          ips[key].push_back(ip.ip);
      }
    }
    // Without LB IPAM, a LoadBalancer IP set in the Service's status is served (a real
    // cluster's API shows the address an external allocator gave).
    for (const auto& svc : snapshot.services) {
      if (ips.count(svc.meta.key())) continue;
      for (const auto& ip : svc.status_ingress_ips) {
        if (ip.is_v4()) ips[svc.meta.key()].push_back(ip.as_v4());
      }
    }
    return ips;
  };
  lb::ModelOptions opts;
  opts.nodeport_min = opts_.datapath.nodeport_min;
  opts.nodeport_max = opts_.datapath.nodeport_max;
  extra_ = in.get<ExtraBackends>();
  auto changes = changes_.update(snapshot, node(snapshot), lb_ips, opts, extra_.get(),
                                 in.generation<ExtraBackends>());
  // The first apply after start (or after a failed one) is complete: it also removes what was
  // programmed for services deleted while the agent was down. Later ones touch only the
  // services that changed.
  auto st = applied_once_ ? maps_->apply_changes(changes.services, changes.backends)
                          : maps_->apply(changes_.current());
  // Failed or not, readers learn what the maps serve now (a failed commit may have written part
  // of the change; what it did not write is not announced).
  publish_served();
  if (changes.full) update_problems();
  if (!st) {
    // The model has moved on to what could not be programmed: the retry applies the complete
    // desired state, diffed against what the maps hold, not just the next change.
    applied_once_ = false;
    const int e = st.error().errnum;
    count_failure(e == E2BIG || e == ENOSPC ? "map_full" : "map_write");
    // Every service the maps do not serve as desired, with the reason.
    std::map<std::string, std::string> np;
    for (const auto& f : changes_.current().frontends) {
      if (!np.count(f.service) && !maps_->programmed(f)) np[f.service] = st.error().str();
    }
    set_not_programmed(std::move(np));
    return st.error();
  }
  if (!st->not_programmed.empty()) {
    // Everything that fits is programmed; the rest stays reported (status, GET /v1/services,
    // metrics) and is retried, completely, with back-off until it fits.
    applied_once_ = false;
    count_failure("capacity");
    const size_t n = st->not_programmed.size();
    const auto [first, why] = *st->not_programmed.begin();
    set_not_programmed(std::move(st->not_programmed));
    last_stats_ = *st;
    return Error{std::to_string(n) + " service(s) not programmed (" + first +
                 (n > 1 ? " and others" : "") + ": " + why + "); GET /v1/services lists them"};
  }
  applied_once_ = true;
  set_not_programmed({});
  if (st->changed()) {
    spdlog::info(
        "lb: frontends +{} ~{} -{}, backends +{} -{}, Maglev tables {} written, {} map writes",
        st->frontends_added, st->frontends_updated, st->frontends_removed, st->backends_added,
        st->backends_removed, st->maglev_tables_written, st->map_writes);
  }
  last_stats_ = *st;
  if (apply_seconds_) {
    apply_seconds_->observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return {};
}

// The model's problems (each new one logged once) and the ports left without a NodePort.
void ServiceReconciler::update_problems() {
  const auto& problems = changes_.current().problems;
  size_t no_nodeport = 0;
  for (const auto& p : problems) {
    if (p.kind == lb::ProblemKind::NodePortRangeExhausted) no_nodeport++;
    bool known = std::any_of(problems_.begin(), problems_.end(), [&](const auto& q) {
      return q.service == p.service && q.message == p.message;
    });
    if (!known) spdlog::warn("lb: {}: {}", p.service, p.message);
  }
  problems_ = problems;
  ports_without_nodeport_ = no_nodeport;
}

void ServiceReconciler::set_not_programmed(std::map<std::string, std::string> services) {
  if (services == not_programmed_) return;
  if (services.empty()) {
    spdlog::info("lb: every service is programmed again");
  } else {
    size_t shown = 0;
    for (const auto& [svc, why] : services) {
      if (not_programmed_.count(svc)) continue;
      if (++shown > 10) break;
      spdlog::warn("lb: {}: not programmed: {}", svc, why);
    }
    spdlog::warn("lb: {} service(s) not programmed (GET /v1/services lists them)", services.size());
  }
  not_programmed_ = std::move(services);
}

void ServiceReconciler::count_failure(const std::string& reason) {
  failures_[reason]++;
}

Result<store::DriftReport> ServiceReconciler::verify_datapath() {
  store::DriftReport report;
  if (!dp_ || !maps_) return report;
  // Attachments first: without its programs no entry matters.
  auto att = dp_->restore_attachments(opts_.cgroup, opts_.devices);
  if (!att) return att.error().wrap("check the LB program attachments");
  report.attachments = std::move(att->restored);
  report.unrepaired = std::move(att->left);
  // The maps against the mirror (what this part wrote); a failed apply left the mirror true,
  // so this never writes what the model wants but could not program.
  auto v = maps_->verify();
  if (!v) return v.error().wrap("check the LB maps");
  for (const auto& [map, r] : v->maps)
    report.maps[map] = store::MapDrift{r.missing, r.extra, r.changed};
  report.entries_checked = v->checked;
  return report;
}

void ServiceReconciler::publish_served() {
  ServedFrontends now;
  for (const auto& [key, f] : maps_->frontends()) {
    if (!f.head || f.service.empty()) continue;  // slot 0 missing, or not ours yet
    now.frontends.emplace(key, ServedFrontends::Entry{f.service, type_of(f.flags)});
  }
  if (served_ && *served_ == now) return;
  served_ = std::make_shared<const ServedFrontends>(std::move(now));
  store_.publish<ServedFrontends>(served_, name());
}

void ServiceReconciler::schedule_gc() {
  gc_timer_.expires_after(kGcInterval);
  gc_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || !dp_) return;
    // Backends retired by in-place updates (see ServiceMaps) whose grace has passed.
    if (auto r = maps_->collect_retired(); !r) {
      spdlog::warn("lb: remove retired backends: {}", r.error().str());
    } else if (*r > 0) {
      spdlog::debug("lb: removed {} retired backends", *r);
    }
    auto st = lb::conntrack_gc_pass(*dp_, maps_->service_ids());
    if (st) {
      last_gc_ = *st;
      gc_removed_total_ += st->removed;
    } else {
      spdlog::warn("lb: conntrack GC: {}", st.error().str());
    }
    schedule_gc();
  });
}

void ServiceReconciler::stop() {
  // Only background work stops: maps, programs and attachments stay for the next agent.
  gc_timer_.cancel();
}

Status ServiceReconciler::cleanup() {
  return lb::LbDatapath::detach_all(opts_.datapath.pin_root.value_or(""), opts_.cgroup,
                                    opts_.devices);
}

nlohmann::json ServiceReconciler::status() const {
  return {{"frontends", maps_ ? maps_->frontends().size() : 0},
          {"backends", maps_ ? maps_->backend_addrs().size() : 0},
          {"maglev_tables", maps_ ? maps_->maglev_tables() : 0},
          {"retired_backends", maps_ ? maps_->retired_backends() : 0},
          {"problems", problems_.size()},
          {"ports_without_nodeport", ports_without_nodeport_},
          {"not_programmed", not_programmed_json(20)},
          {"maps", usage_json()},
          {"last_apply",
           {{"map_writes", last_stats_.map_writes},
            {"maglev_tables_in_place", last_stats_.maglev_tables_in_place},
            {"seconds", std::chrono::duration<double>(last_stats_.duration).count()}}},
          {"conntrack", {{"entries", last_gc_.scanned}, {"gc_removed_total", gc_removed_total_}}}};
}

// Services the maps do not serve as desired: how many, and the first `limit` with the reason.
nlohmann::json ServiceReconciler::not_programmed_json(size_t limit) const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [svc, why] : not_programmed_) {
    if (list.size() >= limit) break;
    list.push_back({{"service", svc}, {"reason", why}});
  }
  return {{"count", not_programmed_.size()}, {"services", list}};
}

nlohmann::json ServiceReconciler::usage_json() const {
  if (!maps_) return nullptr;
  const auto u = maps_->usage();
  auto one = [](size_t used, size_t max) { return nlohmann::json{{"used", used}, {"max", max}}; };
  return {{"service_entries", one(u.service_entries, u.service_entries_max)},
          {"backends", one(u.backends, u.backends_max)},
          {"service_ids", one(u.service_ids, u.service_ids_max)},
          {"maglev_tables", one(u.tables, u.tables_max)}};
}

nlohmann::json ServiceReconciler::services_json() const {
  using nlohmann::json;
  // One row per frontend, grouped by service, with each backend and its state.
  json rows = json::array();
  const auto& desired = changes_.current();
  for (const auto& f : desired.frontends) {
    json backends = json::array();
    for (const auto& b : f.backends) {
      json be = {{"address", b.str()}};
      auto info = desired.backends.find(b);
      if (info != desired.backends.end()) {
        be["state"] = info->second.terminating ? "terminating" : "active";
        be["local"] = info->second.local;
        be["node"] = info->second.node;
        be["pod"] = info->second.pod;
        be["cluster"] = info->second.cluster.empty() ? "local" : info->second.cluster;
      }
      backends.push_back(be);
    }
    auto prog = maps_->frontends().find(f.key);
    const bool programmed = maps_->programmed(f);
    std::string reason;
    if (auto np = not_programmed_.find(f.service); np != not_programmed_.end()) {
      reason = np->second;
    }
    rows.push_back(
        {{"service", f.service},
         {"port", f.port_name},
         {"type", lb::to_string(f.type)},
         {"frontend", f.key.str()},
         {"id", prog == maps_->frontends().end() || !prog->second.head ? 0 : prog->second.svc_id},
         {"flags", f.flags},
         {"maglev", bool(f.flags & LB_SVC_F_MAGLEV)},
         {"programmed", programmed},
         {"state", programmed ? "programmed" : "not programmed"},
         {"reason", reason},
         {"backends", backends}});
  }
  json problems = json::array();
  for (const auto& p : problems_) {
    problems.push_back({{"service", p.service}, {"message", p.message}});
  }
  for (const auto& [svc, why] : not_programmed_) {
    problems.push_back({{"service", svc}, {"message", "not programmed: " + why}});
  }
  return {{"services", rows}, {"problems", problems}, {"not_programmed", not_programmed_.size()}};
}

nlohmann::json ServiceReconciler::maps_json() const {
  using nlohmann::json;
  // What is actually in the kernel, read now.
  json frontends = json::array();
  std::map<std::pair<lb::FrontendKey, uint16_t>, lb4_svc_value> entries;
  (void)dp_->services.for_each([&](const lb4_svc_key& k, const lb4_svc_value& v) {
    entries[{lb::FrontendKey{Ipv4Addr::from_be(k.address), ntohs(k.dport), k.proto, k.scope},
             k.backend_slot}] = v;
  });
  std::map<uint32_t, lb4_backend> backends;
  (void)dp_->backends.for_each([&](const uint32_t& id, const lb4_backend& b) { backends[id] = b; });
  auto be_str = [&](uint32_t id) {
    auto it = backends.find(id);
    if (it == backends.end()) return std::string("#") + std::to_string(id) + " (missing)";
    return Ipv4Addr::from_be(it->second.address).str() + ":" +
           std::to_string(ntohs(it->second.port)) + " (#" + std::to_string(id) + ")";
  };
  for (const auto& [k, v] : entries) {
    if (k.second != 0) continue;
    json slots = json::array();
    for (uint16_t s = 1; s <= v.count; ++s) {
      auto it = entries.find({k.first, s});
      slots.push_back(it == entries.end() ? std::string("(slot missing)")
                                          : be_str(it->second.backend_id));
    }
    frontends.push_back({{"frontend", k.first.str()},
                         {"id", v.svc_id},
                         {"type", lb::to_string(type_of(v.flags))},
                         {"count", v.count},
                         {"maglev_table", v.backend_id},
                         {"flags", v.flags},
                         {"backends", slots}});
  }
  json bes = json::array();
  for (const auto& [id, b] : backends) {
    bes.push_back(
        {{"id", id},
         {"address", Ipv4Addr::from_be(b.address).str() + ":" + std::to_string(ntohs(b.port))},
         {"protocol", proto_name(b.proto)},
         {"local", bool(b.flags & LB_BE_F_LOCAL)},
         {"terminating", bool(b.flags & LB_BE_F_TERMINATING)}});
  }
  return {{"frontends", frontends},
          {"backends", bes},
          {"maglev_tables", maps_->maglev_tables()},
          {"maglev_table_size", dp_->options().maglev_table_size}};
}

nlohmann::json ServiceReconciler::conntrack_json(size_t limit) const {
  using nlohmann::json;
  json rows = json::array();
  const uint64_t now = lb::monotonic_coarse_ns();
  size_t total = 0;
  (void)dp_->conntrack.for_each([&](const ct4_key& k, const ct4_value& v) {
    total++;
    if (rows.size() >= limit) return;
    auto ep = [](uint32_t a, uint16_t p) {
      return Ipv4Addr::from_be(a).str() + ":" + std::to_string(ntohs(p));
    };
    std::string flags;
    if (v.flags & CT_F_SEEN_REPLY) flags += "replied ";
    if (v.flags & CT_F_CLOSING) flags += "closing ";
    if (v.flags & CT_F_ACTIVE) flags += "active ";
    if (!flags.empty()) flags.pop_back();
    rows.push_back({{"direction", k.dir == CT_DIR_FORWARD ? "forward" : "reply"},
                    {"protocol", proto_name(k.proto)},
                    {"source", ep(k.saddr, k.sport)},
                    {"destination", ep(k.daddr, k.dport)},
                    {"nat", ep(v.nat_addr, v.nat_port)},
                    {"service_id", v.svc_id},
                    {"backend_id", v.backend_id},
                    {"age_seconds", now > v.created_ns ? (now - v.created_ns) / 1000000000ull : 0},
                    {"flags", flags}});
  });
  return {{"entries", rows}, {"total", total}};
}

void ServiceReconciler::register_api(api::Router& router) {
  router.get("/v1/services", [this](const api::Request&) -> api::Reply {
    if (!maps_) return api::unavailable("the LB datapath is not loaded yet");
    return services_json();
  });
  router.get("/v1/bpf/lb", [this](const api::Request&) -> api::Reply {
    if (!dp_) return api::unavailable("the LB datapath is not loaded yet");
    return maps_json();
  });
  router.get("/v1/bpf/ct", [this](const api::Request& r) -> api::Reply {
    if (!dp_) return api::unavailable("the LB datapath is not loaded yet");
    size_t limit = 1000;
    if (auto l = r.query_value("limit")) {
      try {
        limit = std::stoul(*l);
      } catch (...) {
        return api::bad_request("limit must be a number, got \"" + *l + "\"");
      }
    }
    return conntrack_json(limit);
  });
}

void ServiceReconciler::register_metrics(metrics::Registry& registry) {
  apply_seconds_ = &registry
                        .histogram("netagent_lb_apply_seconds",
                                   "Time to apply a snapshot's services to the LB maps", {},
                                   {0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5})
                        .get();
  registry.add_collector("lb", [this](metrics::Collection& c) {
    if (!dp_) return;
    // Per-CPU counters are summed at scrape time: the datapath never touches a shared line.
    for (unsigned r = 1; r < __DROP_REASON_MAX; ++r) {
      auto v = dp_->drops.read(r);
      if (!v) continue;
      uint64_t packets = 0;
      for (const auto& d : *v)
        packets += d.packets;
      if (packets == 0 && std::string(datapath::drop_reason_name(r)) == "unknown") continue;
      c.counter("netagent_datapath_drops_total",
                "Packets dropped by the LB datapath, by drop reason",
                {{"reason", datapath::drop_reason_name(r)}}, double(packets));
    }
    for (unsigned i : {LB_CNT_SVC_NEW, LB_CNT_SVC_EST, LB_CNT_REVNAT, LB_CNT_SOCK_CONNECT,
                       LB_CNT_SOCK_REVNAT, LB_CNT_PASS, LB_CNT_SNAT, LB_CNT_SNAT_REVERSE}) {
      auto v = dp_->counters.read(i);
      if (!v) continue;
      uint64_t n = 0;
      for (auto x : *v)
        n += x;
      c.counter("netagent_lb_packets_total", "Packets and socket calls seen by the LB datapath",
                {{"event", datapath::lb_counter_name(i)}}, double(n));
    }
    c.gauge("netagent_lb_frontends", "Service frontends programmed", {},
            double(maps_->frontends().size()));
    c.gauge("netagent_lb_backends", "Backends programmed", {},
            double(maps_->backend_addrs().size()));
    c.gauge("netagent_lb_maglev_tables", "Maglev lookup tables programmed", {},
            double(maps_->maglev_tables()));
    c.gauge("netagent_lb_backends_retired",
            "Backends no longer used, kept through their grace before removal", {},
            double(maps_->retired_backends()));
    c.gauge("netagent_lb_services_not_programmed",
            "Services the LB maps do not serve as desired (capacity, failed writes)", {},
            double(not_programmed_.size()));
    for (const auto& [reason, n] : failures_) {
      c.counter("netagent_lb_apply_failures_total",
                "LB applies that left services not programmed, by reason (capacity: the maps "
                "are full, map_full: the kernel refused a write as full, map_write: another "
                "write error)",
                {{"reason", reason}}, double(n));
    }
    c.gauge("netagent_lb_ports_without_nodeport",
            "Service ports that got no NodePort because the NodePort range is used up", {},
            double(ports_without_nodeport_));
    const auto u = maps_->usage();
    for (auto [map, used, max] : {std::tuple{"services", u.service_entries, u.service_entries_max},
                                  std::tuple{"backends", u.backends, u.backends_max},
                                  std::tuple{"revnat", u.service_ids, u.service_ids_max},
                                  std::tuple{"maglev", u.tables, u.tables_max}}) {
      c.gauge("netagent_lb_map_entries", "Entries the agent holds in each LB map", {{"map", map}},
              double(used));
      c.gauge("netagent_lb_map_capacity", "The most entries each LB map can hold (ids included)",
              {{"map", map}}, double(max));
    }
    c.gauge("netagent_lb_conntrack_entries", "Conntrack entries at the last GC pass", {},
            double(last_gc_.scanned));
    c.counter("netagent_lb_conntrack_gc_removed_total", "Conntrack entries removed by the GC", {},
              double(gc_removed_total_));
  });
}

}  // namespace netagent::lb
