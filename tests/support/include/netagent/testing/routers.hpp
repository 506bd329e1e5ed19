#pragma once
// Reading BIRD 2's view in tests: `birdc show route all` as a map from prefix to the BGP
// attributes BIRD printed for the (first listed) route.
#include <cctype>
#include <map>
#include <sstream>
#include <string>

namespace netagent::testing {

struct BirdRoute {
  std::string origin, as_path, next_hop, med, local_pref, community, large_community;
};

inline std::map<std::string, BirdRoute> parse_bird_routes(const std::string& out) {
  std::map<std::string, BirdRoute> routes;
  BirdRoute* cur = nullptr;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line.rfind("BIRD", 0) == 0 || line.rfind("Table", 0) == 0) continue;
    if (!std::isspace(static_cast<unsigned char>(line[0]))) {
      cur = &routes[line.substr(0, line.find(' '))];
      continue;
    }
    if (!cur) continue;
    auto pos = line.find("BGP.");
    auto colon = line.find(": ");
    if (pos == std::string::npos || colon == std::string::npos) continue;
    std::string key = line.substr(pos + 4, colon - pos - 4);
    std::string value = line.substr(colon + 2);
    if (key == "origin") cur->origin = value;
    if (key == "as_path") cur->as_path = value;
    if (key == "next_hop") cur->next_hop = value;
    if (key == "med") cur->med = value;
    if (key == "local_pref") cur->local_pref = value;
    if (key == "community") cur->community = value;
    if (key == "large_community") cur->large_community = value;
  }
  return routes;
}

}  // namespace netagent::testing
