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
reaches them. The two clusters form a ClusterMesh: each runs a real etcd with mutual TLS (a CA
per cluster, made here with openssl) in its clustermesh-apiserver pod, which the other cluster
reaches at its ClusterMesh LoadBalancer address (10.25.11.100 infra, .120 apps) through the SRX
and the LB datapath; demo/echo is a global service that fails over to apps when infra's backends
are scaled to zero. The agents run on a copy of deploy/examples under WORK (the copy's
cilium-clustermesh Secret gets the real certificates). The script prints what a person would look
at, sends real requests, and removes everything it created when it ends (unless --keep), also
when it fails or is interrupted (Ctrl-C, SIGTERM, SIGHUP).

Every run is on its own: its namespaces, cgroups, bpffs pins and etcd data carry a prefix unique to
the run (nd<pid-derived hex>), and its files live in a fresh temporary directory (WORK, from
tempfile.mkdtemp), so two demos can run at once without touching each other, and the script
removes only what it created.

Run through scripts/demo.sh (it installs and builds first), or directly with
BUILD=/path/to/build (default: build/). Needs root.
"""
import argparse
import atexit
import collections
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The build directory (scripts/demo.sh builds into build/); BUILD=/path overrides it.
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
# Unique per run (namespace, cgroup, pin and /dev/shm names): two runs never share a name.
PREFIX = f"nd{os.getpid():x}{os.urandom(2).hex()}"
WORK = None  # this run's temporary directory (tempfile.mkdtemp in main)
CGROUP_ROOT = "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/unified/") else "/sys/fs/cgroup"
SRX_ASN = 64501
CLUSTERS = {"infra": 64512, "apps": 64513}

procs = []
namespaces = []
cgroups = []
pins = []
scratch = []  # directories outside WORK (etcd data on tmpfs)


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
    # Runs once, at exit (normal end, failure, Ctrl-C, SIGTERM/SIGHUP): what this run created,
    # and nothing else (its processes by pid, its namespaces, cgroups, pins and directories by
    # the names it recorded).
    global procs
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
    for d in pins + scratch:
        shutil.rmtree(d, ignore_errors=True)
    procs, namespaces[:], cgroups[:], pins[:], scratch[:] = [], [], [], [], []
    if WORK and not KEEP_LOGS:
        shutil.rmtree(WORK, ignore_errors=True)


KEEP_LOGS = False


def manifests(cluster):
    # The agents run on a copy of deploy/examples/<cluster> (the demo puts real certificates in
    # its ClusterMesh Secret and edits an EndpointSlice).
    return f"{WORK}/manifests/{cluster}"


def load_docs(cluster):
    docs = []
    for dirpath, _, files in os.walk(manifests(cluster)):
        for f in sorted(files):
            if f.endswith((".yaml", ".yml")):
                with open(os.path.join(dirpath, f)) as fh:
                    docs += [d for d in yaml.safe_load_all(fh) if isinstance(d, dict)]
    return docs


def settings_of(docs):
    return next(d["data"] for d in docs if d.get("kind") == "ConfigMap"
                and d["metadata"]["name"] == "cluster-settings")


def find(docs, kind, namespace, name):
    return next(d for d in docs if d.get("kind") == kind and d["metadata"]["name"] == name
                and d["metadata"].get("namespace") == namespace)


def apiserver_pod(docs):
    # The clustermesh-apiserver pod: the demo runs this cluster's ClusterMesh etcd in it.
    return next(d for d in docs if d.get("kind") == "Pod" and d["metadata"].get("namespace") == "kube-system"
                and (d["metadata"].get("labels") or {}).get("k8s-app") == "clustermesh-apiserver")


def make_pki(clusters):
    """A CA per cluster (made with openssl, as tests/support/src/etcd_fixture.cpp does), its etcd's
    server certificate and a client certificate for the agents. Files <cluster>-ca.crt,
    etcd-<cluster>.crt/.key and <cluster>-client.crt/.key under WORK/pki."""
    d = f"{WORK}/pki"
    os.makedirs(d)
    ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    for c, docs in clusters.items():
        svc = find(docs, "Service", "kube-system", "clustermesh-apiserver")
        # The server certificate names every address etcd is dialled at: the ClusterMesh
        # LoadBalancer IP (the other cluster), the pod IP (this cluster's publishing agent and
        # etcd's own gateway) and the ClusterIP.
        ips = [settings_of(docs)["CLUSTERMESH_API_IP"], apiserver_pod(docs)["status"]["podIP"], svc["spec"]["clusterIP"]]
        sh(f"cd {d} && openssl req -x509 {ec} -keyout {c}-ca.key -out {c}-ca.crt -days 2 "
           f"-subj /CN={c}-clustermesh-ca 2>/dev/null")
        for name, ext in ((f"etcd-{c}", "subjectAltName=" + ",".join("IP:" + ip for ip in ips) +
                           "\nextendedKeyUsage=serverAuth,clientAuth\n"),
                          (f"{c}-client", "extendedKeyUsage=clientAuth\n")):
            with open(f"{d}/{name}.ext", "w") as f:
                f.write(ext)
            sh(f"cd {d} && openssl req {ec} -keyout {name}.key -out {name}.csr -subj /CN={name} 2>/dev/null && "
               f"openssl x509 -req -in {name}.csr -CA {c}-ca.crt -CAkey {c}-ca.key -CAcreateserial "
               f"-out {name}.crt -days 2 -extfile {name}.ext 2>/dev/null")
    return d


def write_clustermesh_secret(cluster, pki):
    """Overwrites the copied kube-system/cilium-clustermesh.yaml: the same Secret (a key per
    remote cluster with its etcd configuration, which stays as it is, ${VAR}s included), with
    the demo's PEM material under <remote>.etcd-client-ca.crt/.crt/.key instead of the
    placeholders."""
    path = f"{manifests(cluster)}/kube-system/cilium-clustermesh.yaml"
    with open(path) as f:
        secret = yaml.safe_load(f)
    files = {"etcd-client-ca.crt": "{}-ca.crt", "etcd-client.crt": "{}-client.crt", "etcd-client.key": "{}-client.key"}
    out = [f"# Written by scripts/demo.py from deploy/examples/{cluster}/kube-system/cilium-clustermesh.yaml:",
           "# the same Secret with the demo's certificates (a CA per cluster) in place of the placeholders.",
           "apiVersion: v1", "kind: Secret", "metadata:", "  name: cilium-clustermesh", "  namespace: kube-system",
           "type: Opaque", "stringData:"]
    for key, value in secret["stringData"].items():
        remote, _, suffix = key.partition(".")
        if suffix:
            if remote not in CLUSTERS or suffix not in files:
                raise SystemExit(f"demo: {path}: unexpected key {key}")
            with open(f"{pki}/{files[suffix].format(remote)}") as f:
                value = f.read()
        out.append(f"  {key}: |")
        out += ["    " + line for line in value.rstrip("\n").split("\n")]
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(out) + "\n")
    os.rename(tmp, path)


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
    return sh(f"{BUILD}/bin/netctl --socket {sock} {args}", check=False, capture=capture)


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


def etcd_request(ns, ip, cluster):
    """GET /version of a cluster's ClusterMesh etcd with that cluster's client certificate."""
    d = f"{WORK}/pki"
    out = sh(in_ns(ns, f"curl -s --max-time 2 --cacert {d}/{cluster}-ca.crt --cert {d}/{cluster}-client.crt "
                       f"--key {d}/{cluster}-client.key https://{ip}:2379/version"), check=False, capture=True)
    try:
        return f"etcd {json.loads(out)['etcdserver']} (mutual TLS)"
    except (ValueError, KeyError):
        return "(no answer)"


def cgroup_requests(node, ip, port, count):
    """TCP requests from a process in the node's cgroup (the socket LB translates its connects)."""
    cmd = (f"echo $$ > {node['cgroup']}/cgroup.procs && for i in $(seq {count}); do "
           f"r=$(socat -T1 - TCP:{ip}:{port},connect-timeout=1 <<< hi 2>/dev/null); echo ${{r:-(no-answer)}}; done")
    out = subprocess.run(["nsenter", f"--net={ns_path(node['name'])}", "bash", "-c", cmd],
                         text=True, capture_output=True).stdout.split()
    return collections.Counter(out or ["(no answer)"])


