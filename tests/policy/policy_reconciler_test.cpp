// Unit tests of the policy part's pure pieces: endpoint registrations (validation, the state
// file across restarts), monitor filters, and the query form of a trace.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>

#include "netagent/policy/endpoint_store.hpp"
#include "netagent/policy/policy_reconciler.hpp"
#include "netagent/policy/policy_tools.hpp"
#include "netagent/testing/netns.hpp"

namespace netagent::policy {
namespace {

using nlohmann::json;

json registration() {
  return {{"namespace", "demo"}, {"pod", "web"}, {"interface", "lxc1"}, {"ips", {"10.1.0.5"}}};
}

TEST(EndpointRegistration, ErrorsNameTheField) {
  struct Case {
    std::function<void(json&)> edit;
    std::string error;
  };
  std::vector<Case> cases = {
      {[](json& j) { j.erase("namespace"); }, "namespace: required"},
      {[](json& j) { j["pod"] = ""; }, "pod: required"},
      {[](json& j) { j["interface"] = 3; }, "interface: required"},
      {[](json& j) { j["ips"] = json::array(); }, "ips: required"},
      {[](json& j) {
         j["ips"] = {"10.1.0.5", "fd00::1"};
       },
       "ips[1]: \"fd00::1\" is not an IPv4"},
      {[](json& j) {
         j["labels"] = {{"app", 1}};
       },
       "labels.app: must be a string"},
      {[](json& j) { j["pod"] = "a/b"; }, "must not contain '/'"},
  };
  for (const auto& c : cases) {
    json j = registration();
    c.edit(j);
    auto ep = Endpoint::from_json(j);
    ASSERT_FALSE(ep.ok()) << j.dump();
    EXPECT_NE(ep.error().message.find(c.error), std::string::npos) << ep.error().message;
  }
  auto ok = Endpoint::from_json(registration());
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->key(), "demo/web");
  EXPECT_EQ(ok->ips.front().str(), "10.1.0.5");
}

TEST(EndpointRegistration, RefusesUplinksLoopbackAndForeignAddresses) {
  const std::vector<std::string> devices = {"eth0", "bond0"};
  EXPECT_FALSE(interface_refusal("lxc1", false, devices));
  auto uplink = interface_refusal("eth0", false, devices);
  ASSERT_TRUE(uplink);
  EXPECT_NE(uplink->find("interface eth0 is one of the agent's --devices"), std::string::npos)
      << *uplink;
  auto lo = interface_refusal("lo", true, devices);
  ASSERT_TRUE(lo);
  EXPECT_NE(lo->find("loopback"), std::string::npos) << *lo;

  auto cidr = [](const char* t) { return *IpPrefix::parse(t); };
  auto ip = [](const char* t) { return *Ipv4Addr::parse(t); };
  const std::vector<IpPrefix> cidrs = {cidr("10.1.0.0/24"), cidr("fd00:1::/64")};
  EXPECT_FALSE(address_refusal({ip("10.1.0.5"), ip("10.1.0.255")}, cidrs));
  auto out = address_refusal({ip("10.1.0.5"), ip("10.9.0.5")}, cidrs);
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, "address 10.9.0.5 is outside this node's pod CIDRs (10.1.0.0/24)");
  // No IPv4 pod CIDR: nothing is inside.
  auto none = address_refusal({ip("10.1.0.5")}, {cidr("fd00:1::/64")});
  ASSERT_TRUE(none);
  EXPECT_NE(none->find("(none)"), std::string::npos) << *none;
}

