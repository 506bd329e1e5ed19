#include "netagent/datapath/test_run.hpp"

#include <bpf/bpf.h>

namespace netagent::datapath {

Result<TestRunResult> test_run(int prog_fd, std::span<const uint8_t> packet,
                               const TestRunOptions& opts) {
  TestRunResult r;
  // Room for programs that grow the packet (encapsulation) as well.
  r.packet.resize(packet.size() + 256);
  __sk_buff ctx_in{};
  if (opts.ctx_in) ctx_in = *opts.ctx_in;
  LIBBPF_OPTS(bpf_test_run_opts, o);
  o.data_in = packet.data();
  o.data_out = r.packet.data();
  o.data_size_in = uint32_t(packet.size());
  o.data_size_out = uint32_t(r.packet.size());
  o.repeat = int(opts.repeat);
  if (opts.ctx_in || opts.want_ctx_out) {
    o.ctx_in = &ctx_in;
    o.ctx_size_in = sizeof(ctx_in);
    o.ctx_out = &r.ctx_out;
    o.ctx_size_out = sizeof(r.ctx_out);
  }
  if (bpf_prog_test_run_opts(prog_fd, &o) != 0) return sys_error("BPF_PROG_TEST_RUN");
  r.retval = o.retval;
  r.duration_ns = o.duration;
  r.packet.resize(o.data_size_out);
  return r;
}

}  // namespace netagent::datapath
