#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang with ASan and UBSan) and runs each for a bounded
# time, starting from the seeds in fuzz/corpus/<target>. Fails if any target finds a crash, a
# leak, undefined behaviour or a broken round-trip property; the reproducer is left in the
# build directory. FUZZ_SECONDS is the total budget shared by all targets (default 75).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
total=${FUZZ_SECONDS:-75}

cmake -S . -B "$build" -G Ninja -DNETAGENT_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build "$build" -j"${JOBS:-2}"

targets=("$build"/bin/fuzz_*)
per=$((total / ${#targets[@]}))
((per >= 10)) || per=10
status=0
for target in "${targets[@]}"; do
	name=$(basename "$target")
	work=$(mktemp -d)
	seeds="$root/fuzz/corpus/${name#fuzz_}"
	echo "fuzz.sh: $name for ${per}s"
	if ! "$target" -max_total_time="$per" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$build/$name-" "$work" "$seeds" >"$build/$name.log" 2>&1; then
		echo "fuzz.sh: $name FAILED; reproducer and log in $build" >&2
		tail -40 "$build/$name.log" >&2
		status=1
	else
		grep -E "stat::number_of_executed_units|cov:" "$build/$name.log" | tail -2
	fi
	rm -rf "$work"
done
exit $status
