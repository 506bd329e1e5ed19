#!/usr/bin/env bash
# Convergence: how long until a BIRD 2 router (the SRX stand-in) holds all of N announced /32s,
# and until it has dropped them again, for three senders measured in the same run against the
# same BIRD:
#   bgpspeak  the netagent speaker:  "announce-range 10.100.0.0/32 N" on its control socket
#   gobgp     GoBGP 3.10:            "gobgp mrt inject global" of an MRT dump of the N routes
#             (its bulk path: one streaming gRPC call; `gobgp global rib add` costs one call
#             per route), withdrawn with "gobgp global rib del all". GoBGP 3.10 drops the last
#             ~1,000 paths of an injected stream (they never reach its RIB), so the dump carries
#             2,500 sentinel routes in 10.200.0.0/16 after the N measured ones; only the N
#             count, which makes GoBGP do slightly more work than the others.
#   bird      a second BIRD:         "birdc enable" of a static protocol holding the N routes
#             (BIRD to BIRD: the rate at which BIRD receives, the ceiling for any sender)
# Every sender has an Established session before its clock starts; the clock runs from the
# command to the router's `show route count` reaching N (polled every 10 ms), then from the
# withdraw command to 0. Each figure is the median of REPEAT runs.
#
# Usage: bench/bgp_convergence.sh [N ...]     (default: 10000 100000; needs root)
#   env: BGPSPEAK=path/to/bgpspeak  REPEAT=3
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
sizes=("$@")
((${#sizes[@]})) || sizes=(10000 100000)
repeat=${REPEAT:-3}
bgpspeak=${BGPSPEAK:-$root/build/bin/bgpspeak}

[[ $EUID -eq 0 ]] || { echo "bgp_convergence: needs root (network namespaces)" >&2; exit 1; }
for b in bird birdc gobgpd gobgp python3 "$bgpspeak"; do
	command -v "$b" >/dev/null || { echo "bgp_convergence: $b not found" >&2; exit 1; }
done

sfx=$$
router=bcv-r-$sfx
node=bcv-n-$sfx
dir=$(mktemp -d /tmp/bgp-convergence.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	[[ -f $dir/router.pid ]] && kill "$(cat "$dir/router.pid")" 2>/dev/null || true
	[[ -f $dir/sender.pid ]] && kill "$(cat "$dir/sender.pid")" 2>/dev/null || true
	sleep 0.2
	ip netns del "$router" 2>/dev/null || true
	ip netns del "$node" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

# Two namespaces on one link: the router at .1, the three senders at .11 .12 .13 on the node.
ip netns add "$router"
ip netns add "$node"
ip link add "bcr$sfx" netns "$router" type veth peer name "bcn$sfx" netns "$node"
ip -n "$router" addr add 10.25.11.1/24 dev "bcr$sfx"
for a in 11 12 13; do ip -n "$node" addr add "10.25.11.$a/24" dev "bcn$sfx"; done
for ns in "$router" "$node"; do ip -n "$ns" link set lo up; done
ip -n "$router" link set "bcr$sfx" up
ip -n "$node" link set "bcn$sfx" up
in_router() { nsenter --net="/run/netns/$router" "$@"; }
in_node() { nsenter --net="/run/netns/$node" "$@"; }

# --- the router: one passive session per sender, import everything ---
{
	echo "router id 10.25.11.1;"
	echo "protocol device { }"
	for s in 11:speak 12:gobgp 13:bird; do
		cat <<EOF
protocol bgp from_${s#*:} {
  local 10.25.11.1 as 64501;
  neighbor 10.25.11.${s%%:*} as 64512;
  passive on;
  hold time 90;
  ipv4 { import all; export none; };
}
EOF
	done
} >"$dir/router.conf"
in_router bird -c "$dir/router.conf" -s "$dir/router.ctl" -P "$dir/router.pid"

count() { # measured routes (10.100.0.0/15) in the router's table
	birdc -s "$dir/router.ctl" "show route where net ~ [ 10.100.0.0/15+ ] count" |
		awk '/in table master4/ {print $1; exit}'
}
total() {
	birdc -s "$dir/router.ctl" show route count | awk '/in table master4/ {print $1; exit}'
}
wait_count() { # N timeout_s
	local want=$1 deadline=$((SECONDS + $2))
	while (($(count) != want)); do
		((SECONDS < deadline)) || { echo "bgp_convergence: timed out waiting for $want routes (have $(count))" >&2; return 1; }
		sleep 0.01
	done
}
now() { date +%s%N; }

# --- bgpspeak ---
cat >"$dir/speak.yaml" <<EOF
instances:
  - name: infra
    local_asn: 64512
    router_id: 10.25.11.11
    peers:
      - {name: srx, address: 10.25.11.1, peer_asn: 64501, connect_retry: 1, local_address: 10.25.11.11}
EOF
in_node "$bgpspeak" -c "$dir/speak.yaml" --control "$dir/speak.sock" --log-level warn >"$dir/speak.log" 2>&1 &
pids+=($!)
speak() { "$bgpspeak" --control "$dir/speak.sock" --send "$1" >/dev/null; }

# --- GoBGP ---
cat >"$dir/gobgpd.toml" <<EOF
[global.config]
  as = 64512
  router-id = "10.25.11.12"
  port = -1
[[neighbors]]
  [neighbors.config]
    neighbor-address = "10.25.11.1"
    peer-as = 64501
  [neighbors.transport.config]
    local-address = "10.25.11.12"
  [neighbors.timers.config]
    connect-retry = 1
EOF
in_node gobgpd -f "$dir/gobgpd.toml" --api-hosts 127.0.0.1:50099 --pprof-disable -l warn >"$dir/gobgpd.log" 2>&1 &
pids+=($!)
gobgp_cli() { in_node gobgp -u 127.0.0.1 -p 50099 "$@"; }

# --- MRT dumps for GoBGP and static routes for the sending BIRD: the same prefixes ---
python3 - "$dir" "${sizes[@]}" <<'EOF'
import struct, sys
out, sizes = sys.argv[1], [int(s) for s in sys.argv[2:]]
base = (10 << 24) | (100 << 16)
def mrt(subtype, body):  # RFC 6396 §2: timestamp, type 13 (TABLE_DUMP_V2), subtype, length
    return struct.pack('!IHHI', 0, 13, subtype, len(body)) + body
# ORIGIN IGP, empty AS_PATH (GoBGP prepends its AS towards eBGP peers), NEXT_HOP
attrs = bytes([0x40, 1, 1, 0, 0x40, 2, 0, 0x40, 3, 4, 10, 25, 11, 12])
for n in sizes:
    with open(f'{out}/routes-{n}.mrt', 'wb') as f:
        # PEER_INDEX_TABLE: collector id, empty view name, one IPv4 peer with a 4-octet AS
        peers = struct.pack('!IHH', 0x0a190b0c, 0, 1) + struct.pack('!BI4sI', 2, 0x0a190b0c, bytes([10, 25, 11, 12]), 64512)
        f.write(mrt(1, peers))
        sentinels = [(10 << 24) | (200 << 16) | j for j in range(2500)]
        for i, a in enumerate([base + k for k in range(n)] + sentinels):  # RIB_IPV4_UNICAST
            body = struct.pack('!IB', i, 32) + struct.pack('!I', a) + struct.pack('!H', 1)
            body += struct.pack('!HIH', 0, 0, len(attrs)) + attrs
            f.write(mrt(2, body))
with open(f'{out}/sender.conf', 'w') as f:
    f.write('router id 10.25.11.13;\nprotocol device { }\n')
    for n in sizes:
        f.write(f'protocol static s{n} {{\n  ipv4;\n  disabled yes;\n')
        for i in range(n):
            a = base + i
            f.write(f'  route {a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}/32 blackhole;\n')
        f.write('}\n')
    f.write('protocol bgp to_router {\n  local 10.25.11.13 as 64512;\n  neighbor 10.25.11.1 as 64501;\n'
            '  ipv4 { import none; export where source = RTS_STATIC; };\n}\n')
EOF
in_node bird -c "$dir/sender.conf" -s "$dir/sender.ctl" -P "$dir/sender.pid"
sender() { birdc -s "$dir/sender.ctl" "$@" >/dev/null; }

# All three sessions up before any clock starts.
deadline=$((SECONDS + 30))
until birdc -s "$dir/router.ctl" show protocols | awk '/^from_/ && $6 == "Established" {n++} END {exit n != 3}'; do
	((SECONDS < deadline)) || { birdc -s "$dir/router.ctl" show protocols >&2; echo "bgp_convergence: sessions did not come up" >&2; exit 1; }
	sleep 0.2
done

median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
ms() { awk -v ns="$1" 'BEGIN {printf "%.0f", ns / 1e6}'; }

# run <sender> <N>: prints "announce_ns withdraw_ns"
run() {
	local who=$1 n=$2 t0 t1 t2
	t0=$(now)
	case $who in
	bgpspeak) speak "announce-range 10.100.0.0/32 $n" ;;
	gobgp) gobgp_cli mrt inject global "$dir/routes-$n.mrt" >/dev/null ;;
	bird) sender enable "s$n" ;;
	esac
	wait_count "$n" 120
	t1=$(now)
	case $who in
	bgpspeak) speak "withdraw-all" ;;
	gobgp) gobgp_cli global rib -a ipv4 del all >/dev/null ;;
	bird) sender disable "s$n" ;;
	esac
	wait_count 0 120
	t2=$(now)
	local deadline=$((SECONDS + 60))
	while (($(total) != 0)) && ((SECONDS < deadline)); do sleep 0.05; done
	echo "$((t1 - t0)) $((t2 - t1))"
}

printf '%-9s %9s %12s %14s %12s\n' sender prefixes announce_ms prefixes_per_s withdraw_ms
for n in "${sizes[@]}"; do
	for who in bgpspeak gobgp bird; do
		ann=() wd=()
		for ((i = 0; i < repeat; i++)); do
			read -r a w < <(run "$who" "$n")
			ann+=("$a")
			wd+=("$w")
		done
		a=$(printf '%s\n' "${ann[@]}" | median)
		w=$(printf '%s\n' "${wd[@]}" | median)
		printf '%-9s %9d %12s %14.0f %12s\n' "$who" "$n" "$(ms "$a")" "$(awk -v n="$n" -v a="$a" 'BEGIN {print n / (a / 1e9)}')" "$(ms "$w")"
	done
done
