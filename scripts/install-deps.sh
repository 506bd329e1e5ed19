#!/usr/bin/env bash
# Installs every Debian 12 package netagent needs to build, test, benchmark and run the demo.
# Idempotent: safe to run again. Services that the packages start (bird, frr, etcd) are stopped
# and disabled: tests and the demo start their own instances inside network namespaces.
set -euo pipefail

if [[ $EUID -ne 0 ]]; then
	echo "install-deps: must run as root (apt-get, bpffs and netns need it)" >&2
	exit 1
fi

packages=(
	# build
	build-essential cmake ninja-build ccache pkg-config git
	clang llvm lld libclang-rt-14-dev
	libbpf-dev bpftool libelf-dev zlib1g-dev linux-libc-dev
	libboost-dev libboost-system-dev libssl-dev
	libyaml-cpp-dev libyaml-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev
	libgtest-dev libgmock-dev libbenchmark-dev
	clang-format
	# runtime, tests and demo
	iproute2 iputils-ping procps psmisc socat curl util-linux python3 python3-yaml
	bird2 frr gobgpd exabgp
	etcd-server etcd-client openssl
)

export DEBIAN_FRONTEND=noninteractive
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "install-deps: installing ${missing[*]}"
	apt-get update -qq
	# policy-rc.d keeps package post-install scripts from starting daemons we do not want running.
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Daemons that Debian may have started: stop their services so they never hold port 179/2379 in
# the root namespace (tests run their own inside namespaces). Without systemd, policy-rc.d above
# kept the packages from starting them; nothing else is stopped (never by name).
for svc in bird frr etcd; do
	if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
		systemctl stop "$svc" || true
		systemctl disable "$svc" >/dev/null 2>&1 || true
	fi
done
echo "install-deps: all packages present"
