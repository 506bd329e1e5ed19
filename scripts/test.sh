#!/usr/bin/env bash
# Installs everything, builds, and runs every test tier, the fuzzers (bounded) and a short
# benchmark pass. This is the README's test command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

"$root/scripts/install-deps.sh"

jobs=${JOBS:-$(nproc)}
build=${BUILD_DIR:-$root/build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$jobs"

# Unit tests in parallel; privileged tiers are RUN_SERIAL in CTest.
ctest --test-dir "$build" --output-on-failure -j"$jobs" --timeout 300

if [[ -x "$root/scripts/fuzz.sh" ]]; then
	"$root/scripts/fuzz.sh"
fi
if [[ -x "$root/scripts/bench.sh" ]]; then
	"$root/scripts/bench.sh" --brief
fi
echo "test.sh: all tests passed"
