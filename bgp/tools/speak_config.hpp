#pragma once
// bgpspeak's YAML configuration: the Speaker's instances and peers plus each instance's routes.
//
//   instances:
//     - name: infra
//       local_asn: 64512
//       router_id: 10.25.11.11
//       listen_port: 1790            # optional: accept incoming sessions
//       peers:
//         - name: srx
//           address: 10.25.11.1
//           peer_asn: 64501
//           hold_time: 90              # seconds; also keepalive_time, connect_retry
//           ebgp_multihop_ttl: 1
//           md5_password: secret
//           passive: false
//           graceful_restart: {enabled: true, restart_time: 120}
//           families: [ipv4-unicast, ipv6-unicast]
//           local_address: 10.25.11.11
//       routes:
//         - 10.25.11.100/32 community 64512:100 large-community 64512:1:2
#include <map>
#include <string>
#include <vector>

#include "netagent/bgp/config.hpp"
#include "netagent/common/result.hpp"

namespace netagent::bgp::speak {

struct SpeakFile {
  SpeakerConfig speaker;
  std::map<std::string, std::vector<Route>> routes;  // by instance name
};

// Reads and validates the file; errors name the file and field, e.g.
// "lab.yaml: instances[0].peers[0].peer_asn: is required".
Result<SpeakFile> load_speak_file(const std::string& path);
Result<SpeakFile> parse_speak_yaml(const std::string& text, const std::string& source);

}  // namespace netagent::bgp::speak
