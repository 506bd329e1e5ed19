// `netagent --cleanup` removes the agent's own pins and nothing else:
//  - every map a built object pins by name is in the ABI registry's pinned_names(), so that
//    cleanup knows it (a new pinned map without a registry entry fails here);
//  - remove_agent_pins() unlinks those names and keeps everything else, listing it.
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "netagent/datapath/abi.hpp"
#include "netagent/datapath/pins.hpp"
#include "netagent/testing/netns.hpp"

namespace netagent::datapath {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> built_objects() {
  std::vector<std::string> out;
  std::stringstream ss(NETAGENT_BPF_OBJECTS);
  for (std::string item; std::getline(ss, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

TEST(AgentPins, EveryMapPinnedByNameIsInTheRegistry) {
  size_t pinned = 0;
  for (const auto& path : built_objects()) {
    LIBBPF_OPTS(bpf_object_open_opts, o);
    o.pin_root_path = "/sys/fs/bpf/netagent-pin-check";  // only read back, never pinned
    bpf_object* obj = bpf_object__open_file(path.c_str(), &o);
    ASSERT_NE(obj, nullptr) << path;
    bpf_map* m = nullptr;
    bpf_object__for_each_map(m, obj) {
      if (!bpf_map__pin_path(m)) continue;  // not LIBBPF_PIN_BY_NAME
      ++pinned;
      std::string name = bpf_map__name(m);
      // The Maglev tables are pinned with their size appended (lb_datapath.cpp).
      EXPECT_TRUE(is_agent_pin(name) || is_agent_pin(name + "_16381"))
          << path << ": map " << name << " is pinned by name but not in pinned_names()";
    }
    bpf_object__close(obj);
  }
  EXPECT_GT(pinned, 10u);
}

TEST(AgentPins, KnowsItsNamesAndNoOthers) {
  for (const char* n : {"lb4_services", "policy_entries", "lb4_maglev_16381", "lb4_maglev_251",
                        "drop_stats", "links/cgroup_sock4_connect"}) {
    EXPECT_TRUE(is_agent_pin(n)) << n;
  }
  for (const char* n : {"lb4_maglev_", "lb4_maglev_x", "lb4_services2", "other/lb4_services",
                        "links/other", "cilium_calls", "links"}) {
    EXPECT_FALSE(is_agent_pin(n)) << n;
  }
}

TEST(AgentPins, CleanupRemovesOnlyTheAgentsPins) {
  testing::TempDir dir("na-pins");
  const std::string root = dir.path() + "/root";
  fs::create_directories(root + "/links");
  fs::create_directories(root + "/other-tool/maps");
  fs::create_directories(root + "/empty-foreign");
  for (const char* f :
       {"lb4_services", "lb4_maglev_16381", "ipcache4", "links/cgroup_sock4_connect", "foreign_map",
        "links/foreign_link", "other-tool/maps/lb4_services"}) {
    std::ofstream(root + "/" + f) << "";
  }
  auto r = remove_agent_pins(root);
  ASSERT_TRUE(r.ok()) << r.error().str();
  std::sort(r->removed.begin(), r->removed.end());
  EXPECT_EQ(r->removed, (std::vector<std::string>{"ipcache4", "lb4_maglev_16381", "lb4_services",
                                                  "links/cgroup_sock4_connect"}));
  EXPECT_EQ(r->left,
            (std::vector<std::string>{"empty-foreign/", "foreign_map", "links/foreign_link",
                                      "other-tool/maps/lb4_services"}));
  EXPECT_FALSE(r->root_removed);
  EXPECT_TRUE(fs::exists(root + "/other-tool/maps/lb4_services"));
  EXPECT_TRUE(fs::exists(root + "/links/foreign_link"));
  EXPECT_FALSE(fs::exists(root + "/lb4_services"));

  // Only the agent's pins: the root and links/ go once empty.
  const std::string mine = dir.path() + "/mine";
  fs::create_directories(mine + "/links");
  std::ofstream(mine + "/lb4_backends") << "";
  std::ofstream(mine + "/links/cgroup_sock4_recvmsg") << "";
  auto m = remove_agent_pins(mine);
  ASSERT_TRUE(m.ok()) << m.error().str();
  EXPECT_TRUE(m->left.empty());
  EXPECT_TRUE(m->root_removed);
  EXPECT_FALSE(fs::exists(mine));
  // Nothing there: nothing to do.
  EXPECT_TRUE(remove_agent_pins(mine).ok());
}

TEST(AgentPins, AMountRootIsRecognised) {
  auto root = is_mount_root("/");
  ASSERT_TRUE(root.ok());
  EXPECT_TRUE(*root);
  testing::TempDir dir("na-mnt");
  auto sub = is_mount_root(dir.path());
  ASSERT_TRUE(sub.ok());
  EXPECT_FALSE(*sub);
}

}  // namespace
}  // namespace netagent::datapath
