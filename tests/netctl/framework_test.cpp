// netctl's command framework end to end: commands registered the way command files do, run
// through run_netctl against an in-process API server on a unix socket.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/asio/post.hpp>
#include <sstream>
#include <thread>

#include "netagent/api/server.hpp"
#include "netagent/netctl/command.hpp"
#include "netagent/testing/netns.hpp"

namespace netctl = netagent::netctl;
using nlohmann::json;

// What a command file for a new part looks like.
NETCTL_COMMANDS(things) {
  commands.get("thing list", "Things", "/v1/things",
               {.rows = "/items",
                .columns = {{"NAME", "name"},
                            {"ADDRESSES", "addresses", netctl::lines()},
                            {"AGE", "age_seconds", netctl::duration()}},
                .empty = "no things"});
  commands
      .get("thing get", "One thing", "/v1/things/{name}",
           {.fields = {{"Name", "name"}, {"Addresses", "addresses"}}})
      .query("--view", "view", "Which view")
      .query_flag("--verbose", "verbose", "More");
  commands.stream("thing watch", "Thing events", "/v1/things/events",
                  [](const json& e) { return e["event"].get<std::string>(); });
}

NETCTL_COMMANDS(routing) {
  commands.get("bgp routes advertised", "Advertised", "/v1/bgp/advertised", {});
  commands.get("bgp peers", "Peers", "/v1/bgp/peers",
               {.columns = {{"PEER", "peer"}, {"STATE", "state"}}});
}

namespace netagent::netctl {
namespace {

namespace asio = boost::asio;

class NetctlFramework : public ::testing::Test {
 protected:
  void SetUp() override {
    router.get("/v1/things", [this](const api::Request&) { return api::Reply(things); });
    router.get("/v1/things/{name}", [](const api::Request& r) {
      if (r.param("name") != "web")
        return api::Reply(api::not_found("no thing " + r.param("name")));
      return api::Reply(json{{"name", "web"}, {"addresses", {"10.0.0.1"}}, {"query", r.query}});
    });
    router.stream("/v1/things/events", [](const api::Request&, std::shared_ptr<api::Stream> s) {
      s->write(json{{"event", "added web"}});
      s->write(json{{"event", "removed db"}});
      s->close();
      return std::optional<api::ApiError>();
    });
    router.get("/v1/bgp/peers", [](const api::Request&) {
      return api::Reply(json::array({{{"peer", "10.25.11.1"}, {"state", "established"}}}));
    });
    server = std::make_unique<api::ApiServer>(io, router);
    ASSERT_TRUE(server->listen(socket).ok());
    thread = std::thread([this] { io.run(); });
  }
  void TearDown() override {
    asio::post(io, [this] { server->stop(); });
    work.reset();
    thread.join();
  }

  int run(std::vector<std::string> args) {
    args.insert(args.begin(), {"netctl", "--socket", socket});
    return run_raw(args);
  }
  int run_raw(std::vector<std::string> args) {
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    out.str("");
    err.str("");
    return run_netctl(static_cast<int>(argv.size()), argv.data(), out, err);
  }

  netagent::testing::TempDir dir{"netctl-test"};
  std::string socket = dir.path() + "/api.sock";
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work{
      asio::make_work_guard(io)};
  api::Router router;
  std::unique_ptr<api::ApiServer> server;
  std::thread thread;
  std::ostringstream out, err;
  json things = json::parse(R"({"items": [
      {"name": "web", "addresses": ["10.0.0.1", "10.0.0.2"], "age_seconds": 303},
      {"name": "db", "addresses": ["10.0.0.3"], "age_seconds": 0.5}]})");
};

TEST_F(NetctlFramework, TableForPeople) {
  EXPECT_EQ(run({"thing", "list"}), kExitOk) << err.str();
  EXPECT_EQ(out.str(),
            "NAME  ADDRESSES  AGE\n"
            "web   10.0.0.1   5m3s\n"
            "      10.0.0.2\n"
            "db    10.0.0.3   500ms\n");
}

