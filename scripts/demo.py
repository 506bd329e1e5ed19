#!/usr/bin/env python3
"""The netagent demo: two clusters (infra and apps, from deploy/examples) on one L2 segment
behind a BIRD router standing in for the SRX, every host a network namespace.

    client (198.51.100.10) -- srx (BIRD, AS 64501: 198.51.100.1 / 10.25.11.1)
                                  |  10.25.11.0/24
        infra-node-1 .11   infra-node-2 .12   apps-node-1 .21   apps-node-2 .22
            |  pods from the manifests, each running the netagent-echo test server

Every node runs netagent on its cluster's manifests: LB IPAM allocates LoadBalancer IPs from
the cluster's pool, the eBPF datapath serves them (and NodePorts, ClusterIPs), and the BGP
speaker announces them to BIRD, which installs them (ECMP over the nodes) so the client
reaches them. The script prints what a person would look at, sends real requests, and removes
everything it created when it ends (unless --keep).

Run through scripts/demo.sh (it installs and builds first). Needs root.
"""
import argparse
import atexit
import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFIX = "nademo"
WORK = "/tmp/netagent-demo"
CGROUP_ROOT = "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/unified/") else "/sys/fs/cgroup"
SRX_ASN = 64501
CLUSTERS = {"infra": 64512, "apps": 64513}

procs = []
namespaces = []
cgroups = []
pins = []


def sh(cmd, check=True, capture=False):
    r = subprocess.run(cmd, shell=True, text=True, capture_output=capture)
    if check and r.returncode != 0:
        raise SystemExit(f"demo: command failed: {cmd}\n{r.stdout or ''}{r.stderr or ''}")
    return r.stdout if capture else r.returncode


def ns_path(name):
    return f"/run/netns/{PREFIX}-{name}"


def in_ns(name, cmd):
    # nsenter keeps the root mount namespace: bpffs and cgroup v2 stay visible (ip netns exec
    # would remount /sys).
    return f"nsenter --net={ns_path(name)} {cmd}"


def add_ns(name):
    full = f"{PREFIX}-{name}"
    sh(f"ip netns add {full}")
    namespaces.append(full)
    sh(f"ip -n {full} link set lo up")
    sh(f"ip netns exec {full} sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 "
       f"net.ipv4.conf.default.rp_filter=0")
    return full


def spawn(ns, argv, log):
    f = open(log, "w")
    p = subprocess.Popen(["nsenter", f"--net={ns_path(ns)}"] + argv, stdout=f, stderr=subprocess.STDOUT,
                         start_new_session=True)
    procs.append(p)
    return p


def cleanup():
    for p in reversed(procs):
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    time.sleep(0.3)
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for n in namespaces:
        subprocess.run(f"ip netns del {n}", shell=True, capture_output=True)
    for c in cgroups:
        try:
            os.rmdir(c)
        except OSError:
            pass
    for d in pins:
        shutil.rmtree(d, ignore_errors=True)


def load_docs(cluster):
    docs = []
    for dirpath, _, files in os.walk(os.path.join(ROOT, "deploy/examples", cluster)):
        for f in sorted(files):
            if f.endswith((".yaml", ".yml")):
                with open(os.path.join(dirpath, f)) as fh:
                    docs += [d for d in yaml.safe_load_all(fh) if isinstance(d, dict)]
    return docs


def nodes_of(docs):
    out = []
    for d in docs:
        if d.get("kind") != "Node":
            continue
        ip = next(a["address"] for a in d["status"]["addresses"] if a["type"] == "InternalIP")
        out.append({"name": d["metadata"]["name"], "ip": ip, "pod_cidrs": d["spec"].get("podCIDRs") or [d["spec"]["podCIDR"]]})
    return out


def pods_of(docs, node):
    for d in docs:
        if d.get("kind") != "Pod" or d.get("spec", {}).get("nodeName") != node:
            continue
        if d["spec"].get("hostNetwork"):
            continue
        ip = (d.get("status") or {}).get("podIP")
        if not ip:
            continue
        ports = []
        for c in d["spec"].get("containers", []):
            for p in c.get("ports", []):
                ports.append((p["containerPort"], p.get("protocol", "TCP")))
        yield d["metadata"].get("namespace", "default"), d["metadata"]["name"], ip, ports


