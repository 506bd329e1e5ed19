#pragma once
// A source of desired state: the manifest tree or the Kubernetes API (source/).
// A source delivers complete, validated snapshots only; when its input is bad it reports every
// error and delivers nothing, so the consumers keep the last good state.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "netagent/k8s/decode.hpp"
#include "netagent/k8s/snapshot.hpp"

namespace netagent::k8s {

// One part of a source, as status shows it: a kind the API source watches.
struct SourcePart {
  std::string name;   // "services", "ciliumnetworkpolicies.cilium.io/v2"
  std::string state;  // "synced", "syncing", "failing", "not served", "discovering"
  size_t objects = 0;
  std::string detail;  // the error while failing, why not served
  std::chrono::system_clock::time_point last_sync{};
};

struct SourceStats {
  uint64_t loads_ok = 0;      // snapshots delivered
  uint64_t loads_failed = 0;  // attempts rejected because of errors
  std::chrono::system_clock::time_point last_ok{};
  std::chrono::system_clock::time_point last_attempt{};
  std::vector<DecodeError> last_errors;  // errors of the latest failed attempt (empty when ok)
  // Things in the input the latest attempt did not use and reports without failing (a FIFO
  // in a manifest tree, a symlink loop), each naming where.
  std::vector<std::string> warnings;
  // A change seen and not loaded yet, and why (settling, files still being written); empty
  // when there is none.
  std::string pending;
  // The input may have changed without the source seeing it (the API server unreachable): what
  // is applied is the last state seen, since `stale_since`.
  bool stale = false;
  std::chrono::system_clock::time_point stale_since{};
  std::string stale_reason;
  std::vector<SourcePart> parts;
};

class Source {
 public:
  using SnapshotFn = std::function<void(std::shared_ptr<const Snapshot>)>;
  using ErrorFn = std::function<void(const std::vector<DecodeError>&)>;

  virtual ~Source() = default;
  // Loads once and delivers the first snapshot (or errors) before returning, then keeps
  // watching; later deliveries happen on the io_context the source was built with.
  virtual void start(SnapshotFn on_snapshot, ErrorFn on_error) = 0;
  virtual void stop() = 0;
  virtual SourceStats stats() const = 0;
  virtual std::string describe() const = 0;  // "manifests /path/to/tree"
};

}  // namespace netagent::k8s