def answered(seen):
    return ", ".join(f"{k} x{v}" for k, v in sorted(seen.items()))


def table_rows(table, keep):
    """The header and the rows of a netctl table (with their continuation lines) that keep()."""
    lines = table.splitlines()
    out, on = lines[:1], False
    for line in lines[1:]:
        if line and not line[0].isspace():
            on = keep(line)
        if on:
            out.append(line)
    return "\n".join(out)


def services(node):
    try:
        return json.loads(netctl(node, "service list -o json"))["services"]
    except (ValueError, KeyError):
        return []


def banner(text):
    print(f"\n=== {text}")


def clustermesh(nodes, clusters, args):
    """ClusterMesh between the two clusters: each cluster's etcd (mutual TLS) runs in its
    clustermesh-apiserver pod and is reached by the other cluster at its ClusterMesh
    LoadBalancer address, through the SRX and the LB datapath. demo/echo is a global service
    with local affinity: scaled to zero in infra, infra's clients are served by apps."""
    infra1 = next(n for n in nodes if n["cluster"] == "infra")
    apis = {c: settings_of(docs)["CLUSTERMESH_API_IP"] for c, docs in clusters.items()}
    banner("ClusterMesh: etcd with mutual TLS in each clustermesh-apiserver pod, reached at " +
           ", ".join(f"{ip} ({c})" for c, ip in apis.items()))

    def meshed(n):
        try:
            st = json.loads(netctl(n["name"], "clustermesh status -o json"))
        except ValueError:
            return False
        remotes = st.get("remoteClusters") or []
        pub_ok = not n.get("etcd") or (st.get("publisher") or {}).get("synced", False)
        return pub_ok and remotes and all(r.get("connected") and r.get("ready") and r.get("accepted")
                                          and not r.get("stale") and r.get("endpointCount", 0) > 0
                                          for r in remotes)
    if all(wait(f"ClusterMesh on {n['name']}", lambda n=n: meshed(n), 30) for n in nodes):
        print("every node watches the other cluster's etcd; " +
              ", ".join(n["name"] for n in nodes if n.get("etcd")) + " publish their cluster's state")
    print("$ netctl clustermesh status (infra-node-1)")
    print(netctl(infra1["name"], "clustermesh status"))

    # Scale infra's echo to zero: the EndpointSlice loses its endpoints (the agents watch the
    # manifests with inotify), and the global service fails over to apps' backends.
    path = f"{manifests('infra')}/demo/echo.yaml"
    with open(path) as f:
        original = f.read()
    docs = list(yaml.safe_load_all(original))
    slc = next(d for d in docs if d and d.get("kind") == "EndpointSlice")

    def write(text):
        with open(f"{WORK}/echo.yaml.tmp", "w") as f:
            f.write(text)
        os.rename(f"{WORK}/echo.yaml.tmp", path)

    def echo_clusters(node):
        return {b.get("cluster", "local") for s in services(node) if s["service"] == "demo/echo"
                and s["type"] == "ClusterIP" and s["frontend"].endswith("/TCP") for b in s["backends"]}

    cip = next((s["frontend"].split("/")[0] for s in services(infra1["name"]) if s["service"] == "demo/echo"
                and s["type"] == "ClusterIP" and s["frontend"].endswith("/TCP")), None)
    lb = next((s["frontend"].split("/")[0] for s in services(infra1["name"]) if s["service"] == "demo/echo"
               and s["type"] == "LoadBalancer" and s["frontend"].endswith("/TCP")), None)
    if not cip or not lb:
        print("demo/echo is not in infra-node-1's service list")
        return

    def show():
        ip, port = cip.split(":")
        print(f"from infra-node-1's cgroup: demo/echo {cip}/TCP -> " +
              answered(cgroup_requests(infra1, ip, port, args.requests)))
        ip, port = lb.split(":")
        seen = collections.Counter(request("client", ip, port) for _ in range(args.requests))
        print(f"from the client:            demo/echo {lb}/TCP -> " + answered(seen))

    banner(f"Global service demo/echo: infra's backends scaled to zero (EndpointSlice "
           f"{slc['metadata']['namespace']}/{slc['metadata']['name']} emptied in {path})")
    slc["endpoints"] = []
    t0 = time.time()
    write(yaml.safe_dump_all(docs, sort_keys=False))
    nodes_infra = [n["name"] for n in nodes if n["cluster"] == "infra"]
    if all(wait(f"apps backends on {n}", lambda n=n: echo_clusters(n) == {"apps"}, 10) for n in nodes_infra):
        print(f"every infra node serves demo/echo from cluster apps {time.time() - t0:.2f} s after the edit")
    print("$ netctl service list (infra-node-1, demo/echo over TCP)")
    print(table_rows(netctl(infra1["name"], "service list"), lambda line: " demo/echo " in line and "/TCP" in line))
    show()

    banner("demo/echo scaled back up in infra: local backends again (affinity local)")
    t0 = time.time()
    write(original)
    if all(wait(f"local backends on {n}", lambda n=n: echo_clusters(n) == {"local"}, 10) for n in nodes_infra):
        print(f"every infra node serves demo/echo from infra {time.time() - t0:.2f} s after the edit")
    show()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", action="store_true", help="leave the topology running (Ctrl-C ends it)")
    ap.add_argument("--keep-logs", action="store_true",
                    help="leave this run's temporary directory (logs, state) in place at the end")
    ap.add_argument("--requests", type=int, default=24)
    args = ap.parse_args()
    global WORK, KEEP_LOGS
    KEEP_LOGS = args.keep_logs
    if os.geteuid() != 0:
        raise SystemExit("demo: run as root (namespaces, eBPF)")
    for b in ("netagent", "netctl", "netagent-echo"):
        if not os.access(f"{BUILD}/bin/{b}", os.X_OK):
            raise SystemExit(f"demo: {BUILD}/bin/{b} missing: run scripts/demo.sh (or set BUILD)")
    atexit.register(cleanup)
    # sys.exit runs the atexit cleanup; Ctrl-C (KeyboardInterrupt) does too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(129))
    WORK = tempfile.mkdtemp(prefix="netagent-demo-")
    print(f"run {PREFIX}: namespaces {PREFIX}-*, files in {WORK}")
    sh("mountpoint -q /sys/fs/bpf || mount -t bpf bpffs /sys/fs/bpf")

    for c in CLUSTERS:
        shutil.copytree(os.path.join(ROOT, "deploy/examples", c), manifests(c))
    clusters = {c: load_docs(c) for c in CLUSTERS}
    pki = make_pki(clusters)
    for c in CLUSTERS:
        write_clustermesh_secret(c, pki)
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
    # The nodes reach the other cluster's ClusterMesh address through the SRX, which sends it on
    # to a node of that cluster: no ICMP redirects to skip it.
    sh(in_ns("srx", "sysctl -qw net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.eth0.send_redirects=0"))
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
            if pod_ns == "kube-system" and pod.startswith("clustermesh-apiserver"):
                # This cluster's ClusterMesh store: a real etcd with mutual TLS (client
                # certificates of this cluster's CA), in the pod, at the pod IP.
                c = n["cluster"]
                data = f"/dev/shm/{PREFIX}-etcd-{c}"
                shutil.rmtree(data, ignore_errors=True)
                scratch.append(data)
                url, peer = f"https://{ip}:2379", "http://127.0.0.1:2380"
                spawn(short, ["etcd", "--name", f"etcd-{c}", "--data-dir", data, "--listen-client-urls", url,
                              "--advertise-client-urls", url, "--listen-peer-urls", peer,
                              "--initial-advertise-peer-urls", peer, "--initial-cluster", f"etcd-{c}={peer}",
                              "--cert-file", f"{pki}/etcd-{c}.crt", "--key-file", f"{pki}/etcd-{c}.key",
                              "--trusted-ca-file", f"{pki}/{c}-ca.crt", "--client-cert-auth",
                              "--log-level", "error"], f"{WORK}/etcd-{c}.log")
                n["etcd"] = url
                ports = []
            for port, proto in ports:
                flag = "--tcp" if proto == "TCP" else "--udp"
                spawn(short, [f"{BUILD}/bin/netagent-echo", "--name", pod, flag, str(port)],
                      f"{WORK}/{short}-{port}-{proto}.log")
            n["pods"].append((pod, ip))
            n.setdefault("endpoints", []).append({"namespace": pod_ns, "pod": pod, "interface": host_if,
                                                  "ips": [ip]})
        print(f"{n['name']:13} {n['ip']:12} {n['cluster']:6} pods: " + ", ".join(f"{p} {ip}" for p, ip in n["pods"]))
    # Pod CIDRs are routed to their node, within and across clusters; everything else goes to
    # the SRX (replies to the external client).
    for n in nodes:
        sh(in_ns(n["name"], "ip route add default via 10.25.11.1"))
        # The other cluster's ClusterMesh address is in the nodes' own /24 (as every
        # LoadBalancer IP here): route it to the SRX, which learnt it over BGP.
        remote_api = settings_of(clusters[n["cluster"]])["REMOTE_CLUSTERMESH_API_IP"]
        sh(in_ns(n["name"], f"ip route add {remote_api}/32 via 10.25.11.1"))
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
        mesh = ["--clustermesh-lease-ttl", "15"]
        if n.get("etcd"):
            # The node that runs its cluster's etcd publishes the cluster's state there (one
            # publisher per cluster: every agent sees the whole cluster in manifest mode); the
            # Secret names only the remote cluster, so the other node only watches.
            c = n["cluster"]
            with open(f"{d}/clustermesh-etcd.yaml", "w") as f:
                f.write(f"endpoints:\n- {n['etcd']}\ntrusted-ca-file: {pki}/{c}-ca.crt\n"
                        f"cert-file: {pki}/{c}-client.crt\nkey-file: {pki}/{c}-client.key\n")
            mesh += ["--clustermesh-etcd-config", f"{d}/clustermesh-etcd.yaml"]
        spawn(n["name"], [f"{BUILD}/bin/netagent", "--manifests", manifests(n["cluster"]),
                          "--node-name", n["name"], "--devices", "eth0", "--cgroup", cg, "--bpf-root", pin,
                          "--state-dir", f"{d}/state", "--api-socket", f"{d}/api.sock"] + mesh, f"{d}/netagent.log")
    for n in nodes:
        ok = wait(f"netagent on {n['name']}", lambda: netctl(n["name"], "status -o json") != "", 15)
        print(f"{n['name']:13} {'ready' if ok else 'NOT READY (see ' + WORK + '/' + n['name'] + '/netagent.log)'}")

    # What a CNI plugin does when it wires a pod: register it, so that policy is enforced on
    # its veth (deny by default in the demo namespace, see deploy/examples/*/demo/policies.yaml).
    # The agent checks the addresses against its Node's podCIDRs, so it needs its manifests
    # loaded first (before that a registration is refused with 503, as a CNI plugin would retry).
    def snapshot_loaded(name):
        try:
            return json.loads(netctl(name, "status -o json") or "{}").get("snapshot") is not None
        except ValueError:
            return False
    for n in nodes:
        wait(f"desired state on {n['name']}", lambda: snapshot_loaded(n["name"]), 15)
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
            if s["service"] == "kube-system/clustermesh-apiserver":
                seen = collections.Counter(etcd_request("client", ip, cluster) for _ in range(args.requests))
            else:
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
        print(f"{cip['service']} {cip['frontend']} -> " + answered(cgroup_requests(nodes[0], ip, port, args.requests)))

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
        mon = subprocess.Popen([f"{BUILD}/bin/netctl", "--socket", sock, "monitor", "--verdict", "denied"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(0.5)
        # The NodePort balances over both nodes' web pods: a request that infra-node-2's pod
        # denies is not in infra-node-1's monitor, so send until one is (each is denied).
        lines = []
        for _ in range(6):
            print(f"client -> web NodePort 10.25.11.11:30080: {request('client', '10.25.11.11', 30080)}")
            if select.select([mon.stdout], [], [], 0.5)[0]:
                lines.append(mon.stdout.readline().rstrip())
                break
        mon.terminate()
        mon.wait()
        print("netctl monitor --verdict denied:")
        print("  " + "\n  ".join(lines or ["(nothing)"]))

    clustermesh(nodes, clusters, args)

    banner("Datapath counters (infra-node-1)")
    print(netctl("infra-node-1", "metrics netagent_lb_packets_total"))

    if args.keep or args.keep_logs:
        print(f"\nLogs and state: {WORK}")
    if args.keep:
        print(f"Try: {BUILD}/bin/netctl --socket {WORK}/infra-node-1/api.sock status")
        print("--keep: running until Ctrl-C")
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
