#include "netagent/writeback/status_writer.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <optional>

namespace netagent::writeback {

namespace asio = boost::asio;
using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

namespace {

const kubeapi::Resource kServices{"", "v1", "services", "Service", true};
const kubeapi::Resource kEvents{"", "v1", "events", "Event", true};

// The resource of a pool object, in the version it was read in.
kubeapi::Resource pool_resource(const std::string& api_version) {
  auto slash = api_version.find('/');
  return kubeapi::Resource{api_version.substr(0, slash), api_version.substr(slash + 1),
                           "ciliumloadbalancerippools", "CiliumLoadBalancerIPPool", false};
}

// raw.status.conditions, or an undefined node. A missing key of a const node is an invalid node
// in yaml-cpp, and asking an invalid node for its type throws: IsDefined() comes first.
YAML::Node raw_conditions(const YAML::Node& raw) {
  if (!raw.IsDefined() || !raw.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  const YAML::Node status = raw["status"];
  if (!status.IsDefined() || !status.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  const YAML::Node conditions = status["conditions"];
  if (!conditions.IsDefined() || !conditions.IsSequence())
    return YAML::Node(YAML::NodeType::Undefined);
  return conditions;
}

std::string scalar(const YAML::Node& map, const char* key) {
  if (!map.IsDefined() || !map.IsMap()) return "";
  const YAML::Node v = map[key];
  return v.IsDefined() && v.IsScalar() ? v.Scalar() : "";
}

// The conditions Cilium's operator keeps on a pool: the counts (status Unknown, the number in
// the message, which `kubectl get ippools` shows) and the conflict.
json pool_conditions(const ipam::PoolStatus& p, const YAML::Node& raw) {
  // lastTransitionTime changes only when a condition's status does.
  std::map<std::string, std::pair<std::string, std::string>> before;  // type -> status, time
  const YAML::Node existing = raw_conditions(raw);
  if (existing.IsDefined()) {
    for (const auto& c : existing) {
      const std::string type = scalar(c, "type");
      if (!type.empty()) before[type] = {scalar(c, "status"), scalar(c, "lastTransitionTime")};
    }
  }
  const std::string now = kubeapi::micro_time(std::chrono::system_clock::now()).substr(0, 19) + "Z";
  json out = json::array();
  auto add = [&](const std::string& type, const std::string& status, const std::string& reason,
                 const std::string& message) {
    auto it = before.find(type);
    std::string since =
        it != before.end() && it->second.first == status && !it->second.second.empty()
            ? it->second.second
            : now;
    out.push_back({{"type", type},
                   {"status", status},
                   {"reason", reason},
                   {"message", message},
                   {"lastTransitionTime", since}});
  };
  add("cilium.io/IPsTotal", "Unknown", "noreason", std::to_string(p.total));
  add("cilium.io/IPsAvailable", "Unknown", "noreason", std::to_string(p.available));
  add("cilium.io/IPsUsed", "Unknown", "noreason", std::to_string(p.used));
  add("cilium.io/PoolConflict", p.conflicting ? "True" : "False",
      p.conflicting ? p.conflict_reason : "resolved", p.conflicting ? p.conflict_message : "");
  return out;
}

// The conditions as they are on the object, without times: what decides whether to write.
json conditions_without_times(json conditions) {
  for (auto& c : conditions)
    c.erase("lastTransitionTime");
  return conditions;
}

json yaml_conditions(const YAML::Node& raw) {
  json out = json::array();
  const YAML::Node existing = raw_conditions(raw);
  if (!existing.IsDefined()) return out;
  for (const auto& c : existing) {
    json j = json::object();
    for (const char* k : {"type", "status", "reason", "message"}) {
      std::string v = scalar(c, k);
      if (!v.empty() || k == std::string("message")) j[k] = v;
    }
    out.push_back(std::move(j));
  }
  return out;
}

// A Warning Event about `involved` (kind, name, namespace, apiVersion), in namespace `ns`.
json warning_event(const json& involved, const std::string& ns, const std::string& reason,
                   const std::string& message, const std::string& component,
                   const std::string& reporter) {
  const std::string now = kubeapi::micro_time(std::chrono::system_clock::now()).substr(0, 19) + "Z";
  return json{
      {"apiVersion", "v1"},
      {"kind", "Event"},
      {"metadata", {{"generateName", involved.value("name", "object") + "."}, {"namespace", ns}}},
      {"involvedObject", involved},
      {"type", "Warning"},
      {"reason", reason},
      {"message", message},
      {"source", {{"component", component}, {"host", reporter}}},
      {"reportingComponent", component},
      {"reportingInstance", reporter},
      {"firstTimestamp", now},
      {"lastTimestamp", now},
      {"count", 1}};
}

// The Event for an object the source refused ("Kind ns/name" from a kubernetes API origin such
// as "kubernetes API ciliumnetworkpolicies.cilium.io/v2"), or nothing when the error does not
// name one.
std::optional<json> refused_event(const k8s::DecodeError& e, const std::string& reporter) {
  auto space = e.object.find(' ');
  if (space == std::string::npos) return std::nullopt;
  const std::string kind = e.object.substr(0, space);
  const std::string ref = e.object.substr(space + 1);
  const auto slash = ref.find('/');
  const std::string ns = slash == std::string::npos ? "" : ref.substr(0, slash);
  const std::string name = slash == std::string::npos ? ref : ref.substr(slash + 1);
  if (name.empty()) return std::nullopt;
  // "kubernetes API <resource>[.<group>]/<version>" -> "<group>/<version>" or "<version>".
  std::string api_version;
  const std::string prefix = "kubernetes API ";
  if (e.source.file.rfind(prefix, 0) == 0) {
    std::string r = e.source.file.substr(prefix.size());
    auto vslash = r.rfind('/');
    if (vslash != std::string::npos) {
      std::string resource = r.substr(0, vslash), version = r.substr(vslash + 1);
      auto dot = resource.find('.');
      api_version = dot == std::string::npos ? version : resource.substr(dot + 1) + "/" + version;
    }
  }
  json involved = {{"kind", kind}, {"name", name}};
  if (!ns.empty()) involved["namespace"] = ns;
  if (!api_version.empty()) involved["apiVersion"] = api_version;
  // Events of cluster-scoped objects live in "default", as the API server's own do.
  return warning_event(involved, ns.empty() ? "default" : ns, "InvalidObject",
                       (e.field.empty() ? "" : e.field + ": ") + e.message +
                           " (netagent does not apply this object; its last valid version, if "
                           "any, stays)",
                       "netagent", reporter);
}

}  // namespace

std::map<std::string, Write> status_writes(const k8s::Snapshot& snap, const ipam::Allocation& alloc,
                                           const std::string& reporter,
                                           std::set<std::string>& evented) {
  std::map<std::string, Write> out;
  for (const auto& svc : snap.services) {
    if (alloc.dormant) break;  // LB IPAM asleep (no pool): nothing of it to write
    if (!ipam::handled_by_lb_ipam(svc)) continue;
    const auto* sa = alloc.find(svc.meta.ns, svc.meta.name);
    std::vector<std::string> want, have;
    if (sa) {
      for (const auto& a : sa->ips)
        want.push_back(a.ip.str());
    }
    for (const auto& ip : svc.status_ingress_ips)
      have.push_back(ip.str());
    std::sort(want.begin(), want.end());
    std::sort(have.begin(), have.end());
    const std::string key = "Service " + svc.meta.key();
    if (want != have) {
      json ingress = json::array();
      for (const auto& ip : want)
        ingress.push_back({{"ip", ip}});
      out[key + " status"] =
          Write{kServices,     svc.meta.ns,
                svc.meta.name, json{{"status", {{"loadBalancer", {{"ingress", ingress}}}}}},
                false,         key + " status.loadBalancer.ingress"};
    }
    // A request that cannot be met: one Warning Event per service and reason, as a controller
    // reports what it refuses.
    if (sa && !sa->satisfied) {
      const std::string reason = ipam::to_string(sa->reason);
      const std::string mark = svc.meta.key() + " " + reason;
      if (evented.insert(mark).second) {
        json involved = {{"apiVersion", "v1"},
                         {"kind", "Service"},
                         {"namespace", svc.meta.ns},
                         {"name", svc.meta.name}};
        json ev =
            warning_event(involved, svc.meta.ns, "LBIPAM_" + reason,
                          sa->message.empty() ? reason : sa->message, "netagent-lb-ipam", reporter);
        out[key + " event " + reason] =
            Write{kEvents, svc.meta.ns, "", std::move(ev), true, key + " event " + reason};
      }
    }
  }
  // Objects the source refused: a Warning Event on each, naming the field and why, as the API
  // server's own validation would have (once per object and error).
  std::set<std::string> refused_now;
  for (const auto& e : snap.refused) {
    const auto ev = refused_event(e, reporter);
    if (!ev) continue;
    const std::string mark = "refused|" + e.object + "|" + e.field + "|" + e.message;
    refused_now.insert(mark);
    if (!evented.insert(mark).second) continue;
    const std::string ns = (*ev)["metadata"]["namespace"];
    out["Event " + mark] = Write{kEvents, ns, "", *ev, true, e.object + " event InvalidObject"};
  }
  // A service that is satisfied again, or an object fixed, may be told again later.
  for (auto it = evented.begin(); it != evented.end();) {
    if (it->rfind("refused|", 0) == 0) {
      it = refused_now.count(*it) ? std::next(it) : evented.erase(it);
      continue;
    }
    auto space = it->rfind(' ');
    std::string key = it->substr(0, space);
    auto slash = key.find('/');
    const auto* sa = slash == std::string::npos
                         ? nullptr
                         : alloc.find(key.substr(0, slash), key.substr(slash + 1));
    if (!sa || sa->satisfied || ipam::to_string(sa->reason) != it->substr(space + 1)) {
      it = evented.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto* o : snap.of_kind("CiliumLoadBalancerIPPool")) {
    auto p = std::find_if(alloc.pools.begin(), alloc.pools.end(),
                          [&](const ipam::PoolStatus& s) { return s.name == o->meta.name; });
    if (p == alloc.pools.end()) continue;
    json conditions = pool_conditions(*p, o->raw.node());
    if (conditions_without_times(conditions) == yaml_conditions(o->raw.node())) continue;
    const std::string key = "CiliumLoadBalancerIPPool " + o->meta.name;
    out[key + " status"] = Write{pool_resource(o->api_version),
                                 "",
                                 o->meta.name,
                                 json{{"status", {{"conditions", conditions}}}},
                                 false,
                                 key + " status.conditions"};
  }
  return out;
}

StatusWriter::StatusWriter(asio::io_context& io, std::shared_ptr<kubeapi::Client> client,
                           Options options)
    : io_(io), client_(std::move(client)), opts_(std::move(options)), retry_timer_(io) {
  if (opts_.election.identity.empty()) opts_.election.identity = opts_.node_name;
  kubeapi::LeaderCallbacks cb;
  cb.on_started_leading = [this, alive = alive_] {
    if (!*alive) return;
    written_.clear();  // what an earlier term wrote may have been changed since
    compute();
  };
  cb.on_stopped_leading = [this, alive = alive_] {
    if (!*alive) return;
    pending_.clear();
  };
  elector_ = std::make_shared<kubeapi::LeaderElector>(client_, opts_.election, std::move(cb));
}

StatusWriter::~StatusWriter() {
  *alive_ = false;
}

Status StatusWriter::start() {
  asio::post(io_, [e = elector_] { e->start(); });
  return {};
}

void StatusWriter::stop() {
  stopped_ = true;
  retry_timer_.cancel();
}

void StatusWriter::drain(std::function<void()> done) {
  stopped_ = true;
  retry_timer_.cancel();
  elector_->stop(std::move(done));  // releases the Lease: a successor takes over at once
}

Status StatusWriter::apply(const store::Store& store) {
  store_ = &store;
  compute();
  return {};
}

void StatusWriter::compute() {
  if (!store_ || !store_->snapshot() || !elector_->is_leader()) return;
  auto alloc = store_->get<ipam::Allocation>();
  if (!alloc) return;
  auto writes = status_writes(*store_->snapshot(), *alloc, opts_.node_name, evented_);
  const auto now = SteadyClock::now();
  pending_.clear();
  for (auto& [key, w] : writes) {
    auto it = written_.find(key);
    if (it != written_.end() && it->second.first == w.body.dump() &&
        now - it->second.second < kRewriteAfter) {
      continue;  // written; the watch has not brought it back yet
    }
    pending_.emplace(key, std::move(w));
  }
  kick();
}

void StatusWriter::kick() {
  if (writing_ || stopped_ || pending_.empty()) return;
  writing_ = true;
  asio::co_spawn(
      io_,
      [this, alive = alive_]() -> asio::awaitable<void> {
        co_await write_loop();
        if (*alive) writing_ = false;
      },
      asio::detached);
}

asio::awaitable<void> StatusWriter::write_loop() {
  auto alive = alive_;
  bool failed = false;
  while (*alive && !stopped_ && !pending_.empty() && elector_->is_leader()) {
    const std::string key = pending_.begin()->first;
    const Write w = pending_.begin()->second;
    pending_.erase(pending_.begin());
    // Every argument of a coroutine call named, every co_await its own statement: GCC 12
    // corrupts the heap with temporaries there (a merge patch with a temporary argument freed
    // memory the elector's timer still used).
    const std::string body = w.body.dump();
    json payload = w.body;
    bool written = false, gone = false;
    std::string error;
    if (w.event) {
      auto r = co_await client_->create(w.resource, w.ns, payload);
      written = kubeapi::ok(r);
      if (!written) {
        gone = kubeapi::error(r).not_found();
        error = kubeapi::error(r).error.str();
      }
    } else {
      const bool status = true;
      auto r = co_await client_->merge_patch(w.resource, w.ns, w.name, payload, status);
      written = kubeapi::ok(r);
      if (!written) {
        gone = kubeapi::error(r).not_found();
        error = kubeapi::error(r).error.str();
      }
    }
    if (!*alive) co_return;
    if (written) {
      writes_ok_++;
      if (w.event) {
        events_++;
      } else {
        written_[key] = {body, SteadyClock::now()};
      }
      spdlog::info("k8s-status: wrote {}", w.what);
      continue;
    }
    if (gone) continue;  // the object is gone: nothing to write
    writes_failed_++;
    last_error_ = w.what + ": " + error;
    spdlog::warn("k8s-status: {}", last_error_);
    if (!w.event) pending_.emplace(key, w);
    failed = true;
    break;
  }
  if (failed && *alive && !stopped_) {
    retry_timer_.expires_after(opts_.retry);
    retry_timer_.async_wait([this, alive](const boost::system::error_code& ec) {
      if (ec || !*alive) return;
      compute();
    });
  }
}

json StatusWriter::status() const {
  const auto& st = elector_->stats();
  return {{"lease", opts_.election.ns + "/" + opts_.election.name},
          {"identity", opts_.election.identity},
          {"leader", st.leader},
          {"holder", st.holder},
          {"acquired", st.acquired},
          {"renewals", st.renewals},
          {"lost", st.lost},
          {"election_failures", st.failures},
          {"election_last_error", st.last_error},
          {"pending_writes", pending_.size()},
          {"writes_ok", writes_ok_},
          {"writes_failed", writes_failed_},
          {"events", events_},
          {"last_error", last_error_}};
}

void StatusWriter::register_metrics(metrics::Registry& registry) {
  registry.add_collector("k8s-status", [this](metrics::Collection& c) {
    const auto& st = elector_->stats();
    c.gauge("netagent_k8s_leader",
            "1 while this agent holds the LB IPAM Lease and writes status to the API.", {},
            st.leader ? 1.0 : 0.0);
    c.counter("netagent_k8s_leader_transitions_total",
              "Times this agent started (acquired) or stopped (lost) leading.",
              {{"change", "acquired"}}, double(st.acquired));
    c.counter("netagent_k8s_leader_transitions_total",
              "Times this agent started (acquired) or stopped (lost) leading.",
              {{"change", "lost"}}, double(st.lost));
    c.counter("netagent_k8s_status_writes_total",
              "Status patches and Events written to the API, by result.", {{"result", "ok"}},
              double(writes_ok_));
    c.counter("netagent_k8s_status_writes_total",
              "Status patches and Events written to the API, by result.", {{"result", "failed"}},
              double(writes_failed_));
    c.gauge("netagent_k8s_status_pending_writes", "Status writes waiting to be made.", {},
            double(pending_.size()));
  });
}

}  // namespace netagent::writeback
