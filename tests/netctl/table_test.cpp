#include "netagent/netctl/table.hpp"

#include <gtest/gtest.h>

#include "netagent/netctl/command.hpp"

namespace netagent::netctl {
namespace {

using nlohmann::json;

TEST(Table, AlignsColumnsAndSpansMultiLineCells) {
  json rows = json::parse(R"([
    {"id": 1, "frontend": "10.96.0.10:53/UDP", "backends": ["10.0.1.5:53", "10.0.2.7:53"],
     "state": {"active": true}},
    {"id": 12, "frontend": "10.25.11.100:2379/TCP", "backends": [], "state": null}
  ])");
  std::string out = render_table(rows, {{"ID", "id"},
                                        {"FRONTEND", "frontend"},
                                        {"BACKENDS", "backends", lines()},
                                        {"ACTIVE", "/state/active"}});
  EXPECT_EQ(out,
            "ID  FRONTEND               BACKENDS     ACTIVE\n"
            "1   10.96.0.10:53/UDP      10.0.1.5:53  true\n"
            "                           10.0.2.7:53\n"
            "12  10.25.11.100:2379/TCP  -            -\n");
}

TEST(Table, EmptyArrayPrintsTheHeader) {
  EXPECT_EQ(render_table(json::array(), {{"NAME", "name"}, {"VALUE", "value"}}), "NAME  VALUE\n");
}

TEST(Table, WidthCountsCharactersNotBytes) {
  json rows = json::parse(R"([{"a": "ümlaut", "b": "x"}, {"a": "plain!", "b": "y"}])");
  EXPECT_EQ(render_table(rows, {{"A", "a"}, {"B", "b"}}),
            "A       B\n"
            "ümlaut  x\n"
            "plain!  y\n");
}

TEST(Table, DerivedColumnsSeeTheWholeRow) {
  json rows = json::parse(R"([{"ip": "10.0.0.1", "port": 80}])");
  CellFormat addr = [](const json&, const json& row) {
    return row["ip"].get<std::string>() + ":" + std::to_string(row["port"].get<int>());
  };
  EXPECT_EQ(render_table(rows, {{"ADDRESS", "", addr}}), "ADDRESS\n10.0.0.1:80\n");
}

TEST(Fields, ListsKeysAligned) {
  json obj = json::parse(R"({"name": "web", "ports": [80, 443], "nested": {"a": 1}})");
  EXPECT_EQ(render_fields(obj, {{"Name", "name"}, {"Ports", "ports"}, {"Missing", "nope"}}),
            "Name:     web\n"
            "Ports:    80, 443\n"
            "Missing:  -\n");
  EXPECT_EQ(render_fields(obj), "name:    web\nnested:  a=1\nports:   80, 443\n");
}

TEST(Text, Scalars) {
  EXPECT_EQ(text(nullptr), "-");
  EXPECT_EQ(text("s"), "s");
  EXPECT_EQ(text(3), "3");
  EXPECT_EQ(text(3.0), "3");
  EXPECT_EQ(text(0.25), "0.25");
  EXPECT_EQ(text(1795432655.7454343), "1795432655.75");
  EXPECT_EQ(text(true), "true");
  EXPECT_EQ(text(json::array()), "-");
  EXPECT_EQ(text(json::array({1, "a"})), "1, a");
  EXPECT_EQ(labels()(json{{"b", "2"}, {"a", "1"}}, nullptr), "a=1,b=2");
}

TEST(Duration, Formats) {
  EXPECT_EQ(format_duration(0.0004), "400µs");
  EXPECT_EQ(format_duration(0.25), "250ms");
  EXPECT_EQ(format_duration(5), "5s");
  EXPECT_EQ(format_duration(303), "5m3s");
  EXPECT_EQ(format_duration(7320), "2h2m");
  EXPECT_EQ(format_duration(90000), "1d1h");
  EXPECT_EQ(format_duration(-1), "-");
}

TEST(Command, TargetSubstitutesAndEncodes) {
  CLI::App app;
  Command c(&app);
  c.params["id"] = "default/web svc";
  c.query_values["type"] = "drop";
  c.query_values["empty"] = "";
  c.query_flags["all"] = true;
  c.query_flags["off"] = false;
  EXPECT_EQ(c.target("/v1/services/{id}"), "/v1/services/default%2Fweb%20svc?type=drop&all=true");
}

}  // namespace
}  // namespace netagent::netctl
