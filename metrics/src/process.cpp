#include "netagent/metrics/process.hpp"

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <vector>

namespace netagent::metrics {

namespace {

struct ProcStat {
  double cpu_seconds = 0;
  double rss_bytes = 0;
  double threads = 0;
};

// /proc/self/stat fields (proc(5)): 14 utime, 15 stime (clock ticks), 20 num_threads, 24 rss
// (pages). The command name (field 2) may contain spaces, so parse after its closing ')'.
bool read_proc_stat(ProcStat& out) {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  auto close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream fields(line.substr(close + 2));
  std::vector<std::string> f;
  std::string tok;
  while (fields >> tok)
    f.push_back(tok);
  // f[0] is field 3 (state), so field N is f[N - 3].
  if (f.size() < 22) return false;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  out.cpu_seconds = (std::stod(f[14 - 3]) + std::stod(f[15 - 3])) / ticks;
  out.threads = std::stod(f[20 - 3]);
  out.rss_bytes = std::stod(f[24 - 3]) * static_cast<double>(sysconf(_SC_PAGESIZE));
  return true;
}

double count_open_fds() {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return 0;
  double n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n - 1;  // the directory stream's own descriptor
}

}  // namespace

void register_process_metrics(Registry& registry, const BuildInfo& build) {
  registry
      .gauge("netagent_build_info", "Build of the running agent (value is always 1).",
             {"version", "compiler"})
      .with({build.version, build.compiler})
      .set(1);
  const double start =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  registry
      .gauge("netagent_process_start_time_seconds",
             "Start time of the process since the Unix epoch, in seconds.")
      .get()
      .set(start);
  registry.add_collector("process", [](Collection& c) {
    ProcStat st;
    if (read_proc_stat(st)) {
      c.counter("netagent_process_cpu_seconds_total", "User and system CPU time spent, seconds.",
                {}, st.cpu_seconds);
      c.gauge("netagent_process_resident_memory_bytes", "Resident memory size in bytes.", {},
              st.rss_bytes);
      c.gauge("netagent_process_threads", "Threads in the process.", {}, st.threads);
    }
    c.gauge("netagent_process_open_fds", "Open file descriptors.", {}, count_open_fds());
  });
}

}  // namespace netagent::metrics
