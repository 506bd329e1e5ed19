#include "netagent/netctl/agent_tool.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

extern char** environ;

namespace netagent::netctl {

std::string agent_binary() {
  if (const char* env = std::getenv("NETAGENT_BIN"); env && *env) return env;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto sibling = self.parent_path() / "netagent";
    if (::access(sibling.c_str(), X_OK) == 0) return sibling.string();
  }
  return "netagent";  // on PATH
}

Result<ToolRun> run_agent_tool(const std::vector<std::string>& args) {
  const std::string bin = agent_binary();
  std::vector<std::string> words{bin};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& w : words)
    argv.push_back(w.data());
  argv.push_back(nullptr);

  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return sys_error("pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], STDOUT_FILENO);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, bin.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipefd[1]);
  if (rc != 0) {
    ::close(pipefd[0]);
    return Error{"cannot run " + bin + " (" + std::strerror(rc) +
                 "): this command runs the agent's own code; install netagent next to netctl or "
                 "on PATH, or set NETAGENT_BIN"};
  }
  ToolRun run;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(pipefd[0], buf, sizeof(buf));
    if (n > 0) {
      run.out.append(buf, size_t(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(pipefd[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return sys_error("wait for " + bin);
  }
  if (WIFSIGNALED(status)) {
    return Error{bin + " was killed by signal " + std::to_string(WTERMSIG(status))};
  }
  run.exit_code = WEXITSTATUS(status);
  return run;
}

}  // namespace netagent::netctl
