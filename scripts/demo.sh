#!/usr/bin/env bash
# The main job: installs everything, builds, and runs the demo topology (two clusters from
# deploy/examples behind a BIRD router, meshed over etcd with mutual TLS, every host a network
# namespace). See scripts/demo.py.
#   sudo ./scripts/demo.sh [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"${JOBS:-$(nproc)}" --target netagent netctl netagent-echo
exec python3 scripts/demo.py "$@"
