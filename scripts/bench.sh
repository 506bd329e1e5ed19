#!/usr/bin/env bash
# Runs netbench (Google Benchmark) and prints the figures the README records.
#   scripts/bench.sh            all benchmarks, repeated, plus the BGP convergence comparison
#   scripts/bench.sh --brief    a short pass over the headline benchmarks (what CI runs)
# Figures on a shared 2-vCPU machine are noisy: compare ratios within one run (x_floor is the
# LB program's time over a pass-through program measured in the same iterations).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-$(pwd)/build}
bench="$build/bin/netbench"
[[ -x "$bench" ]] || { echo "bench.sh: build first ($bench missing)" >&2; exit 1; }

if [[ ${1:-} == --brief ]]; then
	# The headline figures, once each, with a short minimum time.
	filter='BM_TcLb|BM_PolicyPacket|BM_MaglevBuild|BM_ApplyOneEndpointChange|BM_ProgramClusterIpServices|BM_BgpEncodeAnnouncements|BM_BgpDecodeUpdates|BM_PolicyCompile/|BM_IpamAllocateFresh|BM_MeshEndpointChangeLatency'
	"$bench" --benchmark_filter="$filter" --benchmark_min_time=0.2 2>&1 | grep -v '^libbpf:'
	exit 0
fi
"$bench" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true 2>&1 | grep -v '^libbpf:'
if [[ -x bench/bgp_convergence.sh ]]; then
	bench/bgp_convergence.sh 10000 100000
fi