TEST(EndpointStore, SavesOwnerOnlyEvenOverALooseTemporaryFile) {
  netagent::testing::TempDir dir("na-epstore");
  const std::string path = dir.path() + "/endpoints.json";
  // A temporary left behind with loose bits must not lend them to the state file.
  std::ofstream(path + ".tmp") << "x";
  ::chmod((path + ".tmp").c_str(), 0666);
  EndpointStore store(path);
  auto ep = Endpoint::from_json(registration());
  ASSERT_TRUE(ep.ok());
  store.put(*ep);
  ASSERT_TRUE(store.save().ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(EndpointStore, KeepsIdsAcrossRestartsAndUpdates) {
  testing::TempDir dir("epstore");
  const std::string path = dir.path() + "/endpoints.json";
  {
    EndpointStore s(path);
    ASSERT_TRUE(s.load().ok());  // no file yet: empty
    auto web = *Endpoint::from_json(registration());
    EXPECT_EQ(s.put(web).id, 1u);
    auto cli = web;
    cli.pod = "cli";
    EXPECT_EQ(s.put(cli).id, 2u);
    web.interface = "lxc9";  // a CNI ADD retried with a new veth keeps the id
    EXPECT_EQ(s.put(web).id, 1u);
    EXPECT_TRUE(s.remove(2));
    ASSERT_TRUE(s.save().ok());
  }
  EndpointStore s(path);
  ASSERT_TRUE(s.load().ok());
  ASSERT_EQ(s.all().size(), 1u);
  EXPECT_EQ(s.find("demo", "web")->interface, "lxc9");
  auto other = *Endpoint::from_json(registration());
  other.pod = "other";
  EXPECT_EQ(s.put(other).id, 3u) << "ids are never reused";

  std::ofstream(path) << "{not json";
  EndpointStore bad(path);
  auto st = bad.load();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find(path), std::string::npos) << st.error().message;
}

TEST(MonitorFilter, SelectsEvents) {
  json e = {{"type", "drop"},         {"verdict", "denied"}, {"endpoint_id", 3},
            {"endpoint", "demo/web"}, {"src_identity", 300}, {"dst_identity", 400}};
  auto f = [](std::map<std::string, std::string> q) { return *MonitorFilter::from_query(q); };
  EXPECT_TRUE(f({}).matches(e));
  EXPECT_TRUE(f({{"type", "drop"}, {"verdict", "denied"}}).matches(e));
  EXPECT_FALSE(f({{"type", "policy-verdict"}}).matches(e));
  EXPECT_FALSE(f({{"verdict", "allowed"}}).matches(e));
  EXPECT_TRUE(f({{"endpoint", "3"}}).matches(e));
  EXPECT_TRUE(f({{"endpoint", "demo/web"}}).matches(e));
  EXPECT_FALSE(f({{"endpoint", "demo/cli"}}).matches(e));
  EXPECT_TRUE(f({{"identity", "400"}}).matches(e));
  EXPECT_FALSE(f({{"identity", "401"}}).matches(e));
  EXPECT_FALSE(MonitorFilter::from_query({{"verdict", "maybe"}}).ok());
  EXPECT_FALSE(MonitorFilter::from_query({{"identity", "x"}}).ok());
  EXPECT_FALSE(MonitorFilter::from_query({{"colour", "red"}}).ok());
}

TEST(PolicyTraceQuery, QueryForm) {
  auto r = trace_request(
      {{"src", "x/a"}, {"dst_ip", "192.0.2.1"}, {"dport", "53"}, {"protocol", "udp"}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->src, "x/a");
  EXPECT_EQ(r->dst_ip->str(), "192.0.2.1");
  EXPECT_EQ(r->dport, 53);
  EXPECT_EQ(r->proto, 17);
  EXPECT_FALSE(trace_request({{"src", "x/a"}, {"dport", "80"}}).ok());  // no destination
  EXPECT_FALSE(trace_request({{"src", "x/a"}, {"dst", "x/b"}, {"dport", "0"}}).ok());
  auto bad = trace_request({{"src", "x/a"}, {"dst", "x/b"}, {"dport", "80"}, {"protocol", "gre"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("gre"), std::string::npos);
  EXPECT_EQ(*parse_protocol("132"), 132);
}

}  // namespace
}  // namespace netagent::policy
