#pragma once
// Shared pieces of the LB datapath tests: a private (unpinned) LB datapath and a small builder of
// DesiredServices.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <memory>

#include "netagent/lb/lb_datapath.hpp"
#include "netagent/lb/service_maps.hpp"
#include "netagent/testing/privileged.hpp"

namespace netagent::lb::testing {

inline Ipv4Addr ip(const char* s) {
  return *Ipv4Addr::parse(s);
}

inline std::unique_ptr<LbDatapath> load_private(uint32_t m = 251) {
  LbDatapathOptions o;
  o.maglev_table_size = m;
  o.seed = *MaglevSeed::parse(kMaglevDefaultSeed);
  auto dp = LbDatapath::load(o);
  if (!dp) {
    ADD_FAILURE() << dp.error().str();
    return nullptr;
  }
  return std::move(*dp);
}

// A frontend with backends "addr:port" on TCP/UDP.
inline Frontend frontend(FrontendType type, const char* addr, uint16_t port, uint8_t proto,
                         std::vector<BackendAddr> backends, const std::string& group,
                         uint16_t extra_flags = 0) {
  Frontend f;
  f.type = type;
  f.key = {ip(addr), port, proto, 0};
  f.service = "test/" + group;
  f.group = group;
  f.flags = extra_flags;
  switch (type) {
    case FrontendType::ClusterIP:
      f.flags |= LB_SVC_F_CLUSTER_IP;
      break;
    case FrontendType::NodePort:
      f.flags |= LB_SVC_F_NODE_PORT | LB_SVC_F_MAGLEV;
      break;
    case FrontendType::LoadBalancer:
      f.flags |= LB_SVC_F_LOAD_BALANCER | LB_SVC_F_MAGLEV;
      break;
    case FrontendType::ExternalIP:
      f.flags |= LB_SVC_F_EXTERNAL_IP | LB_SVC_F_MAGLEV;
      break;
  }
  std::sort(backends.begin(), backends.end());
  f.backends = std::move(backends);
  return f;
}

inline DesiredServices desired(std::vector<Frontend> fs) {
  DesiredServices d;
  for (auto& f : fs) {
    for (auto& b : f.backends)
      d.backends[b] = BackendInfo{b, true};
  }
  std::sort(fs.begin(), fs.end(), [](auto& a, auto& b) { return a.key < b.key; });
  d.frontends = std::move(fs);
  return d;
}

}  // namespace netagent::lb::testing
