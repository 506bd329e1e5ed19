// Tier bpf: the policy program in the running kernel, through BPF_PROG_TEST_RUN.
//  - a packet table: input packet, expected verdict and expected flow record, for allow, deny,
//    deny precedence, audit, CIDR, replies through conntrack, malformed and foreign packets;
//  - the e2e model's matrices decided by the kernel, equal to the expected ones and, cell by
//    cell (verdict, match, rule, drop reason, peer identity), to the pure evaluator;
//  - applying diffs and reading the maps back; counters. (The ABI against the object's BTF:
//    tests/datapath/abi_btf_test.cpp, with every other kernel/user struct.)
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>

#include <boost/asio/io_context.hpp>
#include <cstring>
#include <functional>

#include "model.hpp"
#include "netagent/datapath/packet.hpp"
#include "netagent/datapath/ring_buffer.hpp"
#include "netagent/datapath/test_run.hpp"
#include "netagent/policy/kernel_evaluator.hpp"
#include "netagent/testing/privileged.hpp"

namespace netagent::policy::testing {
namespace {

using datapath::PacketBuilder;
namespace tcpf = datapath::tcp_flags;

Ipv4Addr ip(const char* s) {
  return *Ipv4Addr::parse(s);
}

// ---------------------------------------------------------------------------------------------
// Packet table

const char* kTablePolicies = R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-b-and-y, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - podSelector: {matchLabels: {pod: b}}
    - namespaceSelector: {matchLabels: {ns: y}}
    ports:
    - {port: 80, protocol: TCP}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: deny-yc, namespace: x}
spec:
  endpointSelector: {matchLabels: {pod: a}}
  ingressDeny:
  - fromEndpoints:
    - matchLabels: {io.kubernetes.pod.namespace: y, pod: c}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: egress, namespace: x}
spec:
  endpointSelector: {matchLabels: {pod: a}}
  egress:
  - toCIDRSet:
    - {cidr: 192.0.2.0/24, except: [192.0.2.128/25]}
  - toPorts:
    - ports: [{port: "53", protocol: UDP}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-ingress, namespace: y}
spec:
  podSelector: {}
  policyTypes: [Ingress]
)";

struct Expect {
  int retval = TC_ACT_OK;
  bool record = false;  // a flow record is expected
  uint8_t type = 0, verdict = 0;
  uint16_t reason = 0;
  uint8_t match = POLICY_MATCH_NONE;
  std::string rule;          // "" = no rule (default verdict or not a policy decision)
  uint32_t endpoint_id = 0;  // of the record
};

Expect pass_silently() {
  return Expect{};
}
Expect forwarded(uint8_t match, std::string rule, uint32_t ep) {
  return {TC_ACT_OK, true,  FLOW_EVENT_POLICY_VERDICT, FLOW_VERDICT_FORWARDED,
          0,         match, std::move(rule),           ep};
}
Expect denied(uint16_t reason, uint8_t match, std::string rule, uint32_t ep) {
  return {TC_ACT_SHOT, true,  FLOW_EVENT_DROP, FLOW_VERDICT_DROPPED,
          reason,      match, std::move(rule), ep};
}
Expect audited(uint32_t ep) {
  return {TC_ACT_OK,
          true,
          FLOW_EVENT_POLICY_VERDICT,
          FLOW_VERDICT_AUDIT,
          DROP_POLICY_DENIED,
          POLICY_MATCH_NONE,
          "",
          ep};
}

struct Step {
  std::string what;
  Direction at;  // Egress: policy_from_endpoint; Ingress: policy_to_endpoint
  std::vector<uint8_t> packet;
  Expect expect;
};

struct PacketCase {
  std::string name;
  std::vector<Step> steps;  // run in order on the same maps (conntrack carries over)
};

