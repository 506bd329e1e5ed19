// The agent's memory after a large apply and delete (issue 10, "Memory"): 1,000 services x 100
// endpoints are applied (100,000 backends in the LB maps), then deleted; the agent's RSS must come
// back to within 2x of its idle figure. Also prints the RSS per service and per backend at the
// peak (docs/services.md quotes them).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "netagent/testing/agent_node.hpp"
#include "netagent/testing/privileged.hpp"
#include "netagent/testing/sockets.hpp"
#include "netagent/testing/topology.hpp"

namespace netagent {
namespace {

using namespace netagent::testing;
using namespace std::chrono_literals;

constexpr int kServices = 1000, kEndpoints = 100, kFiles = 10;

// Services [first, first + n) with their EndpointSlices.
std::string services(int first, int n) {
  std::ostringstream y;
  for (int s = first; s < first + n; ++s) {
    y << "apiVersion: v1\nkind: Service\nmetadata: {name: s" << s
      << ", namespace: mem}\nspec:\n  clusterIP: 10.96." << s / 250 << "." << s % 250 + 1
      << "\n  selector: {app: s" << s
      << "}\n  ports: [{name: http, port: 80, targetPort: 8080}]\n---\n"
      << "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s" << s
      << "-1, namespace: mem, labels: {kubernetes.io/service-name: s" << s
      << "}}\naddressType: IPv4\nports: [{name: http, port: 8080}]\nendpoints:\n";
    for (int e = 0; e < kEndpoints; ++e) {
      const int i = s * kEndpoints + e;  // a distinct backend per endpoint
      y << "- {addresses: [10." << 64 + i / 65536 << "." << i / 256 % 256 << "." << i % 256
        << "], nodeName: node-a}\n";
    }
    y << "---\n";
  }
  return y.str();
}

TEST(AgentMemory, RssReturnsToWithinTwiceIdleAfterALargeApplyAndDelete) {
  NETAGENT_REQUIRE_ROOT();
  Lan lan("amem");
  auto node = lan.host("node", "10.25.11.11/24");
  AgentNode agent_node{{.tag = "agent-mem"}};
  agent_node.write_manifest("node.yaml", R"(apiVersion: v1
kind: Node
metadata: {name: node-a}
status: {addresses: [{type: InternalIP, address: 10.25.11.11}]}
)");
  auto agent = agent_node.start(node->ns());
  auto lb = [&] {
    const auto status = agent_node.api("/v1/status", 20s);
    for (const auto& r : status.value("reconcilers", nlohmann::json::array())) {
      if (r.value("name", "") == "lb") return r;
    }
    return nlohmann::json::object();
  };
  auto settled = [&](size_t frontends) {
    auto r = lb();
    return r.contains("status") && r["state"] == "ok" && r["status"]["frontends"] == frontends;
  };
  ASSERT_TRUE(agent_node.wait_api("/v1/status")) << agent->log();
  ASSERT_TRUE(wait_until([&] { return settled(0); }, 10s)) << agent->log();
  std::this_thread::sleep_for(1s);
  const long idle = rss_kib(agent->pid());
  ASSERT_GT(idle, 0);

  const auto t0 = std::chrono::steady_clock::now();
  for (int f = 0; f < kFiles; ++f) {
    agent_node.write_manifest("svc-" + std::to_string(f) + ".yaml",
                              services(f * kServices / kFiles, kServices / kFiles));
  }
  ASSERT_TRUE(wait_until([&] { return settled(kServices); }, 60s)) << lb().dump();
  const auto applied = std::chrono::steady_clock::now() - t0;
  const long peak = rss_kib(agent->pid());
  EXPECT_EQ(lb()["status"]["backends"], kServices * kEndpoints);

  for (int f = 0; f < kFiles; ++f)
    agent_node.remove_manifest("svc-" + std::to_string(f) + ".yaml");
  // Deleted, and the retired backends collected (grace 1 s; the next GC pass within 10 s).
  ASSERT_TRUE(wait_until(
      [&] {
        auto r = lb();
        return settled(0) && r["status"]["backends"] == 0;
      },
      30s))
      << lb().dump();
  std::this_thread::sleep_for(1s);
  const long after = rss_kib(agent->pid());

  const double per_service = double(peak - idle) / kServices;
  const double per_backend = double(peak - idle) / (kServices * kEndpoints);
  std::printf(
      "RSS idle %ld KiB, with %d services x %d endpoints %ld KiB (applied in %.1f s; %.1f KiB "
      "per service, %.0f bytes per backend), after deleting them %ld KiB (%.2fx idle)\n",
      idle, kServices, kEndpoints, peak, std::chrono::duration<double>(applied).count(),
      per_service, per_backend * 1024, after, double(after) / double(idle));
  RecordProperty("rss_idle_kib", std::to_string(idle));
  RecordProperty("rss_peak_kib", std::to_string(peak));
  RecordProperty("rss_after_kib", std::to_string(after));
  EXPECT_LE(after, 2 * idle) << "idle " << idle << " KiB, peak " << peak << " KiB, after " << after
                             << " KiB";
  EXPECT_TRUE(agent->alive());
}

}  // namespace
}  // namespace netagent
