#include "netagent/netctl/table.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

namespace netagent::netctl {

namespace {

// Display width: code points, not bytes (UTF-8 continuation bytes do not count).
size_t width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  std::string line;
  std::istringstream in(s);
  while (std::getline(in, line))
    out.push_back(line);
  if (out.empty()) out.emplace_back();
  return out;
}

std::string dump(const nlohmann::json& v) {
  return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string text(const nlohmann::json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    if (v.empty()) return "-";
    std::string out;
    for (const auto& e : v)
      out += (out.empty() ? "" : ", ") + text(e);
    return out;
  }
  if (v.is_object()) {
    if (v.empty()) return "-";
    std::string out;
    for (const auto& [k, e] : v.items())
      out += (out.empty() ? "" : ", ") + k + "=" + text(e);
    return out;
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (d == std::floor(d) && std::fabs(d) < 1e15) return std::to_string(int64_t(d));
    std::ostringstream s;
    s << std::setprecision(12) << d;  // no exponent for Unix times and byte counts
    return s.str();
  }
  return dump(v);
}

nlohmann::json select(const nlohmann::json& row, const std::string& field) {
  if (field.empty()) return row;
  if (field[0] == '/') {
    try {
      auto ptr = nlohmann::json::json_pointer(field);
      return row.contains(ptr) ? row.at(ptr) : nlohmann::json();
    } catch (const nlohmann::json::exception&) {
      return nullptr;
    }
  }
  if (row.is_object()) {
    auto it = row.find(field);
    if (it != row.end()) return *it;
  }
  return nullptr;
}

std::string render_table(const nlohmann::json& rows, const std::vector<Column>& columns) {
  std::vector<std::vector<std::vector<std::string>>> cells;  // row -> column -> lines
  std::vector<size_t> widths;
  for (const auto& c : columns)
    widths.push_back(width(c.header));
  if (rows.is_array()) {
    for (const auto& row : rows) {
      std::vector<std::vector<std::string>> r;
      for (size_t i = 0; i < columns.size(); ++i) {
        auto value = select(row, columns[i].field);
        std::string t = columns[i].format ? columns[i].format(value, row) : text(value);
        auto ls = split_lines(t);
        for (const auto& l : ls)
          widths[i] = std::max(widths[i], width(l));
        r.push_back(std::move(ls));
      }
      cells.push_back(std::move(r));
    }
  }
  std::string out;
  auto emit = [&](const std::vector<std::string>& line) {
    std::string s;
    for (size_t i = 0; i < line.size(); ++i) {
      s += line[i];
      if (i + 1 < line.size()) s += std::string(widths[i] - width(line[i]) + 2, ' ');
    }
    while (!s.empty() && s.back() == ' ')
      s.pop_back();
    out += s + "\n";
  };
  std::vector<std::string> header;
  for (const auto& c : columns)
    header.push_back(c.header);
  emit(header);
  for (const auto& r : cells) {
    size_t height = 0;
    for (const auto& c : r)
      height = std::max(height, c.size());
    for (size_t l = 0; l < height; ++l) {
      std::vector<std::string> line;
      for (const auto& c : r)
        line.push_back(l < c.size() ? c[l] : "");
      emit(line);
    }
  }
  return out;
}

std::string render_fields(const nlohmann::json& object,
                          const std::vector<std::pair<std::string, std::string>>& fields) {
  std::vector<std::pair<std::string, std::string>> rows;
  if (fields.empty()) {
    if (object.is_object()) {
      for (const auto& [k, v] : object.items())
        rows.emplace_back(k, text(v));
    }
  } else {
    for (const auto& [header, field] : fields)
      rows.emplace_back(header, text(select(object, field)));
  }
  size_t w = 0;
  for (const auto& [h, v] : rows)
    w = std::max(w, width(h));
  std::string out;
  for (const auto& [h, v] : rows) {
    auto ls = split_lines(v);
    for (size_t i = 0; i < ls.size(); ++i) {
      std::string head = i == 0 ? h + ":" : "";
      out += head + std::string(w + 3 - width(head), ' ') + ls[i] + "\n";
    }
  }
  return out;
}

CellFormat join(const std::string& separator) {
  return [separator](const nlohmann::json& v, const nlohmann::json&) {
    if (!v.is_array()) return text(v);
    if (v.empty()) return std::string("-");
    std::string out;
    for (const auto& e : v)
      out += (out.empty() ? "" : separator) + text(e);
    return out;
  };
}

CellFormat lines() {
  return join("\n");
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "-";
  if (seconds < 0.001) return std::to_string(int64_t(std::llround(seconds * 1e6))) + "µs";
  if (seconds < 1) return std::to_string(int64_t(std::llround(seconds * 1000))) + "ms";
  int64_t s = static_cast<int64_t>(seconds);
  int64_t d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60, sec = s % 60;
  if (d > 0) return std::to_string(d) + "d" + std::to_string(h) + "h";
  if (h > 0) return std::to_string(h) + "h" + std::to_string(m) + "m";
  if (m > 0) return std::to_string(m) + "m" + std::to_string(sec) + "s";
  return std::to_string(sec) + "s";
}

CellFormat duration() {
  return [](const nlohmann::json& v, const nlohmann::json&) {
    return v.is_number() ? format_duration(v.get<double>()) : text(v);
  };
}

CellFormat labels() {
  return [](const nlohmann::json& v, const nlohmann::json&) {
    if (!v.is_object() || v.empty()) return text(v);
    std::vector<std::string> parts;
    for (const auto& [k, e] : v.items())
      parts.push_back(k + "=" + text(e));
    std::sort(parts.begin(), parts.end());
    std::string out;
    for (const auto& p : parts)
      out += (out.empty() ? "" : ",") + p;
    return out;
  };
}

}  // namespace netagent::netctl
