// BGP speaker throughput in prefixes per second (items_per_second): packing announcements into
// UPDATEs, decoding them, a full Adj-RIB-Out sync (what the speaker does when a session comes
// up) and the diff of a one-route change against a large table. The time until a router holds
// 10,000 / 100,000 announced prefixes, next to GoBGP and BIRD, is bench/bgp_convergence.sh.
// GCC 12 false positive: destroying a Result<RouteTable> whose inlined variant destructor it
// misreads as freeing a non-heap std::string (-Wfree-nonheap-object, GCC PR 105651 family).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wfree-nonheap-object"
#endif
#include <benchmark/benchmark.h>

#include "netagent/bgp/codec.hpp"
#include "netagent/bgp/rib.hpp"

namespace {

using namespace netagent;
using namespace netagent::bgp;

std::vector<Prefix> host_routes(size_t n) {
  std::vector<Prefix> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(*Prefix::make(IpAddress::v4(Ipv4Addr{uint32_t(0x0a640000u + i)}), 32));
  }
  return out;
}

PathAttributes lb_attributes() {
  PathAttributes a;
  a.origin = Origin::igp;
  a.as_path = AsPath::sequence({64512});
  a.communities = {*Community::parse("64512:100")};
  a.large_communities = {{64512, 1, 2}};
  return a;
}

// Not inlined: GCC 12 reports a bogus -Wfree-nonheap-object when a Result temporary's destructor
// is inlined into the benchmark bodies.
[[gnu::noinline]] EncodedAttributes encoded() {
  auto e = EncodedAttributes::make(lb_attributes(), kIpv4Unicast, *IpAddress::parse("10.25.11.11"),
                                   std::nullopt, SessionContext{});
  return std::move(e).value();
}

[[gnu::noinline]] RouteTable must_table(const std::vector<Route>& routes) {
  auto t = make_route_table(routes);
  return std::move(t).value();
}

void BM_BgpEncodeAnnouncements(benchmark::State& state) {
  auto prefixes = host_routes(size_t(state.range(0)));
  auto ea = encoded();
  std::vector<uint8_t> out;
  for (auto _ : state) {
    out.clear();
    append_announcements(out, ea, prefixes);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * state.range(0));
  state.counters["bytes_per_prefix"] = double(out.size()) / double(state.range(0));
}
BENCHMARK(BM_BgpEncodeAnnouncements)->Arg(10000)->Arg(100000);

void BM_BgpDecodeUpdates(benchmark::State& state) {
  auto prefixes = host_routes(size_t(state.range(0)));
  std::vector<uint8_t> buf;
  append_announcements(buf, encoded(), prefixes);
  for (auto _ : state) {
    size_t n = 0;
    for (size_t i = 0; i < buf.size();) {
      auto h = decode_header(std::span(buf).subspan(i));
      auto m = decode_message(std::span(buf).subspan(i, h->length), SessionContext{});
      n += std::get<DecodedUpdate>(m.value()).update.nlri.size();
      i += h->length;
    }
    benchmark::DoNotOptimize(n);
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * state.range(0));
}
BENCHMARK(BM_BgpDecodeUpdates)->Arg(10000)->Arg(100000);

// Decoding plus storing in an Adj-RIB-In: what receiving a full table costs.
void BM_BgpDecodeIntoAdjRibIn(benchmark::State& state) {
  auto prefixes = host_routes(size_t(state.range(0)));
  std::vector<uint8_t> buf;
  append_announcements(buf, encoded(), prefixes);
  for (auto _ : state) {
    AdjRibIn rib;
    for (size_t i = 0; i < buf.size();) {
      auto h = decode_header(std::span(buf).subspan(i));
      auto m = decode_message(std::span(buf).subspan(i, h->length), SessionContext{});
      rib.apply(std::get<DecodedUpdate>(m.value()));
      i += h->length;
    }
    benchmark::DoNotOptimize(rib.size());
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * state.range(0));
}
BENCHMARK(BM_BgpDecodeIntoAdjRibIn)->Arg(100000);

std::vector<Route> lb_routes(size_t n) {
  std::vector<Route> routes;
  routes.reserve(n);
  for (const auto& p : host_routes(n)) {
    Route r;
    r.prefix = p;
    r.communities = {*Community::parse("64512:100")};
    r.large_communities = {{64512, 1, 2}};
    routes.push_back(r);
  }
  return routes;
}

ExportContext ebgp() {
  ExportContext c;
  c.local_asn = 64512;
  c.local_address = *IpAddress::parse("10.25.11.11");
  c.families = {kIpv4Unicast};
  return c;
}

// set_routes() of a full table: validation and interning of the attributes.
void BM_BgpRouteTable(benchmark::State& state) {
  auto routes = lb_routes(size_t(state.range(0)));
  for (auto _ : state) {
    auto t = make_route_table(routes);
    benchmark::DoNotOptimize(t.ok());
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * state.range(0));
}
BENCHMARK(BM_BgpRouteTable)->Arg(100000)->Unit(benchmark::kMillisecond);

// A session comes up: export, diff against nothing sent, pack and encode the whole table.
void BM_BgpAdjRibOutInitialSync(benchmark::State& state) {
  auto table = must_table(lb_routes(size_t(state.range(0))));
  std::vector<uint8_t> out;
  for (auto _ : state) {
    AdjRibOut rib(ebgp());
    out.clear();
    auto r = rib.sync(table, nullptr, out);
    benchmark::DoNotOptimize(r.announced);
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * state.range(0));
  state.counters["updates"] = double(out.size()) / double(kMaxMessageSize);
}
BENCHMARK(BM_BgpAdjRibOutInitialSync)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);

// One service changes in a table of N: the diff walks the table once and sends one UPDATE.
void BM_BgpAdjRibOutOneChange(benchmark::State& state) {
  auto routes = lb_routes(size_t(state.range(0)));
  auto a = must_table(routes);
  routes.back().med = 7;
  auto b = must_table(routes);
  AdjRibOut rib(ebgp());
  std::vector<uint8_t> out;
  rib.sync(a, nullptr, out);
  bool flip = false;
  for (auto _ : state) {
    out.clear();
    auto r = rib.sync(flip ? a : b, nullptr, out);
    flip = !flip;
    benchmark::DoNotOptimize(r.announced);
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * state.range(0));
}
BENCHMARK(BM_BgpAdjRibOutOneChange)->Arg(100000)->Unit(benchmark::kMillisecond);

}  // namespace
