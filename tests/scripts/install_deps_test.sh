#!/usr/bin/env bash
# scripts/install-deps.sh changes nothing beyond installing packages: run with fake apt-get,
# dpkg-query, systemctl, pkill/killall/kill-by-name tools first on PATH (they record their calls)
# and policy-rc.d at a temporary path, and check that
#   - with no policy-rc.d, its own is in place while apt-get installs and gone afterwards;
#   - an existing policy-rc.d is left byte for byte, and is what apt-get sees;
#   - no service is stopped or disabled and nothing is killed by name;
#   - its own policy-rc.d is removed when apt-get fails too.
set -euo pipefail
if [[ $EUID -ne 0 ]]; then
	# install-deps.sh refuses to run without root; nothing here needs more than a temp dir.
	echo "install_deps_test: needs root" >&2
	[[ ${CI:-} == true ]] && exit 1
	exit 77
fi
script="$(cd "$(dirname "$0")/../.." && pwd)/scripts/install-deps.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin"
calls="$tmp/calls"
: >"$calls"
policy="$tmp/policy-rc.d"
for tool in systemctl service pkill killall invoke-rc.d; do
	printf '#!/bin/sh\necho "%s $*" >>"%s"\n' "$tool" "$calls" >"$tmp/bin/$tool"
done
# Every package is missing, so the script installs.
printf '#!/bin/sh\nexit 1\n' >"$tmp/bin/dpkg-query"
# apt-get records what policy-rc.d it saw during install; APT_FAIL makes install fail.
cat >"$tmp/bin/apt-get" <<EOT
#!/bin/sh
echo "apt-get \$1" >>"$calls"
if [ "\$1" = install ]; then
	if [ -e "$policy" ]; then cp "$policy" "$tmp/seen"; else echo none >"$tmp/seen"; fi
	[ -z "\${APT_FAIL:-}" ] || exit 100
fi
exit 0
EOT
chmod +x "$tmp/bin"/*
run() { PATH="$tmp/bin:$PATH" NETAGENT_POLICY_RC_D="$policy" bash "$script" >"$tmp/out" 2>&1; }
fail() { echo "FAIL: $*" >&2; cat "$tmp/out" >&2; exit 1; }

# 1. No policy-rc.d: its own during install (exit 101 keeps daemons from starting), none after.
run || fail "install-deps failed"
grep -q '^exit 101$' "$tmp/seen" || fail "apt-get ran without the temporary policy-rc.d"
[[ ! -e $policy ]] || fail "its policy-rc.d was left behind"

# 2. An existing policy-rc.d: untouched, and the one apt-get saw.
printf '#!/bin/sh\n# the administrator'"'"'s\nexit 0\n' >"$policy"
chmod 0750 "$policy"
cp -p "$policy" "$tmp/orig"
run || fail "install-deps failed with an existing policy-rc.d"
cmp -s "$policy" "$tmp/orig" || fail "the existing policy-rc.d was changed"
cmp -s "$tmp/seen" "$tmp/orig" || fail "the existing policy-rc.d was replaced during install"
[[ $(stat -c %a "$policy") == 750 ]] || fail "the existing policy-rc.d changed mode"
rm -f "$policy"

# 3. apt-get fails: its own policy-rc.d is still removed.
APT_FAIL=1 run && fail "install-deps succeeded although apt-get failed"
[[ ! -e $policy ]] || fail "its policy-rc.d was left behind after a failed install"

# Nothing stopped, disabled or killed.
if grep -vE '^apt-get ' "$calls"; then fail "install-deps called the tools above"; fi
echo "install_deps_test: ok"
