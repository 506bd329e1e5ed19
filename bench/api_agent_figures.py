#!/usr/bin/env python3
"""The agent on the Kubernetes API at scale (issue 11's figures), end to end.

A node namespace runs netagent with --k8s-api-server pointing at the stand-in API server
(tests/support, not Kubernetes) in an api namespace, preloaded with N ClusterIP services with one
EndpointSlice of E ready endpoints each. Printed:

  initial list to programmed maps: from the agent's "loading desired state" log line to the LB
      part's first apply of the N services ("reconciler lb applied snapshot 1"), both stamped by
      the agent's clock (ms);
  agent memory (VmRSS, VmHWM) with everything cached and programmed;
  one EndpointSlice change to the map write: a merge patch of one slice (an endpoint replaced)
      sent to the API server, to the end of the LB apply that wrote it (the agent's log stamp of
      "reconciler lb applied", minus the send time; one machine, one clock), K times, p50/p99.

Usage: bench/api_agent_figures.py [--services N] [--endpoints E] [--events K]
Needs root (network namespaces, bpffs) and a build (build/bin/netagent, netagent-kube-standin).
Everything it makes (namespaces, bpffs directory, cgroup, temp dir) carries its pid and is
removed at exit.
"""
import argparse
import ctypes
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("BUILD", os.path.join(ROOT, "build")) + "/bin"
CLONE_NEWNET = 0x40000000


def sh(*args):
    subprocess.run(args, check=True)


def stamp(line):
    """The agent's log time of a line, as Unix seconds."""
    t = datetime.strptime(line[:23], "%Y-%m-%dT%H:%M:%S.%f")
    return t.replace(tzinfo=timezone.utc).timestamp()


def objects(n, e):
    out = []
    for i in range(n):
        ns = "ns%d" % (i % 100)
        name = "svc%d" % i
        out.append({"group": "", "version": "v1", "resource": "services", "object": {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "resourceVersion": "1",
                         "uid": "u-%d" % i, "labels": {"app": name}},
            "spec": {"type": "ClusterIP",
                     "clusterIP": "10.96.%d.%d" % (i // 250, i % 250 + 1),
                     "selector": {"app": name},
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP",
                                "targetPort": 8080}]}}})
        out.append({"group": "discovery.k8s.io", "version": "v1", "resource": "endpointslices",
                    "object": slice_object(i, e, 0)})
    for i in range(100):
        out.append({"group": "", "version": "v1", "resource": "namespaces", "object": {
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "ns%d" % i, "resourceVersion": "1"}}})
    for name in ("default", "kube-system"):
        out.append({"group": "", "version": "v1", "resource": "namespaces", "object": {
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "resourceVersion": "1"}}})
    return out


def endpoints(i, e, generation):
    eps = []
    for k in range(e):
        n = i * e + k + generation * 7919
        eps.append({"addresses": ["10.%d.%d.%d" % (1 + (n // 65536) % 200, (n // 256) % 256,
                                                     n % 256)],
                    "conditions": {"ready": True}, "nodeName": "node-%d" % (k % 4)})
    return eps


def slice_object(i, e, generation):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "svc%d-abcde" % i, "namespace": "ns%d" % (i % 100),
                         "resourceVersion": "1",
                         "labels": {"kubernetes.io/service-name": "svc%d" % i}},
            "addressType": "IPv4", "endpoints": endpoints(i, e, generation),
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def agent_get(sock, path):
    c = UnixHTTP(sock)
    c.request("GET", path)
    body = c.getresponse().read()
    c.close()
    return json.loads(body)