std::vector<uint8_t> tcp(const char* s, uint16_t sp, const char* d, uint16_t dp,
                         uint8_t flags = tcpf::SYN) {
  return PacketBuilder().ipv4(ip(s), ip(d)).tcp(sp, dp, flags).build();
}
std::vector<uint8_t> udp(const char* s, uint16_t sp, const char* d, uint16_t dp) {
  return PacketBuilder().ipv4(ip(s), ip(d)).udp(sp, dp).build();
}
std::vector<uint8_t> icmp_echo(const char* s, const char* d, uint16_t id, bool reply) {
  auto p = PacketBuilder().ipv4(ip(s), ip(d)).icmp_echo(id, 1).build();
  if (reply) p[14 + 20] = 0;  // type 0: echo reply (the checksum is not checked by policy)
  return p;
}

// Endpoint ids in the table: x/a 1, x/b 2, y/a 3 (audit), y/c 4, z/a 5 (bound to a device that
// is not the test device), z/b 6 (no policy; bound to ifindex 1, the loopback device test runs
// use, so its packets take the by-device lookup).
const char* XA = "10.0.1.10";
const char* XB = "10.0.1.20";
const char* YA = "10.0.2.10";
const char* YC = "10.0.2.30";
const char* ZA = "10.0.3.10";
const char* ZB = "10.0.3.20";