def bird_config(nodes, work):
    lines = [f'log "{work}/bird.log" all;', "router id 10.25.11.1;", "protocol device { }",
             "protocol direct { ipv4; interface \"eth1\"; }",
             # Install what the nodes announce, with every equal path (ECMP across nodes).
             "protocol kernel { ipv4 { export where source = RTS_BGP; }; merge paths on; }"]
    for n in nodes:
        lines += [f"protocol bgp {n['name'].replace('-', '_')} {{",
                  f"  local 10.25.11.1 as {SRX_ASN};",
                  f"  neighbor {n['ip']} as {CLUSTERS[n['cluster']]};",
                  "  passive on;",
                  "  graceful restart on;",
                  "  ipv4 { import all; export none; };",
                  "}"]
    return "\n".join(lines) + "\n"


def netctl(node, args, capture=True):
    sock = f"{WORK}/{node}/api.sock"
    return sh(f"{ROOT}/build/bin/netctl --socket {sock} {args}", check=False, capture=capture)


def wait(what, fn, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if fn():
            return True
        time.sleep(0.2)
    print(f"demo: timed out waiting for {what}")
    return False


def request(ns, ip, port, proto="TCP"):
    cmd = (f"socat -T{1 if proto == 'TCP' else 0.3} - {'TCP' if proto == 'TCP' else 'UDP'}:{ip}:{port},connect-timeout=1 "
           f"<<< hi 2>/dev/null")
    out = subprocess.run(["bash", "-c", in_ns(ns, "bash -c " + json.dumps(cmd))], text=True,
                         capture_output=True).stdout.strip()
    return out.split()[0] if out else "(no answer)"


def banner(text):
    print(f"\n=== {text}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", action="store_true", help="leave the topology running (Ctrl-C ends it)")
    ap.add_argument("--requests", type=int, default=24)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("demo: run as root (namespaces, eBPF)")
    for b in ("netagent", "netctl", "netagent-echo"):
        if not os.access(f"{ROOT}/build/bin/{b}", os.X_OK):
            raise SystemExit(f"demo: build/bin/{b} missing: run scripts/demo.sh")
    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    sh("mountpoint -q /sys/fs/bpf || mount -t bpf bpffs /sys/fs/bpf")

    clusters = {c: load_docs(c) for c in CLUSTERS}
    nodes = []
    for c, docs in clusters.items():
        for n in nodes_of(docs):
            n["cluster"] = c
            nodes.append(n)

    banner("Topology")
    add_ns("sw")
    sh(in_ns("sw", "ip link add br0 type bridge"))
    sh(in_ns("sw", "ip link set br0 up"))

    bridge_ports = []

    def attach(host, ip):
        peer = f"br-{len(bridge_ports)}"
        bridge_ports.append(peer)
        add_ns(host)
        sh(f"ip link add eth0 netns {PREFIX}-{host} type veth peer name {peer} netns {PREFIX}-sw")
        sh(in_ns("sw", f"ip link set {peer} master br0 up"))
        sh(in_ns(host, f"ip addr add {ip}/24 dev eth0"))
        sh(in_ns(host, "ip link set eth0 up"))

    attach("srx", "10.25.11.1")
    add_ns("client")
    sh(f"ip link add eth0 netns {PREFIX}-client type veth peer name eth1 netns {PREFIX}-srx")
    sh(in_ns("client", "ip addr add 198.51.100.10/24 dev eth0"))
    sh(in_ns("client", "ip link set eth0 up"))
    sh(in_ns("client", "ip route add default via 198.51.100.1"))
    sh(in_ns("srx", "ip addr add 198.51.100.1/24 dev eth1"))
    sh(in_ns("srx", "ip link set eth1 up"))
    print("srx 10.25.11.1 (BIRD, AS 64501), client 198.51.100.10 behind it")

    pod_count = 0
    for n in nodes:
        attach(n["name"], n["ip"])
        n["pods"] = []
        for pod_ns, pod, ip, ports in pods_of(clusters[n["cluster"]], n["name"]):
            short = f"p{pod_count}"
            pod_count += 1
            add_ns(short)
            host_if = f"lxc{pod_count}"
            sh(f"ip link add eth0 netns {PREFIX}-{short} type veth peer name {host_if} netns {PREFIX}-{n['name']}")
            sh(in_ns(short, f"ip addr add {ip}/32 dev eth0"))
            sh(in_ns(short, "ip link set eth0 up"))
            sh(in_ns(short, "ip route add 169.254.1.1 dev eth0"))
            sh(in_ns(short, "ip route add default via 169.254.1.1 dev eth0"))
            sh(in_ns(n["name"], f"ip link set {host_if} up"))
            sh(in_ns(n["name"], f"ip addr add 169.254.1.1/32 dev {host_if}"))
            sh(in_ns(n["name"], f"ip route add {ip}/32 dev {host_if}"))
            for port, proto in ports:
                flag = "--tcp" if proto == "TCP" else "--udp"
                spawn(short, [f"{ROOT}/build/bin/netagent-echo", "--name", pod, flag, str(port)],
                      f"{WORK}/{short}-{port}-{proto}.log")
            n["pods"].append((pod, ip))
            n.setdefault("endpoints", []).append({"namespace": pod_ns, "pod": pod, "interface": host_if,
                                                  "ips": [ip]})
        print(f"{n['name']:13} {n['ip']:12} {n['cluster']:6} pods: " + ", ".join(f"{p} {ip}" for p, ip in n["pods"]))
    # Pod CIDRs are routed to their node, within and across clusters; everything else goes to
    # the SRX (replies to the external client).
    for n in nodes:
        sh(in_ns(n["name"], "ip route add default via 10.25.11.1"))
    for n in nodes:
        for m in nodes:
            if m is not n:
                for cidr in m["pod_cidrs"]:
                    sh(in_ns(n["name"], f"ip route add {cidr} via {m['ip']}"))

    banner("BIRD (the SRX stand-in)")
    with open(f"{WORK}/bird.conf", "w") as f:
        f.write(bird_config(nodes, WORK))
    spawn("srx", ["bird", "-f", "-c", f"{WORK}/bird.conf", "-s", f"{WORK}/bird.ctl"], f"{WORK}/bird.out")
    wait("BIRD", lambda: os.path.exists(f"{WORK}/bird.ctl"), 5)
    print(f"config {WORK}/bird.conf, control socket {WORK}/bird.ctl")

    banner("netagent on every node")
    for n in nodes:
        d = f"{WORK}/{n['name']}"
        os.makedirs(d)
        cg = f"{CGROUP_ROOT}/{PREFIX}-{n['name']}"
        os.makedirs(cg, exist_ok=True)
        cgroups.append(cg)
        pin = f"/sys/fs/bpf/{PREFIX}-{n['name']}"
        pins.append(pin)
        n["cgroup"] = cg
        spawn(n["name"], [f"{ROOT}/build/bin/netagent", "--manifests", f"{ROOT}/deploy/examples/{n['cluster']}",
                          "--node-name", n["name"], "--devices", "eth0", "--cgroup", cg, "--bpf-root", pin,
                          "--state-dir", f"{d}/state", "--api-socket", f"{d}/api.sock"], f"{d}/netagent.log")
    for n in nodes:
        ok = wait(f"netagent on {n['name']}", lambda: netctl(n["name"], "status -o json") != "", 15)
        print(f"{n['name']:13} {'ready' if ok else 'NOT READY (see ' + WORK + '/' + n['name'] + '/netagent.log)'}")

    # What a CNI plugin does when it wires a pod: register it, so that policy is enforced on
    # its veth (deny by default in the demo namespace, see deploy/examples/*/demo/policies.yaml).
    for n in nodes:
        for ep in n.get("endpoints", []):
            netctl(n["name"], f"api -X POST /v1/endpoints -d '{json.dumps(ep)}'")

    banner("BGP: sessions, and the LoadBalancer IPs the SRX learnt")
    wait("BGP sessions", lambda: sh(f"birdc -s {WORK}/bird.ctl show protocols", capture=True, check=False).count("Established") == len(nodes), 20)
    time.sleep(1)
    print(sh(f"birdc -s {WORK}/bird.ctl show protocols", capture=True, check=False))
    print(sh(f"birdc -s {WORK}/bird.ctl show route", capture=True, check=False))
    print("netctl bgp peers (infra-node-1):")
    print(netctl("infra-node-1", "bgp peers"))

    banner("netctl ipam (infra-node-1)")
    print(netctl("infra-node-1", "ipam"))
    banner("netctl service list (infra-node-1)")
    print(netctl("infra-node-1", "service list"))

    banner(f"Requests from the client through the SRX ({args.requests} connections per service)")
    for cluster in CLUSTERS:
        node = next(n for n in nodes if n["cluster"] == cluster)
        body = netctl(node["name"], "service list -o json")
        try:
            services = json.loads(body)["services"]
        except (ValueError, KeyError):
            print(f"{cluster}: cannot read the service list from {node['name']}")
            continue
        for s in services:
            if s["type"] != "LoadBalancer" or "(internal)" in s["frontend"] or not s["backends"]:
                continue
            addr, proto = s["frontend"].split("/")
            ip, port = addr.split(":")
            seen = collections.Counter(request("client", ip, port, proto) for _ in range(args.requests))
            print(f"{cluster:5} {s['service']:32} {s['frontend']:22} -> " +
                  ", ".join(f"{k} x{v}" for k, v in sorted(seen.items())))

    banner("A ClusterIP from a process in infra-node-1's cgroup (socket LB)")
    cip = None
    body = netctl("infra-node-1", "service list -o json")
    for s in json.loads(body or '{"services": []}')["services"]:
        # A service whose backends are pods running the echo server.
        if (s["type"] == "ClusterIP" and s["frontend"].endswith("/TCP") and s["backends"]
                and all(b.get("pod") for b in s["backends"]) and s["service"] == "demo/echo"):
            cip = s
            break
    if cip:
        ip, port = cip["frontend"].split("/")[0].split(":")
        cmd = (f"echo $$ > {nodes[0]['cgroup']}/cgroup.procs && for i in $(seq {args.requests}); do "
               f"r=$(socat -T1 - TCP:{ip}:{port},connect-timeout=1 <<< hi 2>/dev/null); echo ${{r:-(no-answer)}}; done")
        out = subprocess.run(["nsenter", f"--net={ns_path('infra-node-1')}", "bash", "-c", cmd],
                             text=True, capture_output=True).stdout.split()
        seen = collections.Counter(out or ["(no answer)"])
        print(f"{cip['service']} {cip['frontend']} -> " +
              ", ".join(f"{k} x{v}" for k, v in sorted(seen.items())))

    banner("Policy on infra-node-1 (deny by default in namespace demo)")
    print(netctl("infra-node-1", "endpoint list"))
    pods = {p: ip for p, ip in nodes[0]["pods"]}
    gw = next((p for p in pods if p.startswith("gateway-")), None)
    web = next((p for p in pods if p.startswith("web-")), None)
    echo = next((p for p in pods if p.startswith("echo-")), None)
    if gw and web and echo:
        for src in (f"gateway/{gw}", f"demo/{echo}"):
            print(f"$ netctl policy trace --src {src} --dst demo/{web} --dport 8080 --protocol TCP")
            print(netctl("infra-node-1", f"policy trace --src {src} --dst demo/{web} --dport 8080 --protocol TCP"))
        # The client is "world": the web pods admit only the gateway, so a NodePort request to
        # web is denied at the pod's veth, and `netctl monitor` shows why.
        sock = f"{WORK}/infra-node-1/api.sock"
        mon = subprocess.Popen([f"{ROOT}/build/bin/netctl", "--socket", sock, "monitor", "--verdict", "denied"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(0.5)
        print(f"client -> web NodePort 10.25.11.11:30080: {request('client', '10.25.11.11', 30080)}")
        time.sleep(0.5)
        mon.terminate()
        print("netctl monitor --verdict denied:")
        print("  " + "\n  ".join(l for l in mon.communicate()[0].splitlines()[:3]))

    banner("Datapath counters (infra-node-1)")
    print(netctl("infra-node-1", "metrics netagent_lb_packets_total"))

    print(f"\nLogs and state: {WORK}. Try: build/bin/netctl --socket {WORK}/infra-node-1/api.sock status")
    if args.keep:
        print("--keep: running until Ctrl-C")
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
