#include "netagent/metrics/exposition.hpp"

#include <fmt/format.h>

#include <cmath>

namespace netagent::metrics {

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Whole numbers below 2^53 print exactly as integers ("3", not "3.0" or "3e+00").
  if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0) {
    return fmt::format("{}", static_cast<int64_t>(v));
  }
  return fmt::format("{}", v);  // shortest round-trip representation
}

namespace {

// HELP text escapes backslash and newline; label values also escape the double quote.
std::string escape(const std::string& s, bool quote) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

void append_labels(std::string& out, const Labels& labels, const std::string* le = nullptr) {
  if (labels.empty() && !le) return;
  out += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    out += escape(v, true);
    out += '"';
  }
  if (le) {
    if (!first) out += ',';
    out += "le=\"";
    out += *le;
    out += '"';
  }
  out += '}';
}

nlohmann::json json_number(double v) {
  if (std::isfinite(v)) return v;
  return format_value(v);
}

nlohmann::json json_labels(const Labels& labels) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : labels)
    j[k] = v;
  return j;
}

}  // namespace

std::string to_text(const std::vector<FamilySnapshot>& families) {
  std::string out;
  for (const auto& f : families) {
    out += "# HELP " + f.name + " " + escape(f.help, false) + "\n";
    out += "# TYPE " + f.name + " " + type_name(f.type) + "\n";
    for (const auto& s : f.samples) {
      out += f.name;
      append_labels(out, s.labels);
      out += ' ';
      out += format_value(s.value);
      out += '\n';
    }
    for (const auto& h : f.histograms) {
      for (const auto& [bound, count] : h.buckets) {
        std::string le = format_value(bound);
        out += f.name + "_bucket";
        append_labels(out, h.labels, &le);
        out += ' ' + std::to_string(count) + '\n';
      }
      std::string inf = "+Inf";
      out += f.name + "_bucket";
      append_labels(out, h.labels, &inf);
      out += ' ' + std::to_string(h.count) + '\n';
      out += f.name + "_sum";
      append_labels(out, h.labels);
      out += ' ' + format_value(h.sum) + '\n';
      out += f.name + "_count";
      append_labels(out, h.labels);
      out += ' ' + std::to_string(h.count) + '\n';
    }
  }
  return out;
}

nlohmann::json to_json(const std::vector<FamilySnapshot>& families) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& f : families) {
    nlohmann::json samples = nlohmann::json::array();
    for (const auto& s : f.samples) {
      samples.push_back({{"labels", json_labels(s.labels)}, {"value", json_number(s.value)}});
    }
    for (const auto& h : f.histograms) {
      nlohmann::json buckets = nlohmann::json::array();
      for (const auto& [bound, count] : h.buckets) {
        buckets.push_back({{"le", json_number(bound)}, {"count", count}});
      }
      buckets.push_back({{"le", "+Inf"}, {"count", h.count}});
      samples.push_back({{"labels", json_labels(h.labels)},
                         {"count", h.count},
                         {"sum", json_number(h.sum)},
                         {"buckets", std::move(buckets)}});
    }
    out.push_back({{"name", f.name},
                   {"help", f.help},
                   {"type", type_name(f.type)},
                   {"samples", std::move(samples)}});
  }
  return out;
}

}  // namespace netagent::metrics
