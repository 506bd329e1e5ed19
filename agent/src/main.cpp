// netagent: the node agent. Parses flags, checks and prepares the host, then runs the Agent
// until SIGTERM/SIGINT. Exit codes: exit_code.hpp.
#include <bpf/libbpf.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string_view>

#include "netagent/agent/agent.hpp"
#include "netagent/agent/exit_code.hpp"
#include "netagent/agent/flags.hpp"
#include "netagent/agent/startup.hpp"
#include "netagent/policy/offline_command.hpp"
#include "parts.hpp"

namespace {

using namespace netagent::agent;

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_logger_mt("netagent");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::flush_on(spdlog::level::trace);
  // libbpf's own messages go to the agent's log (with its timestamps and level), not raw stderr.
  libbpf_set_print([](enum libbpf_print_level level, const char* fmt, va_list args) -> int {
    char buf[1024];
    int n = std::vsnprintf(buf, sizeof(buf), fmt, args);
    size_t len = std::strlen(buf);
    while (len > 0 && buf[len - 1] == '\n')
      buf[--len] = '\0';
    auto lvl = level == LIBBPF_WARN ? spdlog::level::warn : spdlog::level::debug;
    // Creating the clsact hook on a device that already has one is expected (the agent attaches
    // to existing hooks after a restart); the kernel's extack for it is not a warning.
    if (std::strstr(buf, "Exclusivity flag on")) lvl = spdlog::level::debug;
    spdlog::log(lvl, "libbpf: {}", buf);
    return n;
  });
}

int run_cleanup(const Config& config) {
  if (auto e = check_privilege()) {
    spdlog::critical("{}", e->message);
    return e->exit_code;
  }
  if (auto e = check_api_socket(config)) {
    spdlog::critical(
        "refusing to clean up while netagent runs (its API answers on {}); stop it "
        "first",
        config.api_socket);
    return kExitAlreadyRunning;
  }
  Agent agent(config);
  add_parts(agent);
  return agent.cleanup();
}

}  // namespace

int main(int argc, char** argv) {
  // One-shot offline commands with the agent's own code (netctl runs them).
  if (argc > 1 && std::string_view(argv[1]) == "policy") {
    return netagent::policy::offline_command({argv + 2, argv + argc}, std::cout, std::cerr);
  }
  ParsedArgs args = parse_args(argc, argv);
  if (args.action == Action::Exit) {
    if (args.exit_code != 0) std::fputs("netagent: ", stderr);
    std::fputs(args.message.c_str(), args.exit_code == 0 ? stdout : stderr);
    if (!args.message.empty() && args.message.back() != '\n') {
      std::fputc('\n', args.exit_code == 0 ? stdout : stderr);
    }
    return args.exit_code;
  }
  setup_logging(args.config.log_level);
  // Writes to a client that went away must fail with EPIPE, not kill the agent.
  std::signal(SIGPIPE, SIG_IGN);

  Config& config = args.config;
  if (args.action == Action::Cleanup) return run_cleanup(config);

  if (auto e = prepare_host(config)) {
    spdlog::critical("{}", e->message);
    return e->exit_code;
  }
  Agent agent(config);
  add_parts(agent);
  agent.set_source(make_source(agent));
  return agent.run();
}
