#include "netagent/lb/lb_datapath.hpp"

#include <bpf/bpf.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

#include <tuple>

#include "nodeport.skel.h"
#include "sock_lb.skel.h"

namespace netagent::lb {
namespace {

template <typename Skel>
Status configure(Skel* s, const LbDatapathOptions& o) {
  auto& cfg = s->rodata->lb_cfg;
  cfg.maglev_table_size = o.maglev_table_size;
  for (int i = 0; i < 3; ++i)
    cfg.hash_seed[i] = o.seed.words[i];
  cfg.nodeport_min = o.nodeport_min;
  cfg.nodeport_max = o.nodeport_max;
  // One inner Maglev array element holds the whole table.
  bpf_map* inner = bpf_map__inner_map(s->maps.lb4_maglev);
  if (!inner || bpf_map__set_value_size(inner, o.maglev_table_size * sizeof(uint32_t)) != 0) {
    return Error{"size the Maglev inner map for M=" + std::to_string(o.maglev_table_size)};
  }
  if (o.map_max) {
    const std::pair<bpf_map*, uint32_t> sizes[] = {{s->maps.lb4_services, 4 * o.map_max},
                                                   {s->maps.lb4_backends, 2 * o.map_max},
                                                   {s->maps.lb4_revnat, o.map_max},
                                                   {s->maps.lb4_maglev, o.map_max}};
    for (auto [m, n] : sizes) {
      if (bpf_map__set_max_entries(m, n) != 0) {
        return sys_error(std::string("size map ") + bpf_map__name(m) + " to " + std::to_string(n));
      }
      // A map pinned by an earlier run keeps its size: the kernel cannot resize it, and libbpf
      // would refuse it with a bare "parameter mismatch".
      if (!o.pin_root) continue;
      std::string name = bpf_map__name(m);
      if (m == s->maps.lb4_maglev) name += "_" + std::to_string(o.maglev_table_size);
      const std::string path = *o.pin_root + "/" + name;
      int fd = bpf_obj_get(path.c_str());
      if (fd < 0) continue;
      bpf_map_info info{};
      uint32_t len = sizeof(info);
      const int rc = bpf_obj_get_info_by_fd(fd, &info, &len);
      close(fd);
      if (rc == 0 && info.max_entries != n) {
        return Error{"the pinned map " + path + " holds " + std::to_string(info.max_entries) +
                     " entries, --bpf-lb-map-max " + std::to_string(o.map_max) + " wants " +
                     std::to_string(n) +
                     ": pinned maps keep their size; start with the --bpf-lb-map-max of the run "
                     "that pinned them, or remove them with `netagent --cleanup` (this drops the "
                     "programmed services until the agent programs them again)"};
      }
    }
  }
  if (o.pin_root) {
    // The table size is part of the pinned name: a different M gets fresh tables instead of
    // failing verification against old ones.
    auto path = *o.pin_root + "/lb4_maglev_" + std::to_string(o.maglev_table_size);
    if (bpf_map__set_pin_path(s->maps.lb4_maglev, path.c_str()) != 0) {
      return sys_error("set pin path " + path);
    }
  }
  return {};
}

// The programs the LB may replace or remove on --devices: its own, and the policy programs an
// earlier version attached to an uplink registered as an endpoint. Anything else at handle 1,
// priority 1 is another tool's and stays.
const std::vector<std::string>& device_programs() {
  static const std::vector<std::string> names = {"tc_nodeport_ingress", "tc_nodeport_egress",
                                                 "policy_from_endpoint", "policy_to_endpoint"};
  return names;
}

std::string links_dir(const std::string& root) {
  return root + "/links";
}

// The first IPv4 address of a device in this network namespace.
std::optional<Ipv4Addr> first_ipv4_of(const std::string& device) {
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) != 0) return std::nullopt;
  std::optional<Ipv4Addr> out;
  for (auto* i = ifs; i && !out; i = i->ifa_next) {
    if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET && device == i->ifa_name) {
      out = Ipv4Addr::from_be(reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr);
    }
  }
  freeifaddrs(ifs);
  return out;
}

}  // namespace

LbDatapath::~LbDatapath() = default;

