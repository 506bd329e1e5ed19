#pragma once
// The kernel/user ABI as the C++ side sees it, in one registry: the shared headers from
// bpf/include, a layout descriptor of every struct that crosses the boundary (map keys and
// values, ring-buffer records, load-time configuration) and a name for every value of the shared
// enums. tests/datapath/abi_btf_test.cpp checks both against the BTF of the built objects.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

extern "C" {
#include "netagent/drop.h"
#include "netagent/events.h"
#include "netagent/ipcache.h"
#include "netagent/lb.h"
#include "netagent/policy.h"
}

namespace netagent::datapath {

struct AbiField {
  const char* name;
  size_t offset;
  size_t size;
};

struct AbiStruct {
  const char* name;  // the C struct tag, as in BTF
  size_t size;
  std::vector<AbiField> fields;
  const char* object;  // a built object (bpf/<object>.bpf.c) whose BTF must hold it
};

// Every ABI struct known to this build, for the BTF check.
const std::vector<AbiStruct>& abi_structs();

// A shared enum and the names the agent gives its values (metric labels, `netctl` output).
struct AbiEnum {
  const char* name;                     // the C enum tag, as in BTF
  const char* (*value_name)(unsigned);  // "unknown" for a value it does not know
  std::vector<std::string> unnamed;     // enumerators that are no value (bounds, unused slots)
};

// Every named ABI enum, for the check that each of its values has a name.
const std::vector<AbiEnum>& abi_enums();

// "no_backend", "malformed_l3", ...: the metric label of a drop reason.
const char* drop_reason_name(unsigned reason);
// "svc_new", "revnat", ...: the metric label of an LB counter.
const char* lb_counter_name(unsigned counter);
// "forwarded", "dropped", "audit": the metric label of a flow verdict.
const char* flow_verdict_name(unsigned verdict);
// "none", "L3-only", "L3-L4", "L4-only", "all": what a policy verdict matched.
const char* policy_match_name(unsigned match);

// A name the agent pins under --bpf-root: a map pinned by name (LIBBPF_PIN_BY_NAME), the Maglev
// tables (pinned with their size as a suffix), an earlier version's map, or a cgroup link.
// `netagent --cleanup` removes these and nothing else (datapath/pins.hpp).
struct PinnedName {
  const char* name;      // relative to bpf-root ("links/cgroup_sock4_connect")
  const char* object;    // the built object that declares the map ("" for links and old maps)
  bool numbered_suffix;  // name + decimal digits ("lb4_maglev_" + "16381")
};
const std::vector<PinnedName>& pinned_names();
// Whether a path relative to bpf-root is one of pinned_names().
bool is_agent_pin(std::string_view relative);

}  // namespace netagent::datapath
