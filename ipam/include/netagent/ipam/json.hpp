#pragma once
// JSON forms of the allocation: the full result for `netctl ipam -o json` and the API, and the
// compact state the agent persists in its state directory and reads back after a restart.
#include <nlohmann/json.hpp>

#include "netagent/common/result.hpp"
#include "netagent/ipam/allocation.hpp"

namespace netagent::ipam {

nlohmann::json to_json(const ServiceAllocation& s);
nlohmann::json to_json(const PoolStatus& p);
// {"dormant": bool, "pools": [...], "services": [...], "errors": [...]}
nlohmann::json to_json(const Allocation& a);
nlohmann::json to_json(const IpamCounters& c);

// {"version": 1, "services": {"ns/name": ["10.0.0.1", ...]}}
nlohmann::json state_to_json(const AllocationState& st);
// Reads state_to_json's output back; an error says what is wrong and where.
Result<AllocationState> state_from_json(const nlohmann::json& j);

}  // namespace netagent::ipam
