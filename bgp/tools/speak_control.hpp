#pragma once
// bgpspeak's control commands, one per line (stdin or the unix control socket), each answered
// with one line: "ok ...", "error: ...", or a JSON document.
//
//   announce <route>                    e.g. announce 10.25.11.100/32 community 64512:100
//   announce-range <first> <count> [attributes]
//                                       count consecutive prefixes of the first's length
//   withdraw <prefix>  |  withdraw-range <first> <count>  |  withdraw-all
//   routes                              number of routes the instance should advertise
//   status | peers                      JSON status of every peer
//   advertised <peer> | received <peer> JSON routes sent to / received from the peer
//   use <instance>                      instance for the following route commands
//   reload                              re-read the configuration file (like SIGHUP)
//   stop [graceful|withdraw]            end the sessions and exit
//   ping
#include <functional>
#include <map>
#include <string>
#include <unordered_map>

#include "netagent/bgp/speaker.hpp"
#include "speak_config.hpp"

namespace boost::asio {
class io_context;
}

namespace netagent::bgp::speak {

class SpeakControl {
 public:
  SpeakControl(boost::asio::io_context& io, Speaker& speaker, std::string config_path,
               std::function<void(StopMode)> stop);

  // Applies the configuration file (initially and on reload): instances, peers, and the
  // file's routes merged with routes announced or changed by command since (a file route
  // withdrawn by command comes back on reload).
  Status load();
  std::string execute(const std::string& line);

 private:
  void changed();  // pushes the instance's routes to the Speaker once per burst of commands
  std::string instance_or_first() const;

  boost::asio::io_context& io_;
  Speaker& speaker_;
  std::string config_path_;
  std::function<void(StopMode)> stop_;
  std::string instance_;
  using Table = std::unordered_map<Prefix, Route>;
  std::map<std::string, Table> routes_;       // desired, by instance
  std::map<std::string, Table> file_routes_;  // as last read from the file
  std::map<std::string, bool> dirty_;
};

}  // namespace netagent::bgp::speak
