// netagent: the node agent. Parses flags, checks and prepares the host, then runs the Agent
// until SIGTERM/SIGINT. Exit codes: exit_code.hpp.
#include <bpf/libbpf.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string_view>

#include "netagent/agent/agent.hpp"
#include "netagent/agent/bpf_root_lock.hpp"
#include "netagent/agent/exit_code.hpp"
#include "netagent/agent/flags.hpp"
#include "netagent/agent/startup.hpp"
#include "netagent/datapath/pins.hpp"
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
  std::error_code ec;
  BpfRootLock lock;
  if (std::filesystem::exists(config.bpf_root, ec)) {
    // Only the agent's own pins are removed, but a whole bpffs is never the agent's to clean.
    auto root = netagent::datapath::is_mount_root(config.bpf_root);
    if (!root) {
      spdlog::critical("--bpf-root {}: {}", config.bpf_root, root.error().str());
      return kExitBadConfig;
    }
    if (*root) {
      spdlog::critical(
          "refusing to clean up --bpf-root {}: it is the root of a mount (the bpffs itself, "
          "shared with other tools); give the agent's own directory under it, e.g. "
          "/sys/fs/bpf/netagent",
          config.bpf_root);
      return kExitBadConfig;
    }
    auto l = BpfRootLock::acquire(config.bpf_root);
    if (!l) {
      spdlog::critical("refusing to clean up: {}", l.error().message);
      return l.error().errnum == EWOULDBLOCK ? kExitAlreadyRunning : kExitHostSetup;
    }
    lock = std::move(*l);
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
  // One agent per bpf-root, locked before any part opens a map; held until the process exits.
  auto lock = BpfRootLock::acquire(config.bpf_root);
  if (!lock) {
    spdlog::critical("{}", lock.error().message);
    return lock.error().errnum == EWOULDBLOCK ? kExitAlreadyRunning : kExitHostSetup;
  }
  spdlog::info(
      "holding the exclusive lock on --bpf-root {} (flock; released when this process exits)",
      config.bpf_root);
  Agent agent(config);
  agent.hold_bpf_root_lock(std::move(*lock));
  auto api = make_api_client(agent);
  if (!api) {
    spdlog::critical("{}", api.error().str());
    return kExitBadConfig;
  }
  add_parts(agent, *api);
  auto source = make_source(agent, *api);
  if (!source) {
    spdlog::critical("{}", source.error().str());
    return kExitBadConfig;
  }
  agent.set_source(std::move(*source));
  return agent.run();
}
