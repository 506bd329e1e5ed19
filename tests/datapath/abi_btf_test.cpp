// The ABI registry (datapath/src/abi.cpp) against the compiled BPF objects:
//  - every struct that crosses the kernel/user boundary (map keys and values, ring-buffer
//    records, load-time configuration) has the same size and members in C++ and in the BTF of
//    every built object that uses it, and is in the object the registry names. A header edit
//    that only one side picked up fails here, not in production.
//  - every value of a shared enum (drop reasons, LB counters, verdicts, policy matches) has a
//    name: adding a value to the kernel header without naming it fails here, not as an
//    "unknown" metric label.
#include <bpf/btf.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
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

// "nodeport" for .../bpf/nodeport.bpf.o.
std::string object_name(const std::string& path) {
  std::string f = std::filesystem::path(path).filename().string();
  return f.substr(0, f.find('.'));
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
  std::map<std::string, std::set<std::string>> found;  // struct -> objects holding it
  for (const auto& path : objs) {
    btf* b = btf__parse_elf(path.c_str(), nullptr);
    ASSERT_TRUE(b) << "cannot read BTF of " << path;
    for (const auto& s : abi_structs()) {
      int id = btf__find_by_name_kind(b, s.name, BTF_KIND_STRUCT);
      if (id < 0) continue;
      found[s.name].insert(object_name(path));
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
  // Each struct must be checked against the object that uses it, or the test proves nothing
  // for it.
  for (const auto& s : abi_structs()) {
    EXPECT_GT(found[s.name].size(), 0u) << s.name << " is in no object's BTF";
    EXPECT_TRUE(found[s.name].count(s.object)) << s.name << " is not in the BTF of " << s.object;
  }
}

TEST(AbiBtf, EveryEnumValueHasAName) {
  std::map<std::string, int> found;
  for (const auto& path : objects()) {
    btf* b = btf__parse_elf(path.c_str(), nullptr);
    ASSERT_TRUE(b) << "cannot read BTF of " << path;
    for (const auto& e : abi_enums()) {
      int id = btf__find_by_name_kind(b, e.name, BTF_KIND_ENUM);
      if (id < 0) continue;
      found[e.name]++;
      const btf_type* t = btf__type_by_id(b, id);
      const struct btf_enum* v = btf_enum(t);
      std::map<std::string, std::string> labels;  // name -> enumerator
      for (unsigned i = 0; i < btf_vlen(t); ++i, ++v) {
        std::string enumerator = btf__name_by_offset(b, v->name_off);
        if (std::find(e.unnamed.begin(), e.unnamed.end(), enumerator) != e.unnamed.end()) continue;
        std::string label = e.value_name(unsigned(v->val));
        EXPECT_NE(label, "unknown") << e.name << ": " << enumerator << " has no name";
        EXPECT_FALSE(label.empty()) << e.name << ": " << enumerator;
        // Two values with one name would be one metric series.
        auto [it, fresh] = labels.emplace(label, enumerator);
        EXPECT_TRUE(fresh) << e.name << ": " << enumerator << " and " << it->second
                           << " are both \"" << label << "\"";
      }
      // A value the kernel does not have is "unknown", not a name of another.
      EXPECT_STREQ(e.value_name(0xfffffu), "unknown") << e.name;
    }
    btf__free(b);
  }
  for (const auto& e : abi_enums())
    EXPECT_GT(found[e.name], 0) << "enum " << e.name << " is in no object's BTF (anchor it)";
}

}  // namespace
}  // namespace netagent::datapath
