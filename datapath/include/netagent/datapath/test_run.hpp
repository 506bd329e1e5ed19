#pragma once
// BPF_PROG_TEST_RUN: run a loaded program on a packet in the kernel and get the verdict, the
// (possibly rewritten) packet and the kernel-measured duration.
//
// With repeat > 1 the kernel runs the program again and again on the SAME buffer: a program that
// rewrites the packet sees its own output from the second run on. Measure rewriting paths with
// repeat = 1 and many calls (see DESIGN.md, "Measuring the datapath").
#include <linux/bpf.h>

#include <cstdint>
#include <span>
#include <vector>

#include "netagent/common/result.hpp"

namespace netagent::datapath {

struct TestRunResult {
  uint32_t retval = 0;          // the program's return value (TC_ACT_*, XDP_*)
  uint32_t duration_ns = 0;     // average per repetition, measured by the kernel
  std::vector<uint8_t> packet;  // the packet after the program
  __sk_buff ctx_out{};          // the skb context after the program (TC programs)
};

struct TestRunOptions {
  uint32_t repeat = 1;
  const __sk_buff* ctx_in = nullptr;  // optional skb context (ifindex, mark, ...), TC only
  bool want_ctx_out = false;
};

Result<TestRunResult> test_run(int prog_fd, std::span<const uint8_t> packet,
                               const TestRunOptions& opts = {});

}  // namespace netagent::datapath
