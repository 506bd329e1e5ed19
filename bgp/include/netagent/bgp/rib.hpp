#pragma once
// Per-peer routing tables, pure (no I/O):
//  - RouteTable: what should be advertised, prefix -> shared attributes.
//  - AdjRibOut: what has been sent to one peer; sync() turns a desired table into the minimal
//    UPDATEs (RFC 4271 §9.2), packing prefixes with identical attributes together.
//  - AdjRibIn: what the peer sent us (kept for display only, never installed).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "netagent/bgp/codec.hpp"
#include "netagent/bgp/config.hpp"

namespace netagent::bgp {

using RouteTable = std::unordered_map<Prefix, std::shared_ptr<const RouteAttributes>>;

// Builds a table from routes, sharing one attributes object between routes that have equal
// attributes. Fails on a duplicate prefix or a next hop of the wrong family.
Result<RouteTable> make_route_table(const std::vector<Route>& routes);

// How routes are exported to one established session.
struct ExportContext {
  bool ebgp = true;
  uint32_t local_asn = 0;
  IpAddress local_address;  // the session's own address: the default next hop
  SessionContext session;
  std::vector<Family> families;  // negotiated and configured

  bool has_family(Family f) const;
};

// One route's attributes as sent to one peer for one family, encoded once.
struct AttributeSet {
  Family family;
  PathAttributes attributes;
  IpAddress next_hop;
  EncodedAttributes encoded;
};

// RFC 4271 §5.1: ORIGIN as given; AS_PATH our ASN towards external peers and empty towards
// internal ones; NEXT_HOP the route's or the session's address; LOCAL_PREF only towards internal
// peers (default 100); MED and communities as given.
Result<std::shared_ptr<const AttributeSet>> export_attributes(const RouteAttributes& route,
                                                              Family family,
                                                              const ExportContext& ctx);

struct AdvertisedRoute {
  Prefix prefix;
  IpAddress next_hop;
  PathAttributes attributes;
};

class AdjRibOut {
 public:
  explicit AdjRibOut(ExportContext ctx) : ctx_(std::move(ctx)) {}

  struct SyncResult {
    size_t announced = 0;
    size_t withdrawn = 0;
    std::vector<std::string> errors;  // routes that could not be exported, and why
  };
  // Appends to `out` the UPDATEs that turn what was sent into `base` overlaid with `overlay`
  // (the overlay wins for a prefix in both), and records the result as sent.
  SyncResult sync(const RouteTable& base, const RouteTable* overlay, std::vector<uint8_t>& out);
  // Appends every route sent for family `f` again (answering a ROUTE-REFRESH, RFC 2918 §4).
  size_t resend(Family f, std::vector<uint8_t>& out) const;
  size_t size() const { return sent_.size(); }
  std::vector<AdvertisedRoute> routes() const;  // sorted by prefix
  const ExportContext& context() const { return ctx_; }

 private:
  std::shared_ptr<const AttributeSet> exported(const std::shared_ptr<const RouteAttributes>& a,
                                               Family f, std::vector<std::string>& errors);

  ExportContext ctx_;
  std::unordered_map<Prefix, std::shared_ptr<const AttributeSet>> sent_;
  // Export results per (attributes object, AFI), and one shared AttributeSet per distinct
  // encoding so that equal exports group together.
  struct CacheEntry {
    std::shared_ptr<const RouteAttributes> source;
    std::shared_ptr<const AttributeSet> set;
  };
  std::unordered_map<const RouteAttributes*, CacheEntry> cache_v4_, cache_v6_;
  std::unordered_map<std::string, std::shared_ptr<const AttributeSet>> pool_;  // by fingerprint
};

struct ReceivedRoute {
  Prefix prefix;
  std::optional<IpAddress> next_hop;
  PathAttributes attributes;
};

class AdjRibIn {
 public:
  // `max_per_family`: the most prefixes kept per address family (0: no limit).
  explicit AdjRibIn(uint32_t max_per_family = 0) : max_(max_per_family) {}

  struct Applied {
    // The family that went over the limit: the prefix that did and the rest of the UPDATE's
    // announcements were not stored (the session is to be ended, RFC 4486).
    std::optional<Family> over_limit;
  };
  // Applies an UPDATE: withdrawals (including treat-as-withdraw, RFC 7606) then announcements,
  // each counted against the limit of its family.
  Applied apply(const DecodedUpdate& update);
  void clear();
  size_t size() const { return routes_.size(); }
  size_t count(Family f) const;  // prefixes of one family
  size_t max_count() const;      // the largest per-family count
  uint32_t limit() const { return max_; }
  std::vector<ReceivedRoute> routes() const;  // sorted by prefix

 private:
  struct Entry {
    std::optional<IpAddress> next_hop;
    std::shared_ptr<const PathAttributes> attributes;
  };
  size_t& counter(const Prefix& p) { return afi_of(p) == kAfiIpv6 ? count_v6_ : count_v4_; }
  void erase(const Prefix& p);

  uint32_t max_ = 0;
  size_t count_v4_ = 0;
  size_t count_v6_ = 0;
  std::unordered_map<Prefix, Entry> routes_;
};

}  // namespace netagent::bgp