def rss_kib(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, default=10000)
    ap.add_argument("--endpoints", type=int, default=10)
    ap.add_argument("--events", type=int, default=100)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("api_agent_figures: needs root (network namespaces)")

    sfx = str(os.getpid())
    api_ns, node_ns = "apf-a-" + sfx, "apf-n-" + sfx
    tmp = tempfile.mkdtemp(prefix="api-agent-figures.")
    cg_root = next(l.split()[1] for l in open("/proc/mounts") if l.split()[2] == "cgroup2")
    cg = os.path.join(cg_root, "apf-" + sfx)
    bpf = "/sys/fs/bpf/apf-" + sfx
    procs = []

    def cleanup():
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        for ns in (api_ns, node_ns):
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
        shutil.rmtree(bpf, ignore_errors=True)
        try:
            os.rmdir(cg)
        except OSError:
            pass
        shutil.rmtree(tmp, ignore_errors=True)

    try:
        for ns in (api_ns, node_ns):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", "apf" + sfx, "netns", api_ns, "type", "veth", "peer", "name",
           "eth0", "netns", node_ns)
        sh("ip", "-n", api_ns, "addr", "add", "10.25.11.5/24", "dev", "apf" + sfx)
        sh("ip", "-n", node_ns, "addr", "add", "10.25.11.11/24", "dev", "eth0")
        sh("ip", "-n", api_ns, "link", "set", "apf" + sfx, "up")
        sh("ip", "-n", node_ns, "link", "set", "eth0", "up")
        os.makedirs(cg)
        os.makedirs(bpf + "/root")
        os.makedirs(tmp + "/manifests")

        t0 = time.time()
        with open(tmp + "/state.json", "w") as f:
            json.dump({"resourceVersion": "2", "objects": objects(args.services, args.endpoints)},
                      f)
        standin = subprocess.Popen(
            ["nsenter", "--net=/run/netns/" + api_ns, BIN + "/netagent-kube-standin",
             "--listen", "10.25.11.5:6443", "--snapshot", tmp + "/state.json",
             "--bookmark-interval", "60"], stdout=subprocess.PIPE, text=True)
        procs.append(standin)
        first = standin.stdout.readline()
        if "listening" not in first:
            sys.exit("the stand-in did not start: " + first)
        print("stand-in loaded %d services, %d endpoint slices of %d endpoints (%.1f s)" %
              (args.services, args.services, args.endpoints, time.time() - t0))

        sock = tmp + "/api.sock"
        log_path = tmp + "/netagent.log"
        log = open(log_path, "w")
        agent = subprocess.Popen(
            ["nsenter", "--net=/run/netns/" + node_ns, BIN + "/netagent",
             "--k8s-api-server", "http://10.25.11.5:6443", "--manifests", tmp + "/manifests",
             "--node-name", "node-a", "--devices", "eth0", "--bpf-root", bpf + "/root",
             "--cgroup", cg, "--state-dir", tmp + "/state", "--api-socket", sock,
             "--metrics-addr", "", "--log-level", "debug", "--bpf-lb-map-max",
             "65536"],  # the most the datapath's ids allow: 131,072 backends
            stdout=log, stderr=subprocess.STDOUT)
        procs.append(agent)

        def log_lines():
            with open(log_path) as f:
                return f.read().splitlines()

        deadline = time.time() + 120
        start = applied = None
        while time.time() < deadline and applied is None:
            time.sleep(0.05)
            if agent.poll() is not None:
                sys.exit("netagent exited:\n" + "\n".join(log_lines()[-20:]))
            for line in log_lines():
                if start is None and "loading desired state from" in line:
                    start = stamp(line)
                if "reconciler lb applied snapshot" in line:
                    applied = stamp(line)
                    break
        if applied is None:
            sys.exit("the LB part did not apply within 120 s:\n" + "\n".join(log_lines()[-20:]))
        time.sleep(1)
        status = agent_get(sock, "/v1/status")
        services = status["snapshot"]["services"]
        mem = rss_kib(agent.pid)
        print("initial list to programmed maps: %.0f ms (%d services, %d endpoints)" %
              ((applied - start) * 1000, services, services * args.endpoints))
        heap = None
        for fam in agent_get(sock, "/v1/metrics"):
            if fam.get("name") == "netagent_heap_in_use_bytes":
                heap = fam["samples"][0]["value"]
        print("agent memory: VmRSS %.1f MiB, VmHWM %.1f MiB, heap in use %s" %
              (mem["VmRSS"] / 1024, mem["VmHWM"] / 1024,
               "%.1f MiB" % (heap / 2**20) if heap is not None else "?"))

        # Events: the main thread joins the api namespace to talk to the stand-in.
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        fd = os.open("/run/netns/" + api_ns, os.O_RDONLY)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            sys.exit("setns: " + os.strerror(ctypes.get_errno()))
        os.close(fd)
        conn = http.client.HTTPConnection("10.25.11.5", 6443, timeout=30)
        lat = []
        for k in range(args.events):
            i = (k * 97) % args.services
            seen = len(log_lines())
            body = json.dumps({"endpoints": endpoints(i, args.endpoints, k + 1)})
            sent = time.time()
            conn.request("PATCH", "/apis/discovery.k8s.io/v1/namespaces/ns%d/endpointslices/"
                         "svc%d-abcde" % (i % 100, i), body,
                         {"Content-Type": "application/merge-patch+json"})
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                sys.exit("PATCH answered %d" % r.status)
            got = None
            t_end = time.time() + 10
            while got is None and time.time() < t_end:
                time.sleep(0.002)
                for line in log_lines()[seen:]:
                    if "reconciler lb applied snapshot" in line:
                        got = stamp(line)
                        break
            if got is None:
                sys.exit("no LB apply within 10 s of event %d" % k)
            lat.append((got - sent) * 1000)
            time.sleep(0.05)
        lat.sort()
        p99 = lat[min(len(lat) - 1, int(round(0.99 * (len(lat) - 1))))]
        print("one EndpointSlice change to the map write (%d events): p50 %.1f ms, p99 %.1f ms, "
              "max %.1f ms (log stamps are ms)" % (len(lat), statistics.median(lat), p99,
                                                   lat[-1]))
    finally:
        cleanup()


if __name__ == "__main__":
    main()
