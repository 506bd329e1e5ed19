#include "netagent/mesh/cluster_state.hpp"

namespace netagent::mesh {

namespace {

template <typename K, typename V, typename KeyOut>
void diff_map(const std::map<K, V>& before, const std::map<K, V>& after, std::vector<V>& upserted,
              std::vector<KeyOut>& removed) {
  auto b = before.begin();
  auto a = after.begin();
  while (b != before.end() || a != after.end()) {
    if (a == after.end() || (b != before.end() && b->first < a->first)) {
      removed.push_back(b->first);
      ++b;
    } else if (b == before.end() || a->first < b->first) {
      upserted.push_back(a->second);
      ++a;
    } else {
      if (!(a->second == b->second)) upserted.push_back(a->second);
      ++a;
      ++b;
    }
  }
}

template <typename T>
void move_append(std::vector<T>& to, std::vector<T>& from) {
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}

}  // namespace

void StateChanges::append(StateChanges&& o) {
  move_append(nodes_upserted, o.nodes_upserted);
  move_append(nodes_removed, o.nodes_removed);
  move_append(endpoints_upserted, o.endpoints_upserted);
  move_append(endpoints_removed, o.endpoints_removed);
  move_append(identities_upserted, o.identities_upserted);
  move_append(identities_removed, o.identities_removed);
  move_append(services_upserted, o.services_upserted);
  move_append(services_removed, o.services_removed);
}

StateChanges diff_state(const ClusterState& before, const ClusterState& after) {
  StateChanges c;
  diff_map(before.nodes, after.nodes, c.nodes_upserted, c.nodes_removed);
  diff_map(before.endpoints, after.endpoints, c.endpoints_upserted, c.endpoints_removed);
  diff_map(before.identities, after.identities, c.identities_upserted, c.identities_removed);
  diff_map(before.services, after.services, c.services_upserted, c.services_removed);
  return c;
}

}  // namespace netagent::mesh