std::vector<PacketCase> packet_cases() {
  const std::string allow_b = "NetworkPolicy x/allow-b-and-y spec.ingress[0]";
  const std::string deny_yc = "CiliumNetworkPolicy x/deny-yc spec.ingressDeny[0]";
  const std::string cidr = "CiliumNetworkPolicy x/egress spec.egress[0]";
  const std::string dns = "CiliumNetworkPolicy x/egress spec.egress[1]";
  // The kernel's test run refuses IPv4 frames shorter than an IPv4 header, so malformed L3 is
  // a header that lies about its own length.
  auto short_ihl = tcp(XB, 40000, XA, 80);
  short_ihl[14] = 0x44;  // IHL 4: shorter than the fixed header
  auto long_ihl = tcp(XB, 40000, XA, 80);
  long_ihl[14] = 0x4f;  // IHL 15: 60 bytes of header in a 40-byte packet
  auto truncated_tcp = tcp(XB, 40000, XA, 80);
  truncated_tcp.resize(14 + 20 + 8);  // tot_len still says 40
  auto arp = tcp(XB, 1, XA, 2);
  arp[12] = 0x08;
  arp[13] = 0x06;
  auto fragment = PacketBuilder()
                      .ipv4(ip(XB), ip(XA))
                      .fragment(100, false)
                      .proto(IPPROTO_TCP)
                      .payload("data")
                      .build();
  return {
      {"allow: L3-L4 rule",
       {{"x/b -> x/a:80", Direction::Ingress, tcp(XB, 40000, XA, 80),
         forwarded(POLICY_MATCH_L3_L4, allow_b, 1)}}},
      {"allow: namespace peer",
       {{"y/a -> x/a:80", Direction::Ingress, tcp(YA, 40000, XA, 80),
         forwarded(POLICY_MATCH_L3_L4, allow_b, 1)}}},
      {"default deny: port not allowed",
       {{"x/b -> x/a:81", Direction::Ingress, tcp(XB, 40000, XA, 81),
         denied(DROP_POLICY_DENIED, POLICY_MATCH_NONE, "", 1)}}},
      {"default deny: protocol not allowed",
       {{"x/b -> x/a:80/UDP", Direction::Ingress, udp(XB, 40000, XA, 80),
         denied(DROP_POLICY_DENIED, POLICY_MATCH_NONE, "", 1)}}},
      {"deny precedence: an explicit deny beats the namespace allow",
       {{"y/c -> x/a:80", Direction::Ingress, tcp(YC, 40000, XA, 80),
         denied(DROP_POLICY_DENY_RULE, POLICY_MATCH_L3_ONLY, deny_yc, 1)}}},
      {"audit: would-be denial passes and is reported",
       {{"x/a -> y/a:80 at y/a", Direction::Ingress, tcp(XA, 40000, YA, 80), audited(3)}}},
      {"no audit elsewhere",
       {{"x/a -> y/c:80 at y/c", Direction::Ingress, tcp(XA, 40000, YC, 80),
         denied(DROP_POLICY_DENIED, POLICY_MATCH_NONE, "", 4)}}},
      {"CIDR: inside the block",
       {{"x/a -> 192.0.2.10:443", Direction::Egress, tcp(XA, 40000, "192.0.2.10", 443),
         forwarded(POLICY_MATCH_L3_ONLY, cidr, 1)}}},
      {"CIDR: in the except",
       {{"x/a -> 192.0.2.200:443", Direction::Egress, tcp(XA, 40000, "192.0.2.200", 443),
         denied(DROP_POLICY_DENIED, POLICY_MATCH_NONE, "", 1)}}},
      {"L4-only rule: any peer",
       {{"x/a -> 8.8.8.8:53/UDP", Direction::Egress, udp(XA, 40000, "8.8.8.8", 53),
         forwarded(POLICY_MATCH_L4_ONLY, dns, 1)}}},
      {"conntrack: the reply of an allowed connection passes",
       {{"x/a -> 192.0.2.10:443 SYN", Direction::Egress, tcp(XA, 40001, "192.0.2.10", 443),
         forwarded(POLICY_MATCH_L3_ONLY, cidr, 1)},
        {"192.0.2.10:443 -> x/a SYN-ACK", Direction::Ingress,
         tcp("192.0.2.10", 443, XA, 40001, tcpf::SYN | tcpf::ACK), pass_silently()},
        {"x/a -> 192.0.2.10:443 ACK", Direction::Egress,
         tcp(XA, 40001, "192.0.2.10", 443, tcpf::ACK), pass_silently()},
        {"a new connection from that peer is still denied", Direction::Ingress,
         tcp("192.0.2.10", 443, XA, 40002), denied(DROP_POLICY_DENIED, POLICY_MATCH_NONE, "", 1)},
        {"x/a -> 192.0.2.10:443 FIN", Direction::Egress,
         tcp(XA, 40001, "192.0.2.10", 443, tcpf::FIN | tcpf::ACK), pass_silently()},
        {"192.0.2.10:443 -> x/a FIN-ACK", Direction::Ingress,
         tcp("192.0.2.10", 443, XA, 40001, tcpf::FIN | tcpf::ACK), pass_silently()}}},
      {"conntrack: UDP replies",
       {{"x/a -> 8.8.8.8:53", Direction::Egress, udp(XA, 5353, "8.8.8.8", 53),
         forwarded(POLICY_MATCH_L4_ONLY, dns, 1)},
        {"8.8.8.8:53 -> x/a", Direction::Ingress, udp("8.8.8.8", 53, XA, 5353), pass_silently()},
        {"8.8.8.8:53 -> x/a other port", Direction::Ingress, udp("8.8.8.8", 53, XA, 5354),
         denied(DROP_POLICY_DENIED, POLICY_MATCH_NONE, "", 1)}}},
      {"conntrack: later packets of an allowed connection pass silently",
       {{"x/b -> x/a:80 SYN", Direction::Ingress, tcp(XB, 40003, XA, 80),
         forwarded(POLICY_MATCH_L3_L4, allow_b, 1)},
        {"x/b -> x/a:80 ACK", Direction::Ingress, tcp(XB, 40003, XA, 80, tcpf::ACK),
         pass_silently()},
        {"x/a -> x/b reply leaves x/a", Direction::Egress,
         tcp(XA, 80, XB, 40003, tcpf::SYN | tcpf::ACK), pass_silently()}}},
      {"ICMP: echo needs an L3 rule; the reply follows the request",
       {{"x/b -> x/a echo", Direction::Ingress, icmp_echo(XB, XA, 7, false),
         denied(DROP_POLICY_DENIED, POLICY_MATCH_NONE, "", 1)},
        {"x/a -> 192.0.2.10 echo", Direction::Egress, icmp_echo(XA, "192.0.2.10", 8, false),
         forwarded(POLICY_MATCH_L3_ONLY, cidr, 1)},
        {"192.0.2.10 -> x/a echo reply", Direction::Ingress, icmp_echo("192.0.2.10", XA, 8, true),
         pass_silently()},
        {"192.0.2.10 -> x/a echo reply, other id", Direction::Ingress,
         icmp_echo("192.0.2.10", XA, 9, true),
         denied(DROP_POLICY_DENIED, POLICY_MATCH_NONE, "", 1)}}},
      {"malformed: IHL below 5",
       {{"x/b -> x/a", Direction::Ingress, short_ihl,
         denied(DROP_MALFORMED_L3, POLICY_MATCH_NONE, "", 0)}}},
      {"malformed: IHL beyond the packet",
       {{"x/b -> x/a", Direction::Ingress, long_ihl,
         denied(DROP_MALFORMED_L3, POLICY_MATCH_NONE, "", 0)}}},
      {"malformed: truncated TCP header",
       {{"x/b -> x/a", Direction::Ingress, truncated_tcp,
         denied(DROP_MALFORMED_L4, POLICY_MATCH_NONE, "", 0)}}},
      {"unknown endpoint: no such local address",
       {{"10.9.9.9 -> x/a", Direction::Egress, tcp("10.9.9.9", 1, XA, 80),
         denied(DROP_UNKNOWN_ENDPOINT, POLICY_MATCH_NONE, "", 0)}}},
      {"spoofed: the endpoint's address on another device",
       {{"z/a on the wrong device", Direction::Egress, tcp(ZA, 1, XA, 80),
         denied(DROP_UNKNOWN_ENDPOINT, POLICY_MATCH_NONE, "", 0)}}},
      {"non-IPv4 passes", {{"ARP", Direction::Ingress, arp, pass_silently()}}},
      {"fragment: a non-first fragment has no port",
       {{"x/b -> x/a fragment", Direction::Ingress, fragment,
         denied(DROP_POLICY_DENIED, POLICY_MATCH_NONE, "", 1)}}},
      {"no policy: fast path (the endpoint found by its device)",
       {{"x/a -> z/b at z/b", Direction::Ingress, tcp(XA, 40000, ZB, 80), pass_silently()}}},
      {"spoofed: another endpoint's address on a bound device",
       {{"z/a's address from z/b's device", Direction::Egress, tcp(ZA, 1, ZB, 80),
         denied(DROP_UNKNOWN_ENDPOINT, POLICY_MATCH_NONE, "", 0)}}},
  };
}

