// Interop with real routers in network namespaces: bgpspeak (the Speaker) on a node at
// 10.25.11.11 (AS 64512) peering with BIRD 2 standing in for the SRX at 10.25.11.1 (AS 64501),
// plus FRR bgpd (.2), GoBGP (.3) and ExaBGP (.4, sending malformed UPDATEs). Configurations as
// verified in shared/reference/bgp-lab.md §4.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "netagent/testing/netns.hpp"
#include "netagent/testing/privileged.hpp"
#include "netagent/testing/routers.hpp"

namespace {

namespace t = netagent::testing;
using namespace std::chrono_literals;
using nlohmann::json;

bool have(const std::string& bin) {
  return t::sh("command -v " + bin + " >/dev/null") == 0;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  return s;
}

// Two namespaces joined by a veth: "srx" holds the routers' addresses, "node" the speaker's.
struct Lab {
  Lab() {
    auto sfx = t::unique_suffix();
    srx_if = "bgs" + sfx;
    node_if = "bgn" + sfx;
    t::make_veth(srx_if, &srx, node_if, &node);
    for (const char* a : {"10.25.11.1", "10.25.11.2", "10.25.11.3", "10.25.11.4"}) {
      t::sh_ok("ip -n " + srx.name() + " addr add " + a + "/24 dev " + srx_if);
    }
    t::sh_ok("ip -n " + srx.name() + " addr add 2001:db8:25::1/64 dev " + srx_if + " nodad");
    t::sh_ok("ip -n " + node.name() + " addr add 10.25.11.11/24 dev " + node_if);
    t::sh_ok("ip -n " + node.name() + " addr add 2001:db8:25::11/64 dev " + node_if + " nodad");
  }
  std::string path(const std::string& name) const { return dir.path() + "/" + name; }

  t::NetNs srx{"bgpsrx"};
  t::NetNs node{"bgpnode"};
  t::TempDir dir{"bgp-interop"};
  std::string srx_if, node_if;
};

// ---- BIRD, FRR, GoBGP (testing/routers.hpp) ----

using netagent::testing::Bird;

// ---- bgpspeak ----

std::string speak_yaml(const std::string& peers, const std::vector<std::string>& routes,
                       const std::string& instance_extra = "") {
  std::string y =
      "instances:\n"
      "  - name: infra\n"
      "    local_asn: 64512\n"
      "    router_id: 10.25.11.11\n" +
      instance_extra + "    peers:\n" + peers + "    routes:\n";
  for (const auto& r : routes)
    y += "      - " + r + "\n";
  if (routes.empty()) y += "      []\n";
  return y;
}

std::string srx_peer(const std::string& extra = "") {
  return "      - name: srx\n"
         "        address: 10.25.11.1\n"
         "        peer_asn: 64501\n"
         "        connect_retry: 1\n" +
         extra;
}

class Bgpspeak {
 public:
  Bgpspeak(Lab& lab, const std::string& yaml, const std::string& name = "speak") : lab_(lab) {
    conf_ = lab.path(name + ".yaml");
    sock_ = lab.path(name + ".sock");
    log_ = lab.path(name + ".log");
    write_file(conf_, yaml);
    start();
  }
  void start() {
    ::unlink(sock_.c_str());
    proc_ = std::make_unique<t::Process>(
        std::vector<std::string>{NETAGENT_BGPSPEAK, "-c", conf_, "--control", sock_, "--log-level",
                                 "debug"},
        &lab_.node, log_);
    EXPECT_TRUE(t::wait_until([&] { return exists(sock_); }, 5s)) << log();
  }
  void rewrite(const std::string& yaml) { write_file(conf_, yaml); }
  void signal(int sig) { proc_->signal(sig); }
  int stop(int sig = SIGTERM) { return proc_->stop(sig); }
  std::string send(const std::string& command) {
    std::string out;
    t::sh(std::string(NETAGENT_BGPSPEAK) + " --control " + sock_ + " --send '" + command + "'",
          &out);
    return trim(out);
  }
  json peer(const std::string& name) {
    auto all = json::parse(send("status"));
    for (const auto& p : all) {
      if (p["name"] == name) return p;
    }
    return json::object();
  }
  std::string state(const std::string& name) { return peer(name).value("state", "?"); }
  bool wait_established(const std::string& name, std::chrono::milliseconds timeout = 10s) {
    return t::wait_until([&] { return state(name) == "Established"; }, timeout, 50ms);
  }
  std::string log() const { return t::sh_ok("cat " + log_); }

