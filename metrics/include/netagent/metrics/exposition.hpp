#pragma once
// Renders collected metrics as the Prometheus text exposition format 0.0.4 (what /metrics
// serves) and as JSON (what the agent API's GET /v1/metrics and `netctl metrics -o json` show).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "netagent/metrics/registry.hpp"

namespace netagent::metrics {

inline constexpr const char* kTextContentType = "text/plain; version=0.0.4; charset=utf-8";

// One "# HELP" and "# TYPE" line per family, then its samples; histograms as _bucket{le=...}
// (cumulative, ending with le="+Inf"), _sum and _count.
std::string to_text(const std::vector<FamilySnapshot>& families);

// [{"name", "help", "type", "samples": [{"labels": {...}, "value": v}]}] for counters and gauges;
// histogram samples carry "count", "sum" and "buckets": [{"le": bound, "count": cumulative}].
// Non-finite values (which JSON cannot carry) are the strings "+Inf", "-Inf" and "NaN".
nlohmann::json to_json(const std::vector<FamilySnapshot>& families);

// A sample value as the exposition format writes it: integers without exponent or fraction,
// other values in the shortest form that reads back exactly, "+Inf", "-Inf", "NaN".
std::string format_value(double v);

}  // namespace netagent::metrics
