#!/usr/bin/env python3
"""The docs say only what the agent does: its flags and its metrics, checked against the code.

1. The settings table of docs/operating.md (rows "| `--flag ...` | default | meaning |") lists
   exactly the flags of `netagent --help`, and each default that --help prints is the table's.
2. Every metric the code registers (a "netagent_..." string literal passed to the metrics
   registry in a part's sources) is named in docs/ or README.md, in full or as a suffix written
   `..._suffix` / `_suffix` after its family; and every full metric name the docs give (outside
   code blocks) is one the code registers.
Usage: check_docs.py SOURCE_DIR NETAGENT_BINARY. Prints each mismatch and exits 1 if any.
"""
import pathlib
import re
import subprocess
import sys

PARTS = ["agent", "api", "bgp", "common", "datapath", "etcd", "http", "ipam", "kubeapi", "lb",
         "mesh", "metrics", "policy", "source", "store", "writeback"]
# Every "netagent_..." string literal in a part's sources is a metric name (registry calls,
# collectors and the helpers that build families).
METRIC_CALL = re.compile(r"\"(netagent_[a-z0-9_]+)\"")


def agent_flags(binary):
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, check=True).stdout
    flags = {}
    for m in re.finditer(r"^\s+(?:-\w,)?(--[a-z][a-z0-9-]+)(?: [A-Z0-9\[\],.:_-]+(?: \.\.\.)?)?(?:=(\S+))?",
                         out, re.M):
        if m.group(1) in ("--help", "--version"):
            continue
        flags[m.group(1)] = m.group(2)
    return flags


def table_flags(text):
    rows = {}
    for line in text.splitlines():
        m = re.match(r"\|\s*`(--[a-z][a-z0-9-]+)[^`]*`(?:,\s*`--[a-z-]+`)*\s*\|([^|]*)\|", line)
        if m:
            rows[m.group(1)] = m.group(2).strip()
    return rows


def strip_code_blocks(text):
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def main():
    src, binary = pathlib.Path(sys.argv[1]), sys.argv[2]
    errors = []

    have = agent_flags(binary)
    op = (src / "docs/operating.md").read_text()
    rows = table_flags(op)
    rows.pop("--version", None)
    for flag, default in sorted(have.items()):
        if flag not in rows:
            errors.append(f"docs/operating.md: the settings table lacks {flag} (netagent --help has it)")
        elif default is not None and f"`{default}`" not in rows[flag]:
            errors.append(f"docs/operating.md: {flag} defaults to {default} (netagent --help), "
                          f"the table says {rows[flag]!r}")
    for flag in sorted(set(rows) - set(have)):
        errors.append(f"docs/operating.md: the settings table lists {flag}, which netagent does not have")

    registered = set()
    for part in PARTS:
        for f in (src / part).rglob("*.[ch]pp"):
            registered |= set(METRIC_CALL.findall(f.read_text()))
    docs = "\n".join(strip_code_blocks(p.read_text())
                     for p in [src / "README.md", *sorted((src / "docs").glob("*.md"))])
    for name in sorted(registered):
        parts = name.split("_")
        suffixes = ["_".join(parts[i:]) for i in range(2, len(parts))]
        if name in docs or any(re.search(r"(?:`|\.\.\.)_" + re.escape(s) + r"\b", docs) for s in suffixes):
            continue
        errors.append(f"metric {name} is not documented (docs/*.md or README.md)")
    libraries = set(re.findall(r"\b(netagent_[a-z0-9_]+)\b",
                               "\n".join(p.read_text() for p in src.rglob("CMakeLists.txt"))))
    for name in sorted(set(re.findall(r"\bnetagent_[a-z0-9_]+\b", docs))):
        if name not in registered and name not in libraries:
            errors.append(f"docs name metric {name}, which the code does not register")

    for e in errors:
        print(e)
    if errors:
        return 1
    print(f"check_docs: {len(have)} flags and {len(registered)} metrics documented as the code has them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
