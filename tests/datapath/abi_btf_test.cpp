// Every struct that crosses the kernel/user boundary must have the same size and member offsets
// in C++ (abi.hpp descriptors, static_asserts) and in the compiled BPF objects (their BTF). A
// header edit that only one side picked up fails here, not in production.
#include <bpf/btf.h>
#include <gtest/gtest.h>

#include <sstream>

#include "netagent/datapath/abi.hpp"

namespace netagent::datapath {
namespace {

std::vector<std::string> objects() {
  std::vector<std::string> out;
  std::stringstream ss(NETAGENT_BPF_OBJECTS);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// Collects (name, byte offset, byte size) of the struct's members, descending into anonymous
// unions/structs the way C does.
void members(const btf* b, const btf_type* t, size_t base,
             std::vector<std::tuple<std::string, size_t, size_t>>& out) {
  const btf_member* m = btf_members(t);
  for (unsigned i = 0; i < btf_vlen(t); ++i, ++m) {
    size_t off = base + btf_member_bit_offset(t, i) / 8;
    std::string name = btf__name_by_offset(b, m->name_off);
    const btf_type* mt = btf__type_by_id(b, m->type);
    if (name.empty() && (btf_is_struct(mt) || btf_is_union(mt))) {
      members(b, mt, off, out);
      continue;
    }
    out.emplace_back(name, off, size_t(btf__resolve_size(b, m->type)));
  }
}

TEST(AbiBtf, EveryAbiStructMatchesTheCompiledObjects) {
  auto objs = objects();
  ASSERT_FALSE(objs.empty());
  std::map<std::string, int> found;
  for (const auto& path : objs) {
    btf* b = btf__parse_elf(path.c_str(), nullptr);
    ASSERT_TRUE(b) << "cannot read BTF of " << path;
    for (const auto& s : abi_structs()) {
      int id = btf__find_by_name_kind(b, s.name, BTF_KIND_STRUCT);
      if (id < 0) continue;
      found[s.name]++;
      const btf_type* t = btf__type_by_id(b, id);
      EXPECT_EQ(size_t(t->size), s.size) << s.name << " in " << path;
      std::vector<std::tuple<std::string, size_t, size_t>> ms;
      members(b, t, 0, ms);
      ASSERT_EQ(ms.size(), s.fields.size()) << s.name << " in " << path;
      for (size_t i = 0; i < ms.size(); ++i) {
        EXPECT_EQ(std::get<0>(ms[i]), s.fields[i].name) << s.name;
        EXPECT_EQ(std::get<1>(ms[i]), s.fields[i].offset) << s.name << "." << s.fields[i].name;
        EXPECT_EQ(std::get<2>(ms[i]), s.fields[i].size) << s.name << "." << s.fields[i].name;
      }
    }
    btf__free(b);
  }
  // Each struct must be checked against at least one object, or the test proves nothing for it.
  for (const auto& s : abi_structs())
    EXPECT_GT(found[s.name], 0) << s.name << " is in no object's BTF";
}

}  // namespace
}  // namespace netagent::datapath