Result<std::unique_ptr<LbDatapath>> LbDatapath::load(const LbDatapathOptions& opts) {
  if (!maglev_table_size_allowed(opts.maglev_table_size)) {
    return Error{"Maglev table size " + std::to_string(opts.maglev_table_size) +
                 " is not one of 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071"};
  }
  std::unique_ptr<LbDatapath> dp(new LbDatapath());
  dp->opts_ = opts;
  datapath::OpenOptions oo{opts.pin_root, ""};

  auto sock = datapath::Skeleton<::sock_lb>::open(oo, "sock_lb");
  if (!sock) return sock.error();
  if (auto st = configure(sock->get(), opts); !st) return st.error();
  if (auto st = sock->load(); !st) return st.error();
  dp->sock_.emplace(std::move(*sock));

  auto np = datapath::Skeleton<::nodeport>::open(oo, "nodeport");
  if (!np) return np.error();
  if (auto st = configure(np->get(), opts); !st) return st.error();
  if (!opts.pin_root) {
    // Without pins the two objects must still share one copy of each map.
    auto* s = dp->sock_->get();
    auto* n = np->get();
    struct Pair {
      bpf_map* from;
      bpf_map* to;
    } shared[] = {{s->maps.lb4_services, n->maps.lb4_services},
                  {s->maps.lb4_backends, n->maps.lb4_backends},
                  {s->maps.lb4_revnat, n->maps.lb4_revnat},
                  {s->maps.lb4_maglev, n->maps.lb4_maglev},
                  {s->maps.lb4_affinity, n->maps.lb4_affinity},
                  {s->maps.lb_stats, n->maps.lb_stats},
                  {s->maps.drop_counters, n->maps.drop_counters},
                  {s->maps.flow_events, n->maps.flow_events}};
    for (auto& p : shared) {
      if (bpf_map__reuse_fd(p.to, bpf_map__fd(p.from)) != 0) {
        return sys_error(std::string("share map ") + bpf_map__name(p.from));
      }
    }
  }
  if (auto st = np->load(); !st) return st.error();
  dp->np_.emplace(std::move(*np));

  auto* n = dp->np_->get();
  auto* s = dp->sock_->get();
#define NETAGENT_MAP(field, expr)           \
  do {                                      \
    auto m = decltype(dp->field)::of(expr); \
    if (!m) return m.error();               \
    dp->field = std::move(*m);              \
  } while (0)
  NETAGENT_MAP(services, n->maps.lb4_services);
  NETAGENT_MAP(backends, n->maps.lb4_backends);
  NETAGENT_MAP(revnat, n->maps.lb4_revnat);
  NETAGENT_MAP(conntrack, n->maps.ct4_global);
  NETAGENT_MAP(sock_revnat, s->maps.lb4_sock_revnat);
  NETAGENT_MAP(affinity, n->maps.lb4_affinity);
  NETAGENT_MAP(drops, n->maps.drop_counters);
  NETAGENT_MAP(counters, n->maps.lb_stats);
  NETAGENT_MAP(devices, n->maps.lb4_devices);
#undef NETAGENT_MAP
  dp->maglev_outer_fd = bpf_map__fd(n->maps.lb4_maglev);
  return dp;
}

LbMaps LbDatapath::service_maps() const {
  return LbMaps{services, backends, revnat,
                kernel_maglev_tables(maglev_outer_fd, opts_.maglev_table_size), opts_.seed};
}

int LbDatapath::nodeport_ingress_fd() const {
  return bpf_program__fd((*np_)->progs.tc_nodeport_ingress);
}
int LbDatapath::nodeport_egress_fd() const {
  return bpf_program__fd((*np_)->progs.tc_nodeport_egress);
}
int LbDatapath::sock_connect_fd() const {
  return bpf_program__fd((*sock_)->progs.sock4_connect);
}

Status LbDatapath::attach_cgroup(const std::string& cgroup_path) {
  if (!opts_.pin_root) return Error{"attach_cgroup needs a pin root for its links"};
  auto dir = links_dir(*opts_.pin_root);
  mkdir(dir.c_str(), 0700);
  auto* s = sock_->get();
  const bpf_program* progs[] = {s->progs.sock4_connect, s->progs.sock4_sendmsg,
                                s->progs.sock4_recvmsg, s->progs.sock4_getpeername};
  for (const auto* p : progs) {
    auto st =
        datapath::cgroup_attach_pinned(p, cgroup_path, dir + "/cgroup_" + bpf_program__name(p));
    if (!st) return st;
  }
  return {};
}