class PolicyProgram : public ::testing::Test {
 protected:
  void SetUp() override { NETAGENT_REQUIRE_ROOT(); }
};

TEST_F(PolicyProgram, PacketTable) {
  Model model;
  CompiledPolicy cp = model.compile(kTablePolicies);
  std::vector<LocalEndpoint> locals = {{"x", "a", 1, 0, std::nullopt, {}},
                                       {"x", "b", 2, 0, std::nullopt, {}},
                                       {"y", "a", 3, 0, true, {}},
                                       {"y", "c", 4, 0, std::nullopt, {}},
                                       {"z", "a", 5, 9999, std::nullopt, {}},
                                       {"z", "b", 6, 1, std::nullopt, {}}};
  auto state = datapath_state(cp, locals);
  ASSERT_EQ(state.endpoints_by_dev.entries.size(), 2u);  // z/a at 9999, z/b at 1
  for (const auto& c : packet_cases()) {
    SCOPED_TRACE(c.name);
    PolicyDatapathOptions o;
    o.ct_max_entries = 1024;
    o.ring_buffer_bytes = 1 << 16;
    auto dp = PolicyDatapath::load(o);
    ASSERT_TRUE(dp) << dp.error().str();
    ASSERT_TRUE((*dp)->apply(diff({}, state)));
    boost::asio::io_context io;
    std::vector<PolicyFlowRecord> records;
    auto rb = datapath::RingBufferReader::open(io, (*dp)->events_fd(), [&](auto bytes) {
      auto r = decode_flow_record(bytes);
      ASSERT_TRUE(r);
      records.push_back(*r);
    });
    ASSERT_TRUE(rb);
    for (const auto& s : c.steps) {
      SCOPED_TRACE(s.what);
      records.clear();
      int fd = s.at == Direction::Egress ? (*dp)->from_endpoint_fd() : (*dp)->to_endpoint_fd();
      auto res = datapath::test_run(fd, s.packet);
      ASSERT_TRUE(res) << res.error().str();
      (*rb)->poll_now();
      EXPECT_EQ(int(res->retval), s.expect.retval) << datapath::hexdump(s.packet);
      EXPECT_EQ(res->packet, s.packet) << "policy never rewrites packets";
      ASSERT_EQ(records.size(), s.expect.record ? 1u : 0u);
      if (!s.expect.record) continue;
      const auto& ev = records[0].event;
      EXPECT_EQ(ev.type, s.expect.type);
      EXPECT_EQ(ev.verdict, s.expect.verdict);
      EXPECT_EQ(ev.drop_reason, s.expect.reason);
      EXPECT_EQ(ev.direction, uint8_t(s.at));
      EXPECT_EQ(ev.obs_point, FLOW_OBS_ENDPOINT);
      EXPECT_EQ(ev.match_type, s.expect.match);
      EXPECT_EQ(ev.endpoint_id, s.expect.endpoint_id);
      EXPECT_EQ(ev.len, s.packet.size());
      EXPECT_NE(ev.timestamp_ns, 0u);
      const auto* rule = cp.rule(records[0].rule);
      EXPECT_EQ(rule ? rule->str() : "", s.expect.rule);
      auto decoded = datapath::decode_packet(s.packet);
      if (decoded && decoded->ipv4 && s.expect.endpoint_id) {
        EXPECT_EQ(ev.saddr, decoded->saddr.to_be());
        EXPECT_EQ(ev.daddr, decoded->daddr.to_be());
        // The identities of both sides, as the pure evaluator sees them.
        auto local = s.at == Direction::Egress ? decoded->saddr : decoded->daddr;
        auto peer = s.at == Direction::Egress ? decoded->daddr : decoded->saddr;
        const auto* lep = cp.endpoint_at(local);
        ASSERT_NE(lep, nullptr);
        const auto* pc = cp.ipcache_lookup(peer);
        Identity peer_id = pc ? pc->identity : identity::kWorld;
        EXPECT_EQ(s.at == Direction::Egress ? ev.src_identity : ev.dst_identity, lep->identity);
        EXPECT_EQ(s.at == Direction::Egress ? ev.dst_identity : ev.src_identity, peer_id);
      }
    }
  }
}

