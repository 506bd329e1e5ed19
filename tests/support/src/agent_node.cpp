#include "netagent/testing/agent_node.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>

#include "netagent/netctl/client.hpp"

namespace netagent::testing {

AgentNode::AgentNode(Options options)
    : dir(options.tag), bpf(options.tag), cgroup(options.tag), options_(std::move(options)) {
  if (options_.manifests.empty()) {
    options_.manifests = dir.path() + "/manifests";
    std::filesystem::create_directories(options_.manifests);
  }
}

void AgentNode::write_manifest(const std::string& file, const std::string& yaml) const {
  write_then_rename(manifests(), file, yaml);
}

void AgentNode::remove_manifest(const std::string& file) const {
  std::filesystem::remove(manifests() + "/" + file);
}

std::vector<std::string> AgentNode::args(const std::vector<std::string>& extra) const {
  std::vector<std::string> a = {
      NETAGENT_BIN, "--manifests", manifests(),   "--node-name", options_.node_name,
      "--bpf-root", bpf_root(),    "--state-dir", state_dir(),   "--api-socket",
      socket(),     "--cgroup",    cgroup.path(), "--log-level", options_.log_level};
  a.insert(a.end(), options_.flags.begin(), options_.flags.end());
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

std::unique_ptr<Process> AgentNode::start(const NetNs& ns,
                                          const std::vector<std::string>& extra) const {
  return std::make_unique<Process>(args(extra), &ns, log_path());
}

bool AgentNode::wait_api(const std::string& path,
                         const std::function<bool(const nlohmann::json&)>& ready,
                         std::chrono::milliseconds timeout) const {
  return wait_until(
      [&] {
        auto r = netctl::Client(socket(), std::chrono::seconds(2)).get(path);
        return r.ok() && (!ready || ready(*r));
      },
      timeout);
}

nlohmann::json AgentNode::api(const std::string& path, std::chrono::milliseconds timeout) const {
  auto r = netctl::Client(socket(), timeout).get(path);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().str());
  return r.ok() ? *r : nlohmann::json();
}

void write_then_rename(const std::string& dir, const std::string& name, const std::string& text) {
  std::string tmp = dir + "/." + name + ".tmp";
  std::ofstream(tmp) << text;
  std::filesystem::rename(tmp, dir + "/" + name);
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::optional<double> metric_value(const nlohmann::json& families, const std::string& name,
                                   const std::map<std::string, std::string>& labels) {
  std::optional<double> sum;
  for (const auto& f : families) {
    if (f.value("name", "") != name) continue;
    for (const auto& s : f.value("samples", nlohmann::json::array())) {
      bool match = s.contains("value") && s["value"].is_number();
      for (const auto& [k, v] : labels)
        match = match && s["labels"].value(k, "") == v;
      if (match) sum = sum.value_or(0) + s["value"].get<double>();
    }
  }
  return sum;
}

LbProgram lb_wanted(const nlohmann::json& services) {
  LbProgram out;
  for (const auto& row : services["services"]) {
    auto& bs = out[row["frontend"].get<std::string>()];
    for (const auto& b : row["backends"])
      bs.insert(b["address"].get<std::string>());
  }
  return out;
}

LbProgram lb_in_maps(const nlohmann::json& bpf_lb) {
  LbProgram out;
  for (const auto& f : bpf_lb["frontends"]) {
    auto& bs = out[f["frontend"].get<std::string>()];
    for (const auto& b : f["backends"]) {
      // "10.1.0.5:8080 (#3)" -> "10.1.0.5:8080/TCP"
      auto s = b.get<std::string>();
      bs.insert(s.substr(0, s.find(' ')) + "/TCP");
    }
  }
  return out;
}

}  // namespace netagent::testing
