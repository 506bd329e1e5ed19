#include "netagent/bgp/bgp_reconciler.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "netagent/bgp/control/crds.hpp"

namespace netagent::bgp {
namespace {

using PeerKey = std::pair<std::string, std::string>;

bgp::Route to_route(const bgp::control::DesiredRoute& d, const bgp::Prefix& prefix) {
  bgp::Route r;
  r.prefix = prefix;
  // No next hop: the session's own address (next-hop-self), i.e. this node's address on the
  // link to the router, as Cilium does.
  r.origin = static_cast<bgp::Origin>(d.origin);
  r.local_preference = d.local_pref;  // the speaker sends it to iBGP peers only
  for (auto c : d.communities)
    r.communities.push_back(bgp::Community{c});
  for (const auto& l : d.large_communities)
    r.large_communities.push_back(bgp::LargeCommunity{l.global_admin, l.local1, l.local2});
  return r;
}

std::optional<bgp::Family> to_family(const bgp::control::Family& f) {
  if (f.safi != "unicast") return std::nullopt;
  if (f.afi == "ipv4") return bgp::kIpv4Unicast;
  if (f.afi == "ipv6") return bgp::kIpv6Unicast;
  return std::nullopt;
}

// RFC 4271 §8.2.2 numbering, as Cilium's session-state metric: Idle 1 .. Established 6.
int state_number(bgp::SessionState s) {
  return int(s) + 1;
}

}  // namespace

SpeakerPlan plan_speaker(const bgp::control::DesiredBgp& desired,
                         const bgp::PrefixLimit& prefix_limit) {
  SpeakerPlan plan;
  for (const auto& di : desired.instances) {
    bgp::InstanceConfig inst;
    inst.name = di.name;
    inst.local_asn = di.local_asn;
    inst.router_id = di.router_id;
    if (di.listen_port != 0) inst.listen_port = di.listen_port;
    for (const auto& dp : di.peers) {
      const std::string where = "instance " + di.name + " peer " + dp.name;
      if (dp.peer_asn == 0) {
        plan.problems.push_back(where +
                                ": peerASN is not set (learning it from the peer's OPEN is not "
                                "supported); peer skipped");
        continue;
      }
      bgp::PeerConfig pc;
      pc.name = dp.name;
      pc.address = dp.address;
      pc.port = dp.port;
      pc.peer_asn = dp.peer_asn;
      pc.connect_retry = std::chrono::seconds(dp.timers.connect_retry);
      pc.hold_time = std::chrono::seconds(dp.timers.hold);
      pc.keepalive_time = std::chrono::seconds(dp.timers.keepalive);
      // Cilium's eBGPMultihopTTL (default 1) applies to eBGP; iBGP keeps the system default.
      if (!dp.ibgp || dp.ebgp_multihop_ttl != 1) pc.ebgp_multihop_ttl = dp.ebgp_multihop_ttl;
      pc.md5_password = dp.password;
      pc.graceful_restart.enabled = dp.graceful_restart.enabled;
      pc.graceful_restart.restart_time = std::chrono::seconds(dp.graceful_restart.restart_time);
      pc.families.clear();
      for (const auto& f : dp.families) {
        if (auto bf = to_family(f)) {
          if (std::find(pc.families.begin(), pc.families.end(), *bf) == pc.families.end())
            pc.families.push_back(*bf);
        } else {
          plan.problems.push_back(where + ": family " + f.afi + "/" + f.safi + " not supported");
        }
      }
      if (pc.families.empty()) pc.families = {bgp::kIpv4Unicast};
      pc.local_address = dp.local_address;
      pc.prefix_limit = prefix_limit;
      std::vector<bgp::Route> routes;
      for (const auto& r : dp.routes)
        routes.push_back(to_route(r, r.prefix));
      plan.routes[{di.name, dp.name}] = std::move(routes);
      inst.peers.push_back(std::move(pc));
    }
    plan.config.instances.push_back(std::move(inst));
  }
  return plan;
}

ipam::Allocation served_allocation(const ipam::Allocation& allocation,
                                   const lb::ServedFrontends& frontends) {
  std::set<std::pair<std::string, Ipv4Addr>> served;
  for (const auto& [key, f] : frontends.frontends) {
    if (f.type == lb::FrontendType::LoadBalancer) served.insert({f.service, key.addr});
  }
  ipam::Allocation out = allocation;
  for (auto& [key, s] : out.services) {
    std::erase_if(s.ips, [&](const ipam::AllocatedIp& ip) { return !served.count({key, ip.ip}); });
  }
  return out;
}

BgpReconciler::BgpReconciler(boost::asio::io_context& io, Options options)
    : io_(io), opts_(std::move(options)) {}

BgpReconciler::~BgpReconciler() = default;

void BgpReconciler::register_kinds(k8s::KindRegistry& kinds) {
  bgp::control::register_kinds(kinds);
}

Status BgpReconciler::start() {
  bgp::SpeakerOptions o;
  // An agent that starts may be a restart: routers with graceful restart still hold our routes,
  // so the first OPEN carries the Restart State bit (RFC 4724 §4.1).
  o.restarted = true;
  o.on_state_change = [this](const bgp::PeerEvent& e) {
    // The speaker logs every transition itself; here only the metric.
    auto to = std::string(bgp::state_name(e.to));
    if (transitions_) transitions_->with({e.instance, e.peer, to}).inc();
  };
  speaker_ = std::make_unique<bgp::Speaker>(io_, std::move(o));
  return {};
}

Status BgpReconciler::apply(const store::Store& in) {
  if (!speaker_ || stopped_) return {};
  const auto& snapshot = *in.snapshot();
  auto node = bgp::control::local_node(snapshot, opts_.node_name);
  // Only what the LB datapath serves now, as the LB part published it (nothing before the LB
  // or IPAM has applied once).
  auto allocation = in.get<ipam::Allocation>();
  auto frontends = in.get<lb::ServedFrontends>();
  auto served =
      allocation && frontends ? served_allocation(*allocation, *frontends) : ipam::Allocation{};
  auto ready = bgp::control::ready_local_services(snapshot, node.name);
  auto desired = bgp::control::compile(snapshot, node, served, ready);
  for (const auto& c : desired.conditions) {
    auto line = c.type + " " + c.object + ": " + c.message;
    if (reported_.insert(line).second) spdlog::warn("bgp: {}", line);
  }

  auto plan = plan_speaker(desired, opts_.prefix_limit);
  for (const auto& p : plan.problems) {
    if (reported_.insert(p).second) spdlog::warn("bgp: {}", p);
  }
  std::erase_if(reported_, [&](const std::string& line) {
    bool cond = std::any_of(desired.conditions.begin(), desired.conditions.end(), [&](auto& c) {
      return c.type + " " + c.object + ": " + c.message == line;
    });
    return !cond &&
           std::find(plan.problems.begin(), plan.problems.end(), line) == plan.problems.end();
  });
  problems_ = plan.problems;

  Status result;
  if (plan.config != speaker_->config()) {
    if (auto st = speaker_->set_config(plan.config); !st) {
      // The running sessions stay as they were; routes still follow the services below.
      if (config_errors_) config_errors_->get().inc();
      result =
          st.error().wrap("BGP configuration from " +
                          (desired.source.empty() ? std::string("manifests") : desired.source));
    } else {
      size_t peers = 0;
      for (const auto& i : plan.config.instances)
        peers += i.peers.size();
      spdlog::info("bgp: configuration from {}: {} instance(s), {} peer(s)",
                   desired.source.empty() ? "(none)" : desired.source, plan.config.instances.size(),
                   peers);
    }
  }

  // Routes per peer, as a diff against what each peer was last given. Peers the speaker does
  // not run (configuration refused, or removed) are forgotten.
  const auto& running = speaker_->config();
  auto runs = [&](const PeerKey& k) {
    for (const auto& i : running.instances) {
      if (i.name != k.first) continue;
      for (const auto& p : i.peers)
        if (p.name == k.second) return true;
    }
    return false;
  };
  for (auto it = applied_routes_.begin(); it != applied_routes_.end();) {
    it = runs(it->first) ? std::next(it) : applied_routes_.erase(it);
  }
  for (auto& [key, routes] : plan.routes) {
    if (!runs(key)) continue;
    auto cur = applied_routes_.find(key);
    if (cur != applied_routes_.end() && cur->second == routes) continue;
    if (auto st = speaker_->set_peer_routes(key.first, key.second, routes); !st) {
      if (result) result = st.error().wrap("routes for " + key.first + "/" + key.second);
      continue;
    }
    spdlog::info("bgp: {}/{}: {} route(s) to advertise", key.first, key.second, routes.size());
    applied_routes_[key] = std::move(routes);
  }
  desired_ = std::move(desired);
  return result;
}

nlohmann::json BgpReconciler::status() const {
  size_t peers = 0, established = 0, routes = 0;
  // Peers near or over their prefix limit, by name: the fault a status reader must see.
  nlohmann::json warning = nlohmann::json::array(), exceeded = nlohmann::json::array();
  if (speaker_) {
    for (const auto& p : speaker_->peers()) {
      peers++;
      if (p.state == bgp::SessionState::established) established++;
      const std::string name = p.instance + "/" + p.name;
      if (p.prefix_limit_warning) warning.push_back(name);
      if (p.prefix_limit_exceeded) {
        exceeded.push_back(
            {{"peer", name},
             {"reason", *p.prefix_limit_exceeded},
             {"restart_in_seconds",
              p.idle_hold_seconds ? nlohmann::json(*p.idle_hold_seconds) : nlohmann::json()}});
      }
    }
  }
  for (const auto& [k, r] : applied_routes_)
    routes += r.size();
  return {{"source", desired_.source},
          {"peers", peers},
          {"established", established},
          {"routes", routes},
          {"conditions", nlohmann::json(desired_.conditions.size())},
          {"problems", problems_},
          {"prefix_limit",
           {{"max_per_family", opts_.prefix_limit.max},
            {"warning_percent", opts_.prefix_limit.warning_percent},
            {"restart_seconds", opts_.prefix_limit.restart.count()},
            {"peers_over_warning", warning},
            {"peers_exceeded", exceeded}}}};
}

nlohmann::json BgpReconciler::routes_json(bool advertised, const api::Request& req) const {
  auto want_instance = req.query_value("instance");
  auto want_peer = req.query_value("peer");
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : speaker_->peers()) {
    if (want_instance && *want_instance != p.instance) continue;
    if (want_peer && *want_peer != p.name && *want_peer != p.address.str()) continue;
    nlohmann::json routes = nlohmann::json::array();
    if (advertised) {
      if (auto r = speaker_->advertised(p.instance, p.name)) routes = *r;
    } else {
      if (auto r = speaker_->received(p.instance, p.name)) routes = *r;
    }
    out.push_back({{"instance", p.instance},
                   {"peer", p.name},
                   {"address", p.address.str()},
                   {"state", std::string(bgp::state_name(p.state))},
                   {"routes", std::move(routes)}});
  }
  return {{"peers", std::move(out)}};
}