TEST_F(PolicyProgram, ConntrackSeesTheCloseThroughTheFlowCache) {
  Model model;
  CompiledPolicy cp = model.compile(kTablePolicies);
  PolicyDatapathOptions o;
  o.ct_max_entries = 1024;
  auto dp = PolicyDatapath::load(o);
  ASSERT_TRUE(dp) << dp.error().str();
  ASSERT_TRUE((*dp)->apply(diff({}, datapath_state(cp, {{"x", "a", 1, 0, std::nullopt, {}}}))));
  int fd = (*dp)->from_endpoint_fd();
  auto run = [&](uint8_t flags) {
    return datapath::test_run(fd, tcp(XA, 40100, "192.0.2.10", 443, flags))->retval;
  };
  policy_ct_key k{};
  k.saddr = ip(XA).to_be();
  k.daddr = ip("192.0.2.10").to_be();
  k.sport = htons(40100);
  k.dport = htons(443);
  k.proto = IPPROTO_TCP;
  k.direction = FLOW_DIR_EGRESS;
  k.endpoint_id = 1;
  ASSERT_EQ(run(tcpf::SYN), uint32_t(TC_ACT_OK));
  auto ct = (*dp)->conntrack().lookup(k);
  ASSERT_TRUE(ct && *ct);
  EXPECT_EQ((*ct)->verdict, FLOW_VERDICT_FORWARDED);
  EXPECT_NE((*ct)->rule, 0u);
  EXPECT_EQ((*ct)->flags, 0);
  // Later packets: conntrack, then the flow cache; a FIN bypasses the cache and marks the close.
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(run(tcpf::ACK), uint32_t(TC_ACT_OK));
  ASSERT_EQ(run(tcpf::FIN | tcpf::ACK), uint32_t(TC_ACT_OK));
  ct = (*dp)->conntrack().lookup(k);
  ASSERT_TRUE(ct && *ct);
  EXPECT_EQ((*ct)->flags & POLICY_CT_F_CLOSING, POLICY_CT_F_CLOSING);
  auto hz = measure_kernel_hz();
  ASSERT_TRUE(hz);
  EXPECT_TRUE(*hz == 100 || *hz == 250 || *hz == 300 || *hz == 1000) << *hz;
}

