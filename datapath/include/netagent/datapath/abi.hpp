#pragma once
// The kernel/user ABI as the C++ side sees it: the shared headers from bpf/include, layout
// descriptors of every struct that crosses the boundary (checked against the BTF of the built
// objects by tests/datapath/abi_btf_test.cpp), and names for the shared enums.
#include <cstddef>
#include <string>
#include <vector>

extern "C" {
#include "netagent/drop.h"
#include "netagent/events.h"
#include "netagent/lb.h"
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
};

// Every ABI struct known to this build, for the BTF check.
const std::vector<AbiStruct>& abi_structs();

// "no_backend", "malformed_l3", ...: the metric label of a drop reason.
const char* drop_reason_name(unsigned reason);
const char* lb_counter_name(unsigned counter);

}  // namespace netagent::datapath