TEST_F(NetctlFramework, JsonForScriptsWithTheOptionAnywhere) {
  EXPECT_EQ(run({"thing", "list", "-o", "json"}), kExitOk) << err.str();
  EXPECT_EQ(json::parse(out.str()), things);
  EXPECT_EQ(run({"-o", "json", "thing", "list"}), kExitOk);
  EXPECT_EQ(json::parse(out.str()), things);
}

TEST_F(NetctlFramework, EmptyListSaysSo) {
  things = json{{"items", json::array()}};
  EXPECT_EQ(run({"thing", "list"}), kExitOk);
  EXPECT_EQ(out.str(), "no things\n");
}

TEST_F(NetctlFramework, PositionalsFillThePathAndOptionsTheQuery) {
  EXPECT_EQ(run({"thing", "get", "web", "--view", "full", "--verbose", "-o", "json"}), kExitOk)
      << err.str();
  EXPECT_EQ(json::parse(out.str())["query"], (json{{"view", "full"}, {"verbose", "true"}}));
  EXPECT_EQ(run({"thing", "get", "web"}), kExitOk);
  EXPECT_EQ(out.str(), "Name:       web\nAddresses:  10.0.0.1\n");
}

TEST_F(NetctlFramework, AgentErrorsExitOneWithTheMessage) {
  EXPECT_EQ(run({"thing", "get", "nope"}), kExitFailed);
  EXPECT_EQ(err.str(), "netctl: no thing nope (HTTP 404 not_found)\n");
}

TEST_F(NetctlFramework, UsageErrorsExitTwo) {
  EXPECT_EQ(run({"thing", "get"}), kExitUsage);  // missing positional
  EXPECT_NE(err.str().find("name is required"), std::string::npos) << err.str();
  EXPECT_EQ(run({"bgp"}), kExitUsage);  // a group needs a command
  EXPECT_EQ(run({"thing", "list", "-o", "yaml"}), kExitUsage);
  EXPECT_EQ(run({"nothing"}), kExitUsage);
}

TEST_F(NetctlFramework, GroupsFromSeveralFilesShareTheirWords) {
  EXPECT_EQ(run({"bgp", "peers"}), kExitOk) << err.str();
  EXPECT_EQ(out.str(), "PEER        STATE\n10.25.11.1  established\n");
  EXPECT_EQ(run({"bgp", "--help"}), kExitOk);
  EXPECT_NE(out.str().find("routes"), std::string::npos);
  EXPECT_NE(out.str().find("peers"), std::string::npos);
}

TEST_F(NetctlFramework, StreamsLinesAsTheyCome) {
  EXPECT_EQ(run({"thing", "watch"}), kExitOk) << err.str();
  EXPECT_EQ(out.str(), "added web\nremoved db\n");
  EXPECT_EQ(run({"thing", "watch", "-o", "json"}), kExitOk);
  EXPECT_EQ(out.str(), "{\"event\":\"added web\"}\n{\"event\":\"removed db\"}\n");
}

TEST_F(NetctlFramework, SocketFromTheEnvironment) {
  ::setenv("NETCTL_SOCKET", socket.c_str(), 1);
  int rc = run_raw({"netctl", "bgp", "peers"});
  ::unsetenv("NETCTL_SOCKET");
  EXPECT_EQ(rc, kExitOk) << err.str();
}

TEST_F(NetctlFramework, UnreachableAgentExitsThree) {
  const std::string none = dir.path() + "/none.sock";
  EXPECT_EQ(run_raw({"netctl", "--socket", none, "thing", "list"}), kExitUnreachable);
  EXPECT_EQ(err.str(), "netctl: cannot reach netagent at " + none +
                           ": no such file or directory — is the agent running? "
                           "(--socket/NETCTL_SOCKET)\n");
}

}  // namespace
}  // namespace netagent::netctl
