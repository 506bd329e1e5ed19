#!/usr/bin/env bash
# The LoadBalancer pools of both example clusters announced to BIRD 2 standing in for the SRX:
# four netagent nodes (deploy/examples/infra on infra-node-1/2 at 10.25.11.11/12, AS 64512, and
# deploy/examples/apps on apps-node-1/2 at .21/.22, AS 64513), each in its own network
# namespace, peering over eBGP with BIRD at 10.25.11.1 (AS 64501) on one LAN (a bridge in a
# namespace). Prints BIRD's `show protocols` and `show route all`, and one node's
# `netctl bgp peers` and `netctl bgp routes advertised`; removes everything when it ends.
#
# Usage (root; after building netagent and netctl):  scripts/demo-bgp.sh
#   env: BUILD=build  HOLD=1 (keep everything running until Enter is pressed)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${BUILD:-build}
netagent=$root/$build/bin/netagent
netctl=$root/$build/bin/netctl
[[ $EUID -eq 0 ]] || { echo "demo-bgp: needs root (network namespaces, BPF)" >&2; exit 1; }
for b in bird birdc "$netagent" "$netctl"; do
	command -v "$b" >/dev/null || { echo "demo-bgp: $b not found (build netagent and netctl; apt-get install bird2)" >&2; exit 1; }
done

sfx=$$
dir=$(mktemp -d /tmp/demo-bgp.XXXXXX)
cgroot=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)
sw=dbg-sw-$sfx
nodes=(infra-node-1:10.25.11.11:infra infra-node-2:10.25.11.12:infra
	apps-node-1:10.25.11.21:apps apps-node-2:10.25.11.22:apps)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	[[ -f $dir/bird.pid ]] && kill "$(cat "$dir/bird.pid")" 2>/dev/null || true
	sleep 0.2
	for n in srx "${nodes[@]}"; do
		n=${n%%:*}
		ip netns del "dbg-$n-$sfx" 2>/dev/null || true
		rm -rf "/sys/fs/bpf/dbg-$n-$sfx"
		rmdir "$cgroot/dbg-$n-$sfx" 2>/dev/null || true
	done
	ip netns del "$sw" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

# The LAN: a bridge in its own namespace, one veth per host ("eth0" inside the host).
ip netns add "$sw"
ip -n "$sw" link add br0 type bridge
ip -n "$sw" link set br0 up
i=0
attach() { # name ip/len
	local ns=dbg-$1-$sfx
	ip netns add "$ns"
	ip link add "dbg$i-$sfx" netns "$sw" type veth peer name eth0 netns "$ns"
	ip -n "$sw" link set "dbg$i-$sfx" master br0 up
	ip -n "$ns" addr add "$2" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" link set lo up
	i=$((i + 1))
}
attach srx 10.25.11.1/24
{
	echo "router id 10.25.11.1;"
	echo "protocol device { }"
	for n in "${nodes[@]}"; do
		IFS=: read -r name ip cluster <<<"$n"
		asn=64512
		[[ $cluster == apps ]] && asn=64513
		cat <<EOF
protocol bgp ${name//-/_} {
  local 10.25.11.1 as 64501;
  neighbor $ip as $asn;
  passive on;
  ipv4 { import all; export none; };
}
EOF
	done
} >"$dir/bird.conf"
nsenter --net="/run/netns/dbg-srx-$sfx" bird -c "$dir/bird.conf" -s "$dir/bird.ctl" -P "$dir/bird.pid"

for n in "${nodes[@]}"; do
	IFS=: read -r name ip cluster <<<"$n"
	attach "$name" "$ip/24"
	mkdir -p "$cgroot/dbg-$name-$sfx" "/sys/fs/bpf/dbg-$name-$sfx" "$dir/$name"
	nsenter --net="/run/netns/dbg-$name-$sfx" "$netagent" \
		--manifests "$root/deploy/examples/$cluster" --node-name "$name" --devices eth0 \
		--cgroup "$cgroot/dbg-$name-$sfx" --bpf-root "/sys/fs/bpf/dbg-$name-$sfx/root" \
		--state-dir "$dir/$name" --api-socket "$dir/$name/api.sock" --metrics-addr '' \
		>"$dir/$name/agent.log" 2>&1 &
	pids+=($!)
done

deadline=$((SECONDS + 30))
while (($(birdc -s "$dir/bird.ctl" show protocols | grep -c Established) < ${#nodes[@]})); do
	((SECONDS < deadline)) || { echo "demo-bgp: not every session came up" >&2; birdc -s "$dir/bird.ctl" show protocols; exit 1; }
	sleep 0.2
done
sleep 0.5
echo "== BIRD (the SRX stand-in): birdc show protocols"
birdc -s "$dir/bird.ctl" show protocols
echo
echo "== BIRD: birdc show route all"
birdc -s "$dir/bird.ctl" show route all
echo
echo "== infra-node-1: netctl bgp peers"
"$netctl" --socket "$dir/infra-node-1/api.sock" bgp peers
echo
echo "== apps-node-1: netctl bgp routes advertised"
"$netctl" --socket "$dir/apps-node-1/api.sock" bgp routes advertised
if [[ ${HOLD:-0} == 1 ]]; then
	echo
	echo "netctl --socket $dir/<node>/api.sock ...; birdc -s $dir/bird.ctl ...; press Enter to stop"
	read -r _
fi
