#pragma once
// netctl's command framework. Each command is a few lines in netctl/commands/<topic>.cpp:
//
//   NETCTL_COMMANDS(service) {
//     commands.get("service list", "Services with their frontends and backends", "/v1/services",
//                  {.columns = {{"ID", "id"}, {"FRONTEND", "frontend"},
//                               {"BACKENDS", "backends", netctl::lines()}}});
//   }
//
// Every command gets the global options (--socket / NETCTL_SOCKET, -o table|json, --timeout)
// and prints either a table for people or the API's JSON unchanged for scripts.
#include <CLI/CLI.hpp>
#include <chrono>
#include <functional>
#include <iosfwd>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "netagent/netctl/client.hpp"
#include "netagent/netctl/table.hpp"

namespace netagent::netctl {

enum class Output { Table, Json };

// Exit codes of netctl.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;       // the agent answered with an error
inline constexpr int kExitUsage = 2;        // bad command line
inline constexpr int kExitUnreachable = 3;  // the agent could not be reached

struct Context {
  std::string socket = kDefaultSocket;
  std::chrono::milliseconds timeout = std::chrono::seconds(30);
  Output output = Output::Table;
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;

  Client client() const { return Client(socket, timeout); }
  bool json() const { return output == Output::Json; }
  // Prints `body` as indented JSON (-o json) or calls human(body, out).
  void print(const nlohmann::json& body,
             const std::function<void(const nlohmann::json&, std::ostream&)>& human) const;
  // Reports a failed call on stderr and returns the matching exit code.
  int fail(const Error& e) const;
};

// How a GET result is shown in table mode.
struct View {
  std::string rows;             // JSON pointer to the array to tabulate ("" = the body itself)
  std::vector<Column> columns;  // the table; when empty, the object is listed as "Key: value"
  std::vector<std::pair<std::string, std::string>> fields;  // ...those keys, in this order
  std::function<void(const nlohmann::json& body, std::ostream& out)> custom;  // overrides all
  std::string empty;  // printed instead of a header-only table, e.g. "no services"
};

// One registered command, for adding options that become query parameters.
class Command {
 public:
  explicit Command(CLI::App* app) : app_(app) {}
  CLI::App* app() const { return app_; }
  // --flag VALUE adds ?key=VALUE to the request.
  Command& query(const std::string& flag, const std::string& key, const std::string& help);
  // --flag (no value) adds ?key=true.
  Command& query_flag(const std::string& flag, const std::string& key, const std::string& help);

  // Filled by the parser; read when the command runs.
  std::map<std::string, std::string> params;  // positional {name}s of the API target
  std::map<std::string, std::string> query_values;
  std::map<std::string, bool> query_flags;

  // The API target with {name}s replaced and the query appended.
  std::string target(const std::string& pattern) const;

 private:
  CLI::App* app_;
};

class CommandSet {
 public:
  using Run = std::function<int(const Context&)>;

  CommandSet(CLI::App& root, Context& context) : root_(root), context_(context) {}

  // `path` is the words after "netctl" ("bgp routes advertised"); missing intermediate words
  // become command groups. The returned app can take extra CLI11 options.
  CLI::App* add(const std::string& path, const std::string& help, Run run);
  // GET api_target and show it: -o json prints the body; otherwise per `view`. Each {name} in
  // api_target ("/v1/endpoints/{id}") becomes a required positional argument.
  Command& get(const std::string& path, const std::string& help, const std::string& api_target,
               View view);
  // Reads a streaming endpoint until interrupted: -o json prints each line as it came; otherwise
  // human(line) (one line of text per event).
  Command& stream(const std::string& path, const std::string& help, const std::string& api_target,
                  std::function<std::string(const nlohmann::json&)> human);

  // After parsing: the selected command's action (empty when none was selected).
  const Run& selected() const { return selected_; }

 private:
  CLI::App* node(const std::string& path, const std::string& help);
  CLI::App& root_;
  Context& context_;
  Run selected_;
  std::list<Command> commands_;  // stable addresses: CLI11 binds options into them
};

// Registration of command files, run by main() in name order.
using Registration = void (*)(CommandSet&);
struct Registrar {
  Registrar(const char* name, Registration fn);
};
std::vector<std::pair<std::string, Registration>>& registrations();

// Builds netctl: global options plus every registered command. Returns the exit code.
int run_netctl(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace netagent::netctl

#define NETCTL_COMMANDS(name)                                                                  \
  static void netctl_commands_##name(::netagent::netctl::CommandSet&);                         \
  static const ::netagent::netctl::Registrar netctl_registrar_##name{#name,                    \
                                                                     &netctl_commands_##name}; \
  static void netctl_commands_##name(::netagent::netctl::CommandSet& commands)
