#pragma once
// A reachability matrix in the Kubernetes e2e tests' printed form (test/e2e/network/netpol,
// truthtable.go): rows are sources, columns destinations, "." allowed and "X" denied.
#include <optional>
#include <string>
#include <vector>

namespace netagent::policy {

class Reachability {
 public:
  Reachability() = default;
  Reachability(std::vector<std::string> pods, bool initial);

  // Parses the printed form: a header line of destination names (an optional leading "-"), then
  // one line per source: its name and one mark per destination. Whitespace separates tokens.
  static std::optional<Reachability> parse(const std::string& text, std::string* error = nullptr);

  const std::vector<std::string>& pods() const { return pods_; }
  bool at(size_t from, size_t to) const { return cells_[from * pods_.size() + to]; }
  void set(size_t from, size_t to, bool v) { cells_[from * pods_.size() + to] = v; }
  std::optional<size_t> index(const std::string& pod) const;

  std::string str() const;
  // netctl's -o json form: {"pods": ["ns/name", ...], "allowed": [[true, ...], ...]} with
  // allowed[i][j] from pods[i] to pods[j].
  std::string json() const;
  // Cells that differ, as "x/a -> y/b: expected X, got ." lines; empty when equal.
  // With ignore_loopback the diagonal is not compared (k/k#95879).
  std::vector<std::string> diff(const Reachability& actual, bool ignore_loopback = true) const;

 private:
  std::vector<std::string> pods_;
  std::vector<bool> cells_;
};

}  // namespace netagent::policy