 private:
  Lab& lab_;
  std::string conf_, sock_, log_;
  std::unique_ptr<t::Process> proc_;
};

class BgpInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    NETAGENT_REQUIRE_ROOT();
    for (const char* bin : {"bird", "birdc", "vtysh", "gobgpd", "gobgp", "exabgp"}) {
      NETAGENT_REQUIRE(have(bin), std::string(bin) + " is not installed");
    }
    NETAGENT_REQUIRE(exists("/usr/lib/frr/bgpd"), "FRR bgpd is not installed");
    lab_ = std::make_unique<Lab>();
  }
  std::unique_ptr<Lab> lab_;
};

const std::vector<std::string> kRoutes = {
    "10.25.11.100/32 community 64512:100 large-community 64512:1:2",
    "10.25.11.101/32 origin incomplete med 20",
    "10.25.11.110/32 community 64512:110 community no-export",
};

TEST_F(BgpInterop, BirdHoldsExactlyTheAnnouncedRoutes) {
  Bird bird(lab_->srx, lab_->dir.path());
  auto routes = kRoutes;
  routes.push_back("2001:db8:11::100/128 next-hop 2001:db8:25::11");
  Bgpspeak speak(*lab_, speak_yaml(srx_peer(), routes));
  ASSERT_TRUE(speak.wait_established("srx")) << speak.log();
  ASSERT_TRUE(t::wait_until([&] { return bird.routes().size() == 4; }, 5s))
      << bird.cmd("show route all");
  auto r = bird.routes();
  ASSERT_EQ(r.size(), 4u);
  const auto& a = r.at("10.25.11.100/32");
  EXPECT_EQ(a.next_hop, "10.25.11.11");
  EXPECT_EQ(a.as_path, "64512");
  EXPECT_EQ(a.origin, "IGP");
  EXPECT_EQ(a.community, "(64512,100)");
  EXPECT_EQ(a.large_community, "(64512, 1, 2)");
  const auto& b = r.at("10.25.11.101/32");
  EXPECT_EQ(b.origin, "Incomplete");
  EXPECT_EQ(b.med, "20");
  EXPECT_EQ(b.community, "");
  EXPECT_EQ(r.at("10.25.11.110/32").community, "(64512,110) (65535,65281)");  // no-export
  const auto& v6 = r.at("2001:db8:11::100/128");
  EXPECT_EQ(v6.next_hop, "2001:db8:25::11");
  EXPECT_EQ(v6.as_path, "64512");
  EXPECT_TRUE(bird.established());

  // The speaker's own view for netctl.
  auto st = speak.peer("srx");
  EXPECT_EQ(st["prefixes_out"], 4);
  EXPECT_EQ(st["peer_router_id"], "10.25.11.1");
  EXPECT_EQ(st["hold_time"], 90);
  auto caps = st["capabilities"].get<std::vector<std::string>>();
  for (const char* c : {"ipv4-unicast", "ipv6-unicast", "4-octet-as", "route-refresh"}) {
    EXPECT_NE(std::find(caps.begin(), caps.end(), c), caps.end()) << c;
  }
  auto adv = json::parse(speak.send("advertised srx"));
  ASSERT_EQ(adv.size(), 4u);
  EXPECT_EQ(adv[0]["prefix"], "10.25.11.100/32");
}

TEST_F(BgpInterop, AnnounceAndWithdrawReachBirdWithinASecond) {
  Bird bird(lab_->srx, lab_->dir.path());
  Bgpspeak speak(*lab_, speak_yaml(srx_peer(), {kRoutes[0]}));
  ASSERT_TRUE(speak.wait_established("srx")) << speak.log();
  ASSERT_TRUE(t::wait_until([&] { return bird.routes().size() == 1; }, 5s));

  auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(speak.send("announce 10.25.11.105/32 community 64512:105"),
            "ok announce 10.25.11.105/32");
  ASSERT_TRUE(t::wait_until([&] { return bird.routes().count("10.25.11.105/32") == 1; }, 1s, 5ms));
  auto announce_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  EXPECT_EQ(bird.routes().at("10.25.11.105/32").community, "(64512,105)");

  start = std::chrono::steady_clock::now();
  ASSERT_EQ(speak.send("withdraw 10.25.11.105/32"), "ok withdraw 10.25.11.105/32");
  ASSERT_TRUE(t::wait_until([&] { return bird.routes().count("10.25.11.105/32") == 0; }, 1s, 5ms));
  auto withdraw_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  RecordProperty("announce_ms", int(announce_ms.count()));
  RecordProperty("withdraw_ms", int(withdraw_ms.count()));
  EXPECT_EQ(bird.routes().size(), 1u);
}

