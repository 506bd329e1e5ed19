#!/usr/bin/env bash
# Installs every Debian 12 package netagent needs to build, test, benchmark and run the demo.
# Idempotent: safe to run again. It changes nothing on the machine beyond installing packages:
# no service is stopped, disabled or restarted, no process is killed. Tests and the demo start
# their own bird/frr/etcd instances inside network namespaces and need none of the machine's.
#
# While packages install, a policy-rc.d(8) keeps their post-install scripts from starting the
# daemons they ship (bird, frr, etcd would otherwise run in the root namespace). It is installed
# only when the machine has none, and only that file, recognised by its marker line, is removed
# afterwards: an existing /usr/sbin/policy-rc.d (a container image's, an administrator's) is left
# exactly as it is, and then decides on its own whether daemons start. Daemons already running
# before this script are not touched; if one holds port 179 or 2379 in the root namespace, that
# does not affect the tests, which run in their own namespaces.
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
	# Debian's Kubernetes Python client: a real client against the stand-in API server
	# (tests/kube_standin/clients_test.cpp)
	python3-kubernetes
	bird2 frr gobgpd exabgp
	etcd-server etcd-client openssl
	# OCI image (scripts/image.sh) and its test: buildah builds it, containerd + runc run it
	buildah containerd runc
	# kubectl kustomize: the oracle of tests/source/kustomize_test.cpp. Debian's package only
	# when the machine has no kubectl: another package's /usr/bin/kubectl (a cloud SDK's) is
	# kept, and Debian's would conflict with it on that file.
	$(command -v kubectl >/dev/null 2>&1 || echo kubernetes-client)
)

export DEBIAN_FRONTEND=noninteractive
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "install-deps: installing ${missing[*]}"
	apt-get update -qq
	# NETAGENT_POLICY_RC_D: another path, for tests/scripts/install_deps_test.sh only.
	policy=${NETAGENT_POLICY_RC_D:-/usr/sbin/policy-rc.d}
	marker='# netagent install-deps: temporary, removed when the install ends'
	# noclobber: never overwrite one that appeared since the check.
	if [[ ! -e $policy && ! -L $policy ]] &&
		(set -C && printf '#!/bin/sh\n%s\nexit 101\n' "$marker" >"$policy") 2>/dev/null; then
		chmod +x "$policy"
		# Removed on any exit (Ctrl-C and kill included), and only if it is still ours.
		trap 'if grep -qxF "$marker" "$policy" 2>/dev/null; then rm -f "$policy"; fi' EXIT
		trap 'exit 130' INT
		trap 'exit 143' TERM
	else
		echo "install-deps: keeping the existing $policy (daemons start or not as it decides)"
	fi
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

echo "install-deps: all packages present"