void BgpReconciler::register_api(api::Router& router) {
  router.get("/v1/bgp/peers", [this](const api::Request&) -> api::Reply {
    if (!speaker_) return api::unavailable("the BGP speaker is not started yet");
    return nlohmann::json{{"peers", speaker_->peers()}};
  });
  router.get("/v1/bgp/routes/advertised", [this](const api::Request& r) -> api::Reply {
    if (!speaker_) return api::unavailable("the BGP speaker is not started yet");
    return routes_json(true, r);
  });
  router.get("/v1/bgp/routes/received", [this](const api::Request& r) -> api::Reply {
    if (!speaker_) return api::unavailable("the BGP speaker is not started yet");
    return routes_json(false, r);
  });
  // What the CRDs ask of this node (peers without passwords, routes with their sources).
  router.get("/v1/bgp/desired", [this](const api::Request&) -> api::Reply {
    auto j = bgp::control::to_json(desired_);
    j["problems"] = problems_;
    return j;
  });
}

void BgpReconciler::register_metrics(metrics::Registry& registry) {
  transitions_ = &registry.counter("netagent_bgp_session_transitions_total",
                                   "BGP session state changes, by the state entered",
                                   {"instance", "peer", "state"});
  config_errors_ = &registry.counter("netagent_bgp_config_errors_total",
                                     "BGP configurations the speaker refused (the previous one "
                                     "keeps running)");
  registry.add_collector("bgp", [this](metrics::Collection& c) {
    if (!speaker_) return;
    for (const auto& p : speaker_->peers()) {
      metrics::Labels l{{"instance", p.instance}, {"peer", p.name}, {"address", p.address.str()}};
      c.gauge("netagent_bgp_session_state",
              "BGP session state (RFC 4271: 1 Idle, 2 Connect, 3 Active, 4 OpenSent, "
              "5 OpenConfirm, 6 Established)",
              l, state_number(p.state));
      c.gauge("netagent_bgp_session_established", "1 when the BGP session is Established", l,
              p.state == bgp::SessionState::established ? 1 : 0);
      c.gauge("netagent_bgp_prefixes_advertised", "Prefixes in the peer's Adj-RIB-Out", l,
              double(p.prefixes_out));
      c.gauge("netagent_bgp_prefixes_received", "Prefixes in the peer's Adj-RIB-In", l,
              double(p.prefixes_in));
      c.counter("netagent_bgp_messages_received_total", "BGP messages received from the peer", l,
                double(p.messages_in.total()));
      c.counter("netagent_bgp_messages_sent_total", "BGP messages sent to the peer", l,
                double(p.messages_out.total()));
      c.counter("netagent_bgp_update_errors_total",
                "UPDATEs from the peer handled by RFC 7606 treat-as-withdraw or discard", l,
                double(p.update_errors));
      for (auto [family, n] : {std::pair<const char*, uint64_t>{"ipv4-unicast", p.prefixes_in_v4},
                               {"ipv6-unicast", p.prefixes_in_v6}}) {
        metrics::Labels lf = l;
        lf.emplace_back("family", family);
        c.gauge("netagent_bgp_prefixes_received_by_family",
                "Prefixes in the peer's Adj-RIB-In, by address family", lf, double(n));
      }
      c.gauge("netagent_bgp_max_prefixes",
              "The most prefixes the peer may send per address family (0: no limit)", l,
              double(p.max_prefixes));
      c.gauge("netagent_bgp_prefix_limit_warning",
              "1 when the peer's prefixes reached the warning share of the limit", l,
              p.prefix_limit_warning ? 1 : 0);
      for (const auto& [what, n] : p.notifications_sent) {
        metrics::Labels ln = l;
        ln.emplace_back("notification", what);
        c.counter("netagent_bgp_notifications_sent_total",
                  "NOTIFICATIONs sent to the peer, by code and subcode (a Cease by its reason)", ln,
                  double(n));
      }
    }
    size_t routes = 0;
    for (const auto& [k, r] : applied_routes_)
      routes += r.size();
    c.gauge("netagent_bgp_routes_desired", "Routes this node should advertise, summed over peers",
            {}, double(routes));
  });
}

void BgpReconciler::stop() {
  stopped_ = true;
}

void BgpReconciler::drain(std::function<void()> done) {
  if (!speaker_) return done();
  // Graceful-restart peers keep our routes (stale) across the restart; the others withdraw.
  speaker_->stop(bgp::StopMode::graceful, [done = std::move(done)] {
    spdlog::info("bgp: sessions closed");
    done();
  });
}

}  // namespace netagent::bgp
