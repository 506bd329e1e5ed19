// netctl metrics: every metric the agent exports (the same as Prometheus), as a table.
#include <ostream>

#include "netagent/netctl/command.hpp"

namespace netctl = netagent::netctl;
using nlohmann::json;

namespace {

// One table row per sample; a histogram shows its _count and _sum.
json metric_rows(const json& families, const std::string& filter) {
  json rows = json::array();
  for (const auto& f : families) {
    const std::string name = f.value("name", "");
    if (!filter.empty() && name.find(filter) == std::string::npos) continue;
    for (const auto& s : f.value("samples", json::array())) {
      const json labels = s.value("labels", json::object());
      if (s.contains("value")) {
        rows.push_back({{"metric", name}, {"labels", labels}, {"value", s["value"]}});
      } else {
        rows.push_back({{"metric", name + "_count"}, {"labels", labels}, {"value", s["count"]}});
        rows.push_back({{"metric", name + "_sum"}, {"labels", labels}, {"value", s["sum"]}});
      }
    }
  }
  return rows;
}

}  // namespace

NETCTL_COMMANDS(metrics) {
  static std::string filter;
  CLI::App* app = commands.add(
      "metrics", "Metrics of the agent and its datapath (what /metrics exports)",
      [](const netctl::Context& ctx) {
        auto body = ctx.client().get("/v1/metrics");
        if (!body) return ctx.fail(body.error());
        json families = json::array();
        for (const auto& f : *body) {
          if (filter.empty() || f.value("name", "").find(filter) != std::string::npos) {
            families.push_back(f);
          }
        }
        ctx.print(families, [](const json& fams, std::ostream& out) {
          out << netctl::render_table(
              metric_rows(fams, ""),
              {{"METRIC", "metric"}, {"LABELS", "labels", netctl::labels()}, {"VALUE", "value"}});
        });
        return netctl::kExitOk;
      });
  app->add_option("filter", filter, "Show only metrics whose name contains this text");
}
