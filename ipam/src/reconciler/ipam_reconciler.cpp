#include "netagent/ipam/ipam_reconciler.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "netagent/common/file.hpp"
#include "netagent/ipam/json.hpp"
#include "netagent/ipam/pool.hpp"

namespace netagent::ipam {

namespace {

// Same services with the same addresses (and pools): what the LB serves and BGP announces.
bool same_addresses(const Allocation& a, const Allocation& b) {
  if (a.services.size() != b.services.size()) return false;
  for (auto x = a.services.begin(), y = b.services.begin(); x != a.services.end(); ++x, ++y) {
    if (x->first != y->first || x->second.ips.size() != y->second.ips.size()) return false;
    for (size_t i = 0; i < x->second.ips.size(); ++i) {
      if (x->second.ips[i].ip != y->second.ips[i].ip ||
          x->second.ips[i].pool != y->second.ips[i].pool) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace

IpamReconciler::IpamReconciler(store::Store& store, Options options)
    : store_(store), opts_(std::move(options)) {}

std::string IpamReconciler::state_path() const {
  return opts_.state_dir + "/lb-ipam.json";
}

void IpamReconciler::register_kinds(k8s::KindRegistry& kinds) {
  ipam::register_kinds(kinds);
}

Status IpamReconciler::start() {
  std::ifstream in(state_path());
  if (!in) return {};  // first start: no history
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded()) {
    spdlog::warn("ipam: {} is not valid JSON; starting without previous allocations", state_path());
    return {};
  }
  auto st = ipam::state_from_json(j);
  if (!st) {
    spdlog::warn("ipam: {}: {}; starting without previous allocations", state_path(),
                 st.error().str());
    return {};
  }
  previous_ = *st;
  spdlog::info("ipam: restored {} services' LoadBalancer IPs from {}", previous_.services.size(),
               state_path());
  return {};
}

Status IpamReconciler::persist(const ipam::AllocationState& state) {
  // Write, fsync, rename, owner-only (0600): a crash never leaves a truncated file behind.
  return write_file_atomic(state_path(), ipam::state_to_json(state).dump(1) + "\n", 0600);
}

Status IpamReconciler::apply(const store::Store& in) {
  const auto& snapshot = *in.snapshot();
  auto next = std::make_shared<Allocation>(ipam::allocate(snapshot, previous_));
  auto state = next->state();
  // Persist before anything uses the addresses: a restart must find what was handed out.
  if (state != previous_) {
    if (auto st = persist(state); !st) return st.error().wrap("persist LB IPAM state");
  }
  for (const auto& [key, s] : next->services) {
    auto old = allocation_->services.find(key);
    bool was = old != allocation_->services.end() && old->second.satisfied;
    if (s.satisfied && (!was || old->second.ips.size() != s.ips.size())) {
      spdlog::info("ipam: {} gets {}", key, s.ips.empty() ? "" : s.ips.front().ip.str());
    } else if (!s.satisfied && (applies_ == 0 || was)) {
      spdlog::warn("ipam: {} has no LoadBalancer IP: {}", key, s.message);
    }
  }
  // Readers re-apply only when some service's addresses changed (the first apply always
  // publishes, so that readers see that IPAM has run).
  const bool publish = applies_ == 0 || !same_addresses(*next, *allocation_);
  allocation_ = std::move(next);
  previous_ = std::move(state);
  applies_++;
  if (publish) store_.publish<Allocation>(allocation_, name());
  return {};
}

nlohmann::json IpamReconciler::status() const {
  auto c = ipam::counters(*allocation_);
  return {{"dormant", allocation_->dormant},
          {"pools", c.pools},
          {"services", c.services},
          {"unsatisfied", c.services_unsatisfied},
          {"ips_used", c.ips_used}};
}

void IpamReconciler::register_api(api::Router& router) {
  router.get("/v1/ipam",
             [this](const api::Request&) { return api::Reply(ipam::to_json(*allocation_)); });
}

void IpamReconciler::register_metrics(metrics::Registry& registry) {
  registry.add_collector("ipam", [this](metrics::Collection& c) {
    auto k = ipam::counters(*allocation_);
    c.gauge("netagent_ipam_pools", "LoadBalancer IP pools", {}, double(k.pools));
    c.gauge("netagent_ipam_pools_conflicting", "Pools not used because they overlap an earlier one",
            {}, double(k.pools_conflicting));
    c.gauge("netagent_ipam_services_unsatisfied",
            "LoadBalancer services whose request for an address cannot be met", {},
            double(k.services_unsatisfied));
    for (const auto& p : k.per_pool) {
      c.gauge("netagent_ipam_pool_ips_used", "Addresses allocated from the pool",
              {{"pool", p.name}}, double(p.used));
      c.gauge("netagent_ipam_pool_ips_available", "Addresses still free in the pool",
              {{"pool", p.name}}, double(p.available));
    }
  });
}

}  // namespace netagent::ipam