Status LbDatapath::attach_devices(const std::vector<std::string>& devices) {
  for (const auto& dev : devices) {
    auto idx = datapath::ifindex_of(dev);
    if (!idx) return idx.error();
    datapath::TcHook in{*idx, datapath::TcDirection::Ingress, 1, 1};
    datapath::TcHook out{*idx, datapath::TcDirection::Egress, 1, 1};
    if (auto st = datapath::tc_attach_owned(in, nodeport_ingress_fd(), device_programs()); !st) {
      return st;
    }
    if (auto st = datapath::tc_attach_owned(out, nodeport_egress_fd(), device_programs()); !st) {
      return st;
    }
    if (auto addr = first_ipv4_of(dev)) {
      if (auto st = set_snat_address(*idx, *addr); !st) return st;
    }
  }
  return {};
}

Result<LbDatapath::AttachmentRepairs> LbDatapath::restore_attachments(
    const std::string& cgroup_path, const std::vector<std::string>& devices) {
  AttachmentRepairs out;
  if (opts_.pin_root) {
    auto dir = links_dir(*opts_.pin_root);
    auto* s = sock_->get();
    const bpf_program* progs[] = {s->progs.sock4_connect, s->progs.sock4_sendmsg,
                                  s->progs.sock4_recvmsg, s->progs.sock4_getpeername};
    for (const auto* p : progs) {
      // The link pinned under our bpf-root is ours whatever it runs.
      const std::string pin = dir + "/cgroup_" + bpf_program__name(p);
      auto ok = datapath::cgroup_link_runs(p, cgroup_path, pin);
      if (!ok) return ok.error();
      if (*ok) continue;
      // A detached link or another program: repaired in place (or re-created) by the attach.
      if (auto st = datapath::cgroup_attach_pinned(p, cgroup_path, pin); !st) return st.error();
      ok = datapath::cgroup_link_runs(p, cgroup_path, pin);
      if (!ok) return ok.error();
      if (!*ok) {
        // Attached to another cgroup: a new link in the right one.
        if (auto st = datapath::cgroup_detach_pinned(pin); !st) return st.error();
        if (auto st = datapath::cgroup_attach_pinned(p, cgroup_path, pin); !st) return st.error();
      }
      out.restored.push_back(std::string("cgroup ") + bpf_program__name(p));
    }
  }
  for (const auto& dev : devices) {
    auto idx = datapath::ifindex_of(dev);
    if (!idx) return idx.error();
    for (auto [dir, fd, name] :
         {std::tuple{datapath::TcDirection::Ingress, nodeport_ingress_fd(), "ingress"},
          std::tuple{datapath::TcDirection::Egress, nodeport_egress_fd(), "egress"}}) {
      datapath::TcHook hook{*idx, dir, 1, 1};
      auto ok = datapath::tc_runs(hook, fd);
      if (!ok) return ok.error();
      if (*ok) continue;
      if (auto st = datapath::tc_attach_owned(hook, fd, device_programs()); !st) {
        if (st.error().errnum != EEXIST) return st.error();
        out.left.push_back(st.error().message);  // another tool's program: left in place
        continue;
      }
      out.restored.push_back(std::string("tc ") + name + " on " + dev);
    }
  }
  return out;
}

Status LbDatapath::set_snat_address(int ifindex, Ipv4Addr addr) {
  lb4_device d{};
  d.snat_addr = addr.to_be();
  return devices.update(uint32_t(ifindex), d);
}

Status LbDatapath::detach_all(const std::string& pin_root, const std::string& cgroup_path,
                              const std::vector<std::string>& devices) {
  (void)cgroup_path;
  for (const char* p : {"sock4_connect", "sock4_sendmsg", "sock4_recvmsg", "sock4_getpeername"}) {
    if (auto st = datapath::cgroup_detach_pinned(links_dir(pin_root) + "/cgroup_" + p); !st) {
      return st;
    }
  }
  Status result;
  for (const auto& dev : devices) {
    auto idx = datapath::ifindex_of(dev);
    if (!idx) continue;
    for (auto d : {datapath::TcDirection::Ingress, datapath::TcDirection::Egress}) {
      // Another tool's filter at the same handle and priority stays (the error names it).
      if (auto st = datapath::tc_detach_owned({*idx, d, 1, 1}, device_programs()); !st && result) {
        result = st;
      }
    }
  }
  return result;
}

}  // namespace netagent::lb
