#pragma once
// The embedded BGP speaker. The agent owns one Speaker on its io_context and drives it with
// desired state:
//
//   bgp::Speaker speaker(io);
//   speaker.set_config(config);          // instances and peers, applied as a diff
//   speaker.set_routes("infra", routes); // the desired advertisements, applied as a diff
//   ... speaker.peers(), speaker.advertised("infra", "srx"), speaker.received(...)
//   speaker.stop(bgp::StopMode::graceful, [&] { io.stop(); });
//
// Every method must be called on the io_context's thread; none blocks. Sessions connect out
// (and listen only where an instance has a listen_port), one Asio socket per session, no
// threads. Routes go to a peer once its session is Established, followed by End-of-RIB; later
// changes go out as the minimal UPDATEs, prefixes with identical attributes packed together.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "netagent/bgp/config.hpp"
#include "netagent/bgp/status.hpp"
#include "netagent/common/result.hpp"

namespace boost::asio {
class io_context;
}

namespace netagent::bgp {

struct PeerEvent {
  std::string instance;
  std::string peer;
  SessionState from = SessionState::idle;
  SessionState to = SessionState::idle;
};

struct SpeakerOptions {
  // This process may have restarted with routes still held by graceful-restart peers: set the
  // Restart State bit in the first OPEN to each of them (RFC 4724 §4.1).
  bool restarted = true;
  // Called on every session state change (for metrics and logs).
  std::function<void(const PeerEvent&)> on_state_change;
};

enum class StopMode {
  // Keep our routes at graceful-restart peers: close the sessions without a NOTIFICATION (or
  // with a graceful one when the N bit is negotiated, RFC 8538). Peers without graceful restart
  // get Cease / Administrative Shutdown and withdraw our routes.
  graceful,
  // Withdraw everywhere: Cease / Administrative Shutdown, as a Hard Reset where the N bit is
  // negotiated (RFC 8538 §3).
  withdraw,
};

class Speaker {
 public:
  explicit Speaker(boost::asio::io_context& io, SpeakerOptions options = {});
  ~Speaker();
  Speaker(const Speaker&) = delete;
  Speaker& operator=(const Speaker&) = delete;

  // Validates the whole config, then applies the difference: new peers start, removed peers get
  // Cease / Peer De-configured, a peer whose session parameters changed (or whose instance's
  // ASN or router id changed) restarts with Cease / Other Configuration Change; untouched peers
  // keep their sessions. On error nothing changes.
  Status set_config(const SpeakerConfig& config);

  // The routes every peer of `instance` should have.
  Status set_routes(std::string_view instance, const std::vector<Route>& routes);
  // Routes for one peer only, overlaid on the instance's routes (the peer's route wins for a
  // prefix in both). An empty list removes the overlay.
  Status set_peer_routes(std::string_view instance, std::string_view peer,
                         const std::vector<Route>& routes);

  // Ends every session as `mode` says and calls `done` when all are closed. The Speaker stays
  // stopped: set_config() afterwards is refused.
  void stop(StopMode mode, std::function<void()> done);

  std::vector<PeerStatus> peers() const;
  Result<PeerStatus> peer(std::string_view instance, std::string_view peer) const;
  Result<std::vector<AdvertisedRoute>> advertised(std::string_view instance,
                                                  std::string_view peer) const;
  // Adj-RIB-In: what the peer sent (kept for display, never installed).
  Result<std::vector<ReceivedRoute>> received(std::string_view instance,
                                              std::string_view peer) const;
  const SpeakerConfig& config() const;
  // The TCP port an instance listens on (the kernel's choice when listen_port is 0).
  std::optional<uint16_t> listening_port(std::string_view instance) const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace netagent::bgp