TEST_F(BgpInterop, BirdRestartBringsSessionAndRoutesBack) {
  Bird bird(lab_->srx, lab_->dir.path());
  Bgpspeak speak(*lab_, speak_yaml(srx_peer(), kRoutes));
  ASSERT_TRUE(speak.wait_established("srx")) << speak.log();
  ASSERT_TRUE(t::wait_until([&] { return bird.routes().size() == 3; }, 5s));
  bird.stop();
  ASSERT_TRUE(t::wait_until([&] { return speak.state("srx") != "Established"; }, 5s));
  bird.start();
  // Idle hold (5 s after the first failure), then connect with retries every [1, 2) s.
  ASSERT_TRUE(speak.wait_established("srx", 20s)) << speak.log();
  ASSERT_TRUE(t::wait_until([&] { return bird.routes().size() == 3; }, 5s));
  auto st = speak.peer("srx");
  EXPECT_EQ(st["established_count"], 2);
  // BIRD said goodbye with a Cease when it shut down.
  EXPECT_EQ(st["last_error"]["notification_received"]["code"], 6);
}

TEST_F(BgpInterop, SpeakerRestartWithGracefulRestartKeepsRoutesStaleThenRefreshes) {
  Bird bird(lab_->srx, lab_->dir.path());  // BIRD is graceful-restart aware by default (helper)
  std::string gr = "        graceful_restart: {enabled: true, restart_time: 120}\n";
  auto speak = std::make_unique<Bgpspeak>(*lab_, speak_yaml(srx_peer(gr), kRoutes));
  ASSERT_TRUE(speak->wait_established("srx")) << speak->log();
  ASSERT_TRUE(t::wait_until([&] { return bird.routes().size() == 3; }, 5s));

  speak->stop(SIGTERM);  // an agent restart
  ASSERT_TRUE(t::wait_until([&] { return !bird.established(); }, 5s));
  // BIRD keeps our routes (stale) while it waits for us to come back (RFC 4724 §4.2).
  EXPECT_NE(bird.details().find("Neighbor graceful restart active"), std::string::npos)
      << bird.details();
  EXPECT_EQ(bird.routes().size(), 3u);
  t::sh("sleep 1");
  EXPECT_EQ(bird.routes().size(), 3u);

  // The restarted speaker announces a changed table: .100 with a new community, .101 gone.
  std::vector<std::string> next = {"10.25.11.100/32 community 64512:200", kRoutes[2]};
  speak = std::make_unique<Bgpspeak>(*lab_, speak_yaml(srx_peer(gr), next), "speak2");
  ASSERT_TRUE(speak->wait_established("srx")) << speak->log();
  // OPEN of the restarted speaker carries the Restart State bit ("Restart recovery" in BIRD).
  EXPECT_NE(bird.details().find("Restart recovery"), std::string::npos);
  // After our End-of-RIB, BIRD replaces the stale routes: refreshed ones stay, .101 is flushed.
  ASSERT_TRUE(t::wait_until(
      [&] {
        auto r = bird.routes();
        return r.size() == 2 && r.count("10.25.11.100/32") &&
               r.at("10.25.11.100/32").community == "(64512,200)";
      },
      5s))
      << bird.cmd("show route all");
  EXPECT_EQ(bird.routes().count("10.25.11.101/32"), 0u);
  EXPECT_EQ(bird.details().find("Neighbor graceful restart active"), std::string::npos);
}

TEST_F(BgpInterop, SpeakerRestartWithoutGracefulRestartWithdraws) {
  Bird bird(lab_->srx, lab_->dir.path());
  Bgpspeak speak(*lab_, speak_yaml(srx_peer(), kRoutes));
  ASSERT_TRUE(speak.wait_established("srx")) << speak.log();
  ASSERT_TRUE(t::wait_until([&] { return bird.routes().size() == 3; }, 5s));
  speak.stop(SIGTERM);
  ASSERT_TRUE(t::wait_until([&] { return bird.routes().empty(); }, 1s)) << bird.cmd("show route");
  // The speaker said why (RFC 8203 shutdown communication).
  auto log = t::sh_ok("cat " + lab_->path("bird.log"));
  EXPECT_NE(log.find("Administrative shutdown"), std::string::npos) << log;
}

