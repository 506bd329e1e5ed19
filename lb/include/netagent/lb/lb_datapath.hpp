#pragma once
// The service load-balancing programs and maps in the kernel: the socket LB object (cgroup hooks)
// and the NodePort object (TC on external devices), loaded with their maps pinned under the
// agent's bpf root so that a restarted agent finds them again.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "netagent/common/ip.hpp"
#include "netagent/common/result.hpp"
#include "netagent/datapath/abi.hpp"
#include "netagent/datapath/attach.hpp"
#include "netagent/datapath/skeleton.hpp"
#include "netagent/datapath/typed_map.hpp"
#include "netagent/lb/lb_maps.hpp"
#include "netagent/lb/maglev.hpp"

struct sock_lb;
struct nodeport;

namespace netagent::lb {

struct LbDatapathOptions {
  // bpffs directory for pinned maps and links; nullopt = private maps (tests, benchmarks).
  std::optional<std::string> pin_root;
  uint32_t maglev_table_size = kMaglevDefaultTableSize;
  MaglevSeed seed;
  uint16_t nodeport_min = 30000;
  uint16_t nodeport_max = 32767;
  // The LB maps' size (--bpf-lb-map-max): N rev-NAT entries and Maglev tables, 2N backends, 4N
  // service-map entries. 0: as compiled (N = LB_MAX_SERVICES). Pinned maps of another size are
  // refused at load with a clear error.
  uint32_t map_max = 0;
};

class LbDatapath {
 public:
  static Result<std::unique_ptr<LbDatapath>> load(const LbDatapathOptions& opts);
  ~LbDatapath();

  // Attaches the socket hooks to a cgroup v2 directory (pinned links, replaced atomically).
  Status attach_cgroup(const std::string& cgroup_path);
  // Attaches the TC programs to each external device (ingress and egress) and records the
  // device's first IPv4 address as the SNAT address for flows to remote backends.
  Status attach_devices(const std::vector<std::string>& devices);
  // The drift check of the attachments: puts back what attach_cgroup/attach_devices installed
  // where it is gone (a `tc filter del`, a detached or unpinned cgroup link). A TC hook where
  // another tool's program now runs is left alone (as attach_devices does) and reported.
  struct AttachmentRepairs {
    std::vector<std::string> restored;  // "tc ingress on eth0", "cgroup sock4_connect"
    std::vector<std::string> left;      // found different and not replaced, with why
  };
  Result<AttachmentRepairs> restore_attachments(const std::string& cgroup_path,
                                                const std::vector<std::string>& devices);
  // Sets the SNAT address of a device explicitly (tests; devices without an address).
  Status set_snat_address(int ifindex, Ipv4Addr addr);
  // Removes what attach_* installed (for `netagent --cleanup`).
  static Status detach_all(const std::string& pin_root, const std::string& cgroup_path,
                           const std::vector<std::string>& devices);

  const LbDatapathOptions& options() const { return opts_; }
  // The maps ServiceMaps programs (each call opens the Maglev tables afresh, as a new process
  // would).
  LbMaps service_maps() const;

  datapath::TypedMap<lb4_svc_key, lb4_svc_value> services;
  datapath::TypedMap<uint32_t, lb4_backend> backends;
  datapath::TypedMap<uint32_t, lb4_revnat> revnat;
  datapath::TypedMap<ct4_key, ct4_value> conntrack;
  datapath::TypedMap<lb4_sock_key, lb4_sock_value> sock_revnat;
  datapath::TypedMap<lb_affinity_key, lb_affinity_value> affinity;
  datapath::TypedMap<uint32_t, lb4_device> devices;
  datapath::PerCpuArray<drop_counter> drops;  // every program's; the LB's set first (DROP_SET_LB)
  datapath::PerCpuArray<uint64_t> counters;
  int maglev_outer_fd = -1;

  int nodeport_ingress_fd() const;
  int nodeport_egress_fd() const;
  int sock_connect_fd() const;

 private:
  LbDatapath() = default;
  LbDatapathOptions opts_;
  std::optional<datapath::Skeleton<::sock_lb>> sock_;
  std::optional<datapath::Skeleton<::nodeport>> np_;
};

}  // namespace netagent::lb
