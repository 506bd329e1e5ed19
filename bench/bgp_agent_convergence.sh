#!/usr/bin/env bash
# The whole agent pipeline at scale: how long from a manifest file with N LoadBalancer services
# (each with an EndpointSlice) appearing in the agent's manifest directory until a BIRD 2 router
# (the SRX stand-in) holds all N /32s, and from the file's removal until it holds none. That is
# inotify + the watcher's settle time (250 ms), manifest load, LB IPAM, the LB datapath programming N services
# (frontends, backends, Maglev tables), then the BGP part and the speaker.
#
# Usage: bench/bgp_agent_convergence.sh [N ...]   (default: 100 1000; needs root; build netagent)
#   env: NETAGENT=path/to/netagent
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
sizes=("$@")
((${#sizes[@]})) || sizes=(100 1000)
netagent=${NETAGENT:-$root/build/bin/netagent}
[[ $EUID -eq 0 ]] || { echo "bgp_agent_convergence: needs root (network namespaces)" >&2; exit 1; }
for b in bird birdc python3 "$netagent"; do
	command -v "$b" >/dev/null || { echo "bgp_agent_convergence: $b not found" >&2; exit 1; }
done

sfx=$$
router=bac-r-$sfx
node=bac-n-$sfx
dir=$(mktemp -d /tmp/bgp-agent-convergence.XXXXXX)
cg=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)/bac-$sfx
bpf=/sys/fs/bpf/bac-$sfx
agent_pid=""
cleanup() {
	[[ -n $agent_pid ]] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
	[[ -f $dir/router.pid ]] && kill "$(cat "$dir/router.pid")" 2>/dev/null || true
	sleep 0.2
	ip netns del "$router" 2>/dev/null || true
	ip netns del "$node" 2>/dev/null || true
	rm -rf "$bpf"
	rmdir "$cg" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

ip netns add "$router"
ip netns add "$node"
ip link add "bar$sfx" netns "$router" type veth peer name eth0 netns "$node"
ip -n "$router" addr add 10.25.11.1/24 dev "bar$sfx"
ip -n "$node" addr add 10.25.11.11/24 dev eth0
for ns in "$router" "$node"; do ip -n "$ns" link set lo up; done
ip -n "$router" link set "bar$sfx" up
ip -n "$node" link set eth0 up
mkdir -p "$cg" "$bpf" "$dir/manifests" "$dir/state"

cat >"$dir/router.conf" <<EOF
router id 10.25.11.1;
protocol device { }
protocol bgp node1 {
  local 10.25.11.1 as 64501;
  neighbor 10.25.11.11 as 64512;
  passive on;
  ipv4 { import all; export none; };
}
EOF
nsenter --net="/run/netns/$router" bird -c "$dir/router.conf" -s "$dir/router.ctl" -P "$dir/router.pid"

cat >"$dir/manifests/cluster.yaml" <<'EOF'
apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {bgp-peering: srx}}
status: {addresses: [{type: InternalIP, address: 10.25.11.11}]}
---
apiVersion: cilium.io/v2alpha1
kind: CiliumLoadBalancerIPPool
metadata: {name: bench-pool}
spec:
  blocks: [{cidr: 10.100.0.0/16}]
---
apiVersion: cilium.io/v2alpha1
kind: CiliumBGPPeeringPolicy
metadata: {name: bench}
spec:
  nodeSelector: {matchLabels: {bgp-peering: srx}}
  virtualRouters:
  - localASN: 64512
    serviceSelector: {matchExpressions: [{key: somekey, operator: NotIn, values: [never-used-value]}]}
    neighbors:
    - {peerAddress: 10.25.11.1/32, peerASN: 64501, connectRetryTimeSeconds: 1}
EOF

nsenter --net="/run/netns/$node" "$netagent" --manifests "$dir/manifests" --node-name node-a \
	--devices eth0 --cgroup "$cg" --bpf-root "$bpf/root" --state-dir "$dir/state" \
	--api-socket "$dir/api.sock" --metrics-addr '' --log-level warn >"$dir/agent.log" 2>&1 &
agent_pid=$!

count() {
	birdc -s "$dir/router.ctl" "show route where net ~ [ 10.100.0.0/16+ ] count" |
		awk '/in table master4/ {print $1; exit}'
}
wait_count() { # N timeout_s
	local want=$1 deadline=$((SECONDS + $2))
	while (($(count) != want)); do
		((SECONDS < deadline)) || { echo "timed out waiting for $want routes (have $(count))" >&2; tail -20 "$dir/agent.log" >&2; return 1; }
		sleep 0.01
	done
}
deadline=$((SECONDS + 15))
until birdc -s "$dir/router.ctl" show protocols node1 | grep -q Established; do
	((SECONDS < deadline)) || { echo "no session" >&2; cat "$dir/agent.log" >&2; exit 1; }
	sleep 0.1
done
now() { date +%s%N; }

printf "%-9s %12s %12s\n" services announce_ms withdraw_ms
for n in "${sizes[@]}"; do
	python3 - "$n" >"$dir/services.tmp" <<'EOF'
import sys
n = int(sys.argv[1])
for i in range(n):
    a, b = divmod(i, 250)
    print(f"""---
apiVersion: v1
kind: Service
metadata: {{name: s{i}, namespace: bench}}
spec:
  type: LoadBalancer
  clusterIP: 10.96.{a}.{b + 1}
  selector: {{app: s{i}}}
  ports: [{{name: http, port: 80, targetPort: 8080}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: s{i}-1, namespace: bench, labels: {{kubernetes.io/service-name: s{i}}}}}
addressType: IPv4
ports: [{{name: http, port: 8080}}]
endpoints:
- {{addresses: [10.1.{a}.{b + 1}], nodeName: node-a}}""")
EOF
	t0=$(now)
	mv "$dir/services.tmp" "$dir/manifests/services.yaml"
	wait_count "$n" 120
	t1=$(now)
	rm "$dir/manifests/services.yaml"
	wait_count 0 120
	t2=$(now)
	printf "%-9s %12d %12d\n" "$n" $(((t1 - t0) / 1000000)) $(((t2 - t1) / 1000000))
done