TEST_F(PolicyProgram, CountersFollowVerdictsAndDrops) {
  Model model;
  CompiledPolicy cp = model.compile(kTablePolicies);
  PolicyDatapathOptions o;
  o.ct_max_entries = 1024;
  auto dp = PolicyDatapath::load(o);
  ASSERT_TRUE(dp);
  ASSERT_TRUE((*dp)->apply(diff({}, datapath_state(cp, {{"x", "a", 1, 0, std::nullopt, {}}}))));
  auto before = (*dp)->counters();
  ASSERT_TRUE(before);
  auto ok = tcp(XB, 40000, XA, 80), bad = tcp(XB, 40000, XA, 81);
  ASSERT_EQ(datapath::test_run((*dp)->to_endpoint_fd(), ok)->retval, uint32_t(TC_ACT_OK));
  ASSERT_EQ(datapath::test_run((*dp)->to_endpoint_fd(), bad)->retval, uint32_t(TC_ACT_SHOT));
  ASSERT_EQ(datapath::test_run((*dp)->to_endpoint_fd(), bad)->retval, uint32_t(TC_ACT_SHOT));
  auto after = (*dp)->counters();
  ASSERT_TRUE(after);
  auto in = [](uint8_t v) { return FLOW_DIR_INGRESS * POLICY_VERDICT_SLOTS + v; };
  EXPECT_EQ(after->verdicts[in(FLOW_VERDICT_FORWARDED)].packets, 1u);
  EXPECT_EQ(after->verdicts[in(FLOW_VERDICT_DROPPED)].packets, 2u);
  EXPECT_EQ(after->drops[DROP_POLICY_DENIED].packets, 2u);
  EXPECT_EQ(after->drops[DROP_POLICY_DENIED].bytes, 2 * bad.size());
}

// ---------------------------------------------------------------------------------------------
// Applying diffs and reading back

bool same_state(const DatapathState& a, const DatapathState& b) {
  return diff(a, b).empty();
}

TEST_F(PolicyProgram, DiffsApplyAndReadBack) {
  Model model;
  std::vector<LocalEndpoint> locals;
  uint32_t id = 1;
  for (const auto& p : Model::pod_names()) {
    locals.push_back({p.substr(0, 1), p.substr(2), id++, 0, std::nullopt, {}});
  }
  auto s1 = datapath_state(model.compile(kTablePolicies), locals);
  auto s2 = datapath_state(model.compile(network_policy_cases()[4].policies), locals);
  PolicyDatapathOptions o;
  o.ct_max_entries = 1024;
  auto dp = PolicyDatapath::load(o);
  ASSERT_TRUE(dp);
  auto empty = (*dp)->read_state();
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->policy.entries.empty());
  ASSERT_TRUE((*dp)->apply(diff(*empty, s1)));
  auto r1 = (*dp)->read_state();
  ASSERT_TRUE(r1);
  EXPECT_TRUE(same_state(*r1, s1));
  EXPECT_FALSE(s1.policy.entries.empty());
  // A policy change: the diff from what the maps hold reaches the new state exactly.
  auto d = diff(*r1, s2);
  EXPECT_FALSE(d.empty());
  ASSERT_TRUE((*dp)->apply(d));
  auto r2 = (*dp)->read_state();
  ASSERT_TRUE(r2);
  EXPECT_TRUE(same_state(*r2, s2));
}

// ---------------------------------------------------------------------------------------------
// The e2e model through the kernel

