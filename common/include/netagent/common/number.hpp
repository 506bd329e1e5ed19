#pragma once
// Decimal numbers in text the agent reads (API paths and queries, settings, keys in etcd, route
// lines of a configuration file).
#include <charconv>
#include <concepts>
#include <optional>
#include <string_view>
#include <system_error>

namespace netagent {

// The whole of `s` as a decimal T: digits only (and a leading '-' for a signed T); an empty
// string, spaces, a '+', trailing characters or a value out of T's range give nullopt.
template <std::integral T>
std::optional<T> parse_integer(std::string_view s) {
  T v{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace netagent