TEST_F(BgpInterop, Md5WrongPasswordNeverEstablishesRightOneDoes) {
  Bird bird(lab_->srx, lab_->dir.path(), "  password \"right-secret\";\n");
  Bgpspeak speak(*lab_, speak_yaml(srx_peer("        md5_password: wrong-secret\n"), kRoutes));
  // SYNs with the wrong signature are dropped by BIRD's kernel: several connect attempts fail.
  t::sh("sleep 3");
  EXPECT_NE(speak.state("srx"), "Established");
  EXPECT_FALSE(bird.established());
  EXPECT_TRUE(bird.routes().empty());
  // The right key, applied by a configuration reload (SIGHUP).
  speak.rewrite(speak_yaml(srx_peer("        md5_password: right-secret\n"), kRoutes));
  speak.signal(SIGHUP);
  ASSERT_TRUE(speak.wait_established("srx", 10s)) << speak.log();
  ASSERT_TRUE(t::wait_until([&] { return bird.routes().size() == 3; }, 5s));
  // No key at all does not establish either.
  speak.rewrite(speak_yaml(srx_peer(), kRoutes));
  speak.signal(SIGHUP);
  t::sh("sleep 3");
  EXPECT_NE(speak.state("srx"), "Established");
}

TEST_F(BgpInterop, FrrSessionAndRoutes) {
  t::Frr frr(lab_->srx, lab_->dir.path(), " neighbor 10.25.11.11 timers 30 90\n");
  std::string peer =
      "      - {name: frr, address: 10.25.11.2, peer_asn: 64501, connect_retry: 1}\n";
  Bgpspeak speak(*lab_, speak_yaml(peer, kRoutes));
  ASSERT_TRUE(speak.wait_established("frr")) << speak.log();
  auto vtysh = [&](const std::string& c) { return frr.vtysh(c); };
  json rib;
  ASSERT_TRUE(t::wait_until(
      [&] {
        auto out = vtysh("show bgp ipv4 unicast json");
        if (out.find('{') == std::string::npos) return false;
        rib = json::parse(out.substr(out.find('{')), nullptr, false);
        return rib.is_object() && rib["routes"].size() == 3;
      },
      10s))
      << vtysh("show bgp summary");
  auto detail = vtysh("show bgp ipv4 unicast 10.25.11.100/32 json");
  auto d = json::parse(detail.substr(detail.find('{')));
  const auto& path = d["paths"][0];
  EXPECT_EQ(path["aspath"]["string"], "64512");
  EXPECT_EQ(path["nexthops"][0]["ip"], "10.25.11.11");
  EXPECT_EQ(path["community"]["string"], "64512:100");
  EXPECT_EQ(path["largeCommunity"]["string"], "64512:1:2");
  EXPECT_EQ(path["origin"], "IGP");
}

TEST_F(BgpInterop, GoBgpSessionAndRoutes) {
  t::GoBgp gobgp(lab_->srx, lab_->dir.path());
  std::string peer =
      "      - {name: gobgp, address: 10.25.11.3, peer_asn: 64501, connect_retry: 1}\n";
  Bgpspeak speak(*lab_, speak_yaml(peer, kRoutes));
  ASSERT_TRUE(speak.wait_established("gobgp", 15s)) << speak.log();
  json rib;
  ASSERT_TRUE(t::wait_until(
      [&] {
        rib = json::parse(gobgp.rib_json(), nullptr, false);
        return rib.is_object() && rib.size() == 3;
      },
      10s));
  const auto& attrs = rib["10.25.11.100/32"][0]["attrs"];
  bool nh = false, path = false, comm = false, large = false;
  for (const auto& a : attrs) {
    if (a["type"] == 3) nh = a["nexthop"] == "10.25.11.11";
    if (a["type"] == 2) path = a["as_paths"][0]["asns"] == json({64512});
    if (a["type"] == 8) comm = a["communities"] == json({(64512u << 16) | 100});
    if (a["type"] == 32) large = a["value"][0]["ASN"] == 64512 && a["value"][0]["LocalData2"] == 2;
  }
  EXPECT_TRUE(nh && path && comm && large) << attrs.dump();
}

