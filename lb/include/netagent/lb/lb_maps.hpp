#pragma once
// The maps ServiceMaps programs, behind the map backend seam (netagent/datapath/map_backend.hpp):
// the LB datapath's maps in the kernel (LbDatapath::service_maps()), or in-memory fakes so that
// the order and the failures of a commit are tested without root (tests/lb/fake_lb_maps.hpp).
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "netagent/common/result.hpp"
#include "netagent/datapath/abi.hpp"
#include "netagent/datapath/typed_map.hpp"
#include "netagent/lb/maglev.hpp"

namespace netagent::lb {

// The Maglev tables: an outer map (lb4_maglev) from table id to an inner array whose one
// element holds a whole table of M backend ids.
class MaglevTables {
 public:
  using Table = std::vector<uint32_t>;
  virtual ~MaglevTables() = default;

  virtual uint32_t table_size() const = 0;
  // How many tables the outer map holds at most.
  virtual uint32_t max_tables() const = 0;
  // The table ids in the outer map (what an earlier run installed).
  virtual Result<std::vector<uint32_t>> ids() = 0;
  // The contents of table `id` as the maps hold it now; nullopt when the outer map has no such
  // id; an empty table when the entry is not a table of this size.
  virtual Result<std::optional<Table>> read(uint32_t id) = 0;
  // Rewrites table `id` in place (the programs read each entry atomically): true. False, with
  // nothing written, when no table of this size is installed under `id` (install it instead).
  virtual Result<bool> rewrite(uint32_t id, const Table& table) = 0;
  // Installs new tables together (the kernel waits for one RCU grace period for all of them).
  // `*installed`: how many, from the first, are in (all on success).
  virtual Status install(const std::vector<std::pair<uint32_t, Table>>& tables,
                         size_t* installed) = 0;
  // Removes tables together; a table already gone is not an error. `*removed`: how many, from
  // the first, are gone (all on success).
  virtual Status remove(const std::vector<uint32_t>& ids, size_t* removed) = 0;
};

// The kernel's tables behind the outer map `outer_fd` (not owned), inner maps of `table_size`.
std::unique_ptr<MaglevTables> kernel_maglev_tables(int outer_fd, uint32_t table_size);

struct LbMaps {
  datapath::TypedMap<lb4_svc_key, lb4_svc_value> services;
  datapath::TypedMap<uint32_t, lb4_backend> backends;
  datapath::TypedMap<uint32_t, lb4_revnat> revnat;
  std::shared_ptr<MaglevTables> maglev;
  MaglevSeed seed;
};

}  // namespace netagent::lb
