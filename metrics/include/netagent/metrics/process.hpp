#pragma once
// Process metrics every agent exports: start time, build info, CPU time, memory, open files.
#include <string>

#include "netagent/metrics/registry.hpp"

namespace netagent::metrics {

struct BuildInfo {
  std::string version;   // "0.1.0"
  std::string compiler;  // "g++ 12.2.0"
};

// netagent_build_info{version,compiler} 1, netagent_process_start_time_seconds (Unix time), and a
// scrape-time collector for netagent_process_cpu_seconds_total,
// netagent_process_resident_memory_bytes, netagent_process_open_fds and
// netagent_process_threads read from /proc/self.
void register_process_metrics(Registry& registry, const BuildInfo& build);

}  // namespace netagent::metrics