std::string exabgp_conf(const std::vector<std::string>& routes) {
  std::string c =
      "neighbor 10.25.11.11 {\n"
      "  router-id 10.25.11.4; local-address 10.25.11.4;\n"
      "  local-as 64513; peer-as 64512;\n"
      "  family { ipv4 unicast; }\n"
      "  static {\n";
  for (const auto& r : routes)
    c += "    route " + r + ";\n";
  return c + "  }\n}\n";
}

std::unique_ptr<t::Process> start_exabgp(Lab& lab, const std::string& conf_name) {
  return std::make_unique<t::Process>(
      std::vector<std::string>{"env", "exabgp.daemon.daemonize=false", "exabgp.api.cli=false",
                               "exabgp.daemon.user=root", "exabgp.log.destination=stdout",
                               "exabgp.log.level=DEBUG", "exabgp.log.all=true", "exabgp",
                               lab.path(conf_name)},
      &lab.srx, lab.path(conf_name + ".log"));
}

TEST_F(BgpInterop, ExaBgpMalformedUpdatesGetRfc7606Treatment) {
  // The speaker listens for this peer (ExaBGP connects).
  std::string peer = "      - {name: exa, address: 10.25.11.4, peer_asn: 64513, passive: true}\n";
  Bgpspeak speak(*lab_, speak_yaml(peer, {},
                                   "    listen_port: 179\n"
                                   "    listen_address: 10.25.11.11\n"));
  // MED of 5 octets (treat-as-withdraw, RFC 7606 §7.4) and ATOMIC_AGGREGATE of 1 octet
  // (attribute discard, §7.6) next to a well-formed route.
  write_file(lab_->path("exa1.conf"),
             exabgp_conf({"10.25.11.120/32 next-hop self",
                          "10.25.11.121/32 next-hop self attribute [ 0x04 0x80 0x0000000064 ]",
                          "10.25.11.122/32 next-hop self attribute [ 0x06 0x40 0x00 ]"}));
  auto exa = start_exabgp(*lab_, "exa1.conf");
  ASSERT_TRUE(speak.wait_established("exa", 15s)) << speak.log();
  json received;
  ASSERT_TRUE(t::wait_until(
      [&] {
        received = json::parse(speak.send("received exa"), nullptr, false);
        return received.is_array() && received.size() == 2;
      },
      5s))
      << received.dump();
  EXPECT_EQ(received[0]["prefix"], "10.25.11.120/32");
  EXPECT_EQ(received[1]["prefix"], "10.25.11.122/32");  // kept, attribute dropped
  EXPECT_FALSE(received[1]["attributes"].contains("atomic_aggregate"));
  auto st = speak.peer("exa");
  EXPECT_EQ(st["state"], "Established");  // neither error resets the session
  EXPECT_EQ(st["update_errors"], 2);
  EXPECT_NE(speak.log().find("RFC 7606 treat-as-withdraw: MULTI_EXIT_DISC: bad length 5"),
            std::string::npos);
  exa->stop(SIGTERM);
  ASSERT_TRUE(t::wait_until([&] { return speak.state("exa") != "Established"; }, 5s));

  // An unrecognized well-known attribute cannot be handled by RFC 7606: session reset with
  // UPDATE Message Error / Unrecognized Well-known Attribute (RFC 4271 §6.3).
  write_file(lab_->path("exa2.conf"),
             exabgp_conf({"10.25.11.123/32 next-hop self attribute [ 0xfa 0x40 0x00 ]"}));
  exa = start_exabgp(*lab_, "exa2.conf");
  ASSERT_TRUE(t::wait_until(
      [&] {
        auto e = speak.peer("exa")["last_error"];
        return e.contains("notification_sent") && e["notification_sent"]["code"] == 3;
      },
      15s))
      << speak.peer("exa").dump();
  auto sent = speak.peer("exa")["last_error"]["notification_sent"];
  EXPECT_EQ(sent["subcode"], 2);
  EXPECT_TRUE(json::parse(speak.send("received exa")).empty());
  // ExaBGP saw the NOTIFICATION.
  ASSERT_TRUE(t::wait_until(
      [&] {
        return t::sh_ok("cat " + lab_->path("exa2.conf.log")).find("notification received (3,2)") !=
               std::string::npos;
      },
      5s));
}

}  // namespace
