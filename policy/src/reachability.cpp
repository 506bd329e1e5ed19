#include "netagent/policy/reachability.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>

namespace netagent::policy {

Reachability::Reachability(std::vector<std::string> pods, bool initial)
    : pods_(std::move(pods)), cells_(pods_.size() * pods_.size(), initial) {}

std::optional<size_t> Reachability::index(const std::string& pod) const {
  auto it = std::find(pods_.begin(), pods_.end(), pod);
  if (it == pods_.end()) return std::nullopt;
  return size_t(it - pods_.begin());
}

std::optional<Reachability> Reachability::parse(const std::string& text, std::string* error) {
  auto fail = [&](const std::string& m) -> std::optional<Reachability> {
    if (error) *error = m;
    return std::nullopt;
  };
  std::istringstream in(text);
  std::string line;
  std::vector<std::vector<std::string>> rows;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<std::string> toks;
    for (std::string t; ls >> t;)
      toks.push_back(t);
    if (!toks.empty()) rows.push_back(std::move(toks));
  }
  if (rows.empty()) return fail("empty matrix");
  auto header = rows[0];
  if (!header.empty() && header[0] == "-") header.erase(header.begin());
  Reachability r(header, false);
  if (rows.size() != header.size() + 1) {
    return fail("expected " + std::to_string(header.size()) + " rows, found " +
                std::to_string(rows.size() - 1));
  }
  for (size_t i = 0; i < header.size(); ++i) {
    const auto& row = rows[i + 1];
    if (row.size() != header.size() + 1 || row[0] != header[i]) {
      return fail("row " + std::to_string(i + 1) + " must be \"" + header[i] + "\" and " +
                  std::to_string(header.size()) + " marks");
    }
    for (size_t j = 0; j < header.size(); ++j) {
      if (row[j + 1] != "." && row[j + 1] != "X") return fail("mark must be . or X: " + row[j + 1]);
      r.set(i, j, row[j + 1] == ".");
    }
  }
  return r;
}

std::string Reachability::str() const {
  size_t w = 1;
  for (const auto& p : pods_)
    w = std::max(w, p.size());
  auto pad = [&](const std::string& s) { return s + std::string(w - s.size() + 1, ' '); };
  std::string out = pad("-");
  for (const auto& p : pods_)
    out += pad(p);
  out.pop_back();
  out += "\n";
  for (size_t i = 0; i < pods_.size(); ++i) {
    out += pad(pods_[i]);
    for (size_t j = 0; j < pods_.size(); ++j)
      out += pad(at(i, j) ? "." : "X");
    out.pop_back();
    out += "\n";
  }
  return out;
}

std::string Reachability::json() const {
  nlohmann::json rows = nlohmann::json::array();
  for (size_t i = 0; i < pods_.size(); ++i) {
    nlohmann::json row = nlohmann::json::array();
    for (size_t j = 0; j < pods_.size(); ++j)
      row.push_back(bool(at(i, j)));
    rows.push_back(std::move(row));
  }
  return nlohmann::json{{"pods", pods_}, {"allowed", std::move(rows)}}.dump();
}

std::vector<std::string> Reachability::diff(const Reachability& actual,
                                            bool ignore_loopback) const {
  std::vector<std::string> out;
  if (actual.pods_ != pods_) return {"pod lists differ"};
  for (size_t i = 0; i < pods_.size(); ++i) {
    for (size_t j = 0; j < pods_.size(); ++j) {
      if (ignore_loopback && i == j) continue;
      if (at(i, j) != actual.at(i, j)) {
        out.push_back(pods_[i] + " -> " + pods_[j] + ": expected " + (at(i, j) ? "." : "X") +
                      ", got " + (actual.at(i, j) ? "." : "X"));
      }
    }
  }
  return out;
}

}  // namespace netagent::policy
