#!/usr/bin/env python3
"""The arrows of docs/architecture.md, checked on the sources.

Each folder (part) may include the headers of the folders listed for it and nothing else; the BPF
ABI headers (netagent/*.h) count as "bpf". A part's reconciler is never included by another part.
Prints every violation as file:line and exits 1 when there is one.
"""
import pathlib
import re
import sys

# folder -> the folders whose headers it may include (besides its own).
ALLOWED = {
    "common": set(),
    "k8s": {"common"},
    "datapath": {"common", "bpf"},
    "api": {"common"},
    "metrics": {"common", "api"},
    "store": {"common", "k8s", "api", "metrics"},
    "source": {"common", "k8s", "kubeapi"},
    "http": {"common"},
    "etcd": {"common", "http"},
    "kubeapi": {"common", "http"},
    "ipam": {"common", "k8s", "store", "api", "metrics"},
    "writeback": {"common", "k8s", "kubeapi", "ipam", "store", "api", "metrics"},
    "lb": {"common", "k8s", "bpf", "datapath", "ipam", "store", "api", "metrics"},
    "policy": {"common", "k8s", "bpf", "datapath", "source", "store", "api", "metrics"},
    "bgp": {"common", "k8s", "ipam", "lb", "store", "api", "metrics"},
    "mesh": {"common", "k8s", "etcd", "lb", "policy", "store", "api", "metrics"},
    "agent": None,  # the wiring: anything
    "netctl": {"common"},  # an API client: links no part (offline policy runs `netagent policy`)
    "bench": None,
    "fuzz": None,
}
# Sub-folders held to a stricter rule than their part: the pure cores.
STRICT = {
    "bgp/src/speaker/": {"common"},
    "bgp/src/control/": {"common", "k8s", "ipam"},
    "policy/src/datapath/": {"common", "k8s", "bpf", "datapath"},
    "lb/src/datapath/": {"common", "k8s", "bpf", "datapath"},
}
# Headers of a part's agent adapter: only the wiring (agent/) and the part itself include them.
RECONCILER = re.compile(r"netagent/(\w+)/(\w+_reconciler|endpoint_store|global_backends)\.hpp")
INCLUDE = re.compile(r'^\s*#\s*include\s+"netagent/([^"]+)"')


def target_of(path: str) -> str:
    head = path.split("/", 1)[0]
    return "bpf" if head.endswith(".h") else head


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    problems = []
    for f in sorted(root.rglob("*")):
        if f.suffix not in {".cpp", ".hpp", ".h", ".c"} or not f.is_file():
            continue
        rel = f.relative_to(root).as_posix()
        part = rel.split("/", 1)[0]
        if part not in ALLOWED:
            continue  # tests/, build trees, bpf/ itself
        allowed = ALLOWED[part]
        for prefix, strict in STRICT.items():
            if rel.startswith(prefix):
                allowed = strict
        for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            inc = m.group(1)
            dep = target_of(inc)
            r = RECONCILER.match("netagent/" + inc)
            if r and r.group(1) != part and part != "agent":
                problems.append(f"{rel}:{n}: includes another part's adapter netagent/{inc}")
            if dep == part or allowed is None:
                continue
            if dep not in allowed:
                problems.append(f"{rel}:{n}: {part} may not include netagent/{inc} "
                                f"({part} -> {dep} is not an arrow of docs/architecture.md)")
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} include(s) break the layering")
        return 1
    print("layering ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