void check_kernel_case(const E2eCase& c) {
  Model model;
  CompiledPolicy cp = model.compile(c.policies, c.options);
  auto ke = KernelEvaluator::create(cp);
  ASSERT_TRUE(ke) << ke.error().str();
  for (const auto& probe : c.probes) {
    auto expected = Reachability::parse(probe.expected);
    ASSERT_TRUE(expected);
    auto kernel = (*ke)->matrix(probe.port, probe.proto);
    ASSERT_TRUE(kernel) << kernel.error().str();
    auto diffs = expected->diff(*kernel);
    std::string lines;
    for (const auto& d : diffs)
      lines += "  " + d + "\n";
    EXPECT_TRUE(diffs.empty()) << c.name << ": port " << probe.port << " proto " << int(probe.proto)
                               << "\n"
                               << lines << "kernel:\n"
                               << kernel->str();
    // Cell by cell, the kernel and the pure evaluator agree on everything they report.
    for (const auto& from : Model::pod_names()) {
      for (const auto& to : Model::pod_names()) {
        Flow f{Model::pod_ip(from), Model::pod_ip(to), probe.proto, probe.port};
        auto k = (*ke)->decide(f);
        ASSERT_TRUE(k);
        auto p = decide(cp, f);
        for (auto [kd, pd, dir] : {std::tuple{k->egress, p.egress, "egress"},
                                   std::tuple{k->ingress, p.ingress, "ingress"}}) {
          SCOPED_TRACE(from + " -> " + to + " " + dir);
          EXPECT_EQ(kd.verdict, pd.verdict);
          EXPECT_EQ(kd.rule, pd.rule);
          EXPECT_EQ(kd.match_type, pd.match_type);
          EXPECT_EQ(kd.drop_reason, pd.drop_reason);
          EXPECT_EQ(kd.peer_identity, pd.peer_identity);
        }
      }
    }
  }
}

std::string test_name(const std::string& s) {
  std::string out;
  for (char c : s)
    out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

class KernelNetworkPolicyE2e : public ::testing::TestWithParam<size_t> {
 protected:
  void SetUp() override { NETAGENT_REQUIRE_ROOT(); }
};
TEST_P(KernelNetworkPolicyE2e, Matrix) {
  check_kernel_case(network_policy_cases()[GetParam()]);
}
INSTANTIATE_TEST_SUITE_P(Upstream, KernelNetworkPolicyE2e,
                         ::testing::Range(size_t(0), network_policy_cases().size()),
                         [](const auto& info) {
                           return std::to_string(info.param) + "_" +
                                  test_name(network_policy_cases()[info.param].name);
                         });

class KernelCiliumPolicyE2e : public ::testing::TestWithParam<size_t> {
 protected:
  void SetUp() override { NETAGENT_REQUIRE_ROOT(); }
};
TEST_P(KernelCiliumPolicyE2e, Matrix) {
  check_kernel_case(cilium_policy_cases()[GetParam()]);
}
INSTANTIATE_TEST_SUITE_P(Cilium, KernelCiliumPolicyE2e,
                         ::testing::Range(size_t(0), cilium_policy_cases().size()),
                         [](const auto& info) {
                           return std::to_string(info.param) + "_" +
                                  test_name(cilium_policy_cases()[info.param].name);
                         });

TEST_F(PolicyProgram, KernelEvaluatorMatchesAuditAndTheWorld) {
  Model model;
  CompileOptions audit;
  audit.audit = true;
  CompiledPolicy cp = model.compile(kTablePolicies, audit);
  auto ke = KernelEvaluator::create(cp);
  ASSERT_TRUE(ke);
  for (Flow f :
       {Flow{ip(XB), ip(XA), IPPROTO_TCP, 81}, Flow{ip("203.0.113.9"), ip(XA), IPPROTO_TCP, 80},
        Flow{ip(XA), ip("192.0.2.9"), IPPROTO_ICMP, 0}, Flow{ip(YC), ip(XA), IPPROTO_TCP, 80}}) {
    auto k = (*ke)->decide(f);
    ASSERT_TRUE(k);
    auto p = decide(cp, f);
    EXPECT_EQ(k->ingress.verdict, p.ingress.verdict) << f.src.str() << " -> " << f.dst.str();
    EXPECT_EQ(k->egress.verdict, p.egress.verdict) << f.src.str() << " -> " << f.dst.str();
    EXPECT_EQ(k->ingress.rule, p.ingress.rule);
    EXPECT_TRUE(k->allowed());  // audit mode lets everything through
  }
  EXPECT_EQ((*ke)->decide(Flow{ip(YC), ip(XA), IPPROTO_TCP, 80})->ingress.verdict,
            Verdict::Audited);
}

}  // namespace
}  // namespace netagent::policy::testing
