#!/usr/bin/env bash
# Builds the netagent OCI image from this repository with buildah, FROM scratch (no registry is
# needed): netagent and netctl from the build directory, exactly the shared libraries they load
# (ldd, plus the ELF interpreter), copied at their paths, and an empty /tmp. Nothing else: the
# BPF programs are compiled into netagent, it runs no other program, and it reads no CA bundle
# of the system (etcd TLS files are given by flag).
#
#   scripts/image.sh [--build-dir DIR] [--output FILE] [--tag NAME]
#
# Writes an oci-archive (default: <build-dir>/netagent-image.tar) whose image is named TAG
# (default localhost/netagent:latest, the name deploy/netagent/daemonset.yaml runs), and prints
# its path, size, digest and contents. buildah works in a storage of its own under a temporary
# directory, removed at exit: the machine's container storage gets nothing. Reproducible: every
# time is SOURCE_DATE_EPOCH or else the last commit's time (file mtimes, buildah --timestamp, the
# archive's own tar headers), so the same binaries and commit give the same bytes.
# NETAGENT_IMAGE_SOURCE sets the org.opencontainers.image.source label (default: the git remote
# "origin", else the repository's path).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build_dir=$repo/build
output=
tag=localhost/netagent:latest
while (($#)); do
	case $1 in
	--build-dir) build_dir=$2; shift 2 ;;
	--output) output=$2; shift 2 ;;
	--tag) tag=$2; shift 2 ;;
	-h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "image: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
build_dir=$(cd "$build_dir" && pwd)
output=${output:-$build_dir/netagent-image.tar}

if [[ $EUID -ne 0 ]]; then
	echo "image: must run as root (buildah mounts the image's root file system)" >&2
	exit 1
fi
command -v buildah >/dev/null || { echo "image: buildah missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
bins=("$build_dir/bin/netagent" "$build_dir/bin/netctl")
for b in "${bins[@]}"; do
	[[ -x $b ]] || { echo "image: $b missing: build it first (cmake --build build --target netagent netctl)" >&2; exit 1; }
done

# The libraries: every path ldd resolves (the interpreter included), deduplicated. A library ldd
# cannot find is an error, not an image that fails at start.
libs=()
for b in "${bins[@]}"; do
	if ldd "$b" | grep -q 'not found'; then
		echo "image: $b needs a library this machine lacks:" >&2
		ldd "$b" | grep 'not found' >&2
		exit 1
	fi
	while read -r lib; do libs+=("$lib"); done < <(ldd "$b" | grep -o '/[^ ]*' | sort -u)
done
mapfile -t libs < <(printf '%s\n' "${libs[@]}" | sort -u)

epoch=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || echo 0)}
version=$(git -C "$repo" describe --tags --always --dirty 2>/dev/null || echo unknown)
revision=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)
source=${NETAGENT_IMAGE_SOURCE:-$(git -C "$repo" remote get-url origin 2>/dev/null || echo "$repo")}
agent_version=$("$build_dir/bin/netagent" --version | awk '{print $2}')

work=$(mktemp -d /tmp/netagent-image.XXXXXX)
store=(--root "$work/root" --runroot "$work/runroot" --storage-driver vfs)
ctr=
cleanup() {
	if [[ -n $ctr ]]; then buildah "${store[@]}" rm "$ctr" >/dev/null 2>&1 || true; fi
	buildah "${store[@]}" rmi --all --force >/dev/null 2>&1 || true
	# vfs layers can hold read-only files: make them removable first.
	chmod -R u+w "$work" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

# The root file system, staged: binaries in /usr/bin, libraries at the paths ldd gave (resolved
# through symlinks, so each file is copied once, as a regular file, under the name it is loaded
# by), /tmp sticky and world-writable.
rootfs=$work/rootfs
mkdir -p "$rootfs/usr/bin" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
for b in "${bins[@]}"; do
	install -m 0755 "$b" "$rootfs/usr/bin/"
	strip --strip-unneeded "$rootfs/usr/bin/$(basename "$b")" 2>/dev/null || true
done
for lib in "${libs[@]}"; do
	mkdir -p "$rootfs$(dirname "$lib")"
	cp -L "$lib" "$rootfs$lib"
done
find "$rootfs" -exec touch -h -d "@$epoch" {} +

ctr=$(buildah "${store[@]}" from scratch)
buildah "${store[@]}" copy "$ctr" "$rootfs/" / >/dev/null
buildah "${store[@]}" config \
	--entrypoint '["/usr/bin/netagent"]' --cmd '' \
	--env PATH=/usr/bin \
	--workingdir / \
	--os linux --arch amd64 \
	--label "org.opencontainers.image.title=netagent" \
	--label "org.opencontainers.image.description=netagent eBPF data plane and BGP agent (netagent, netctl)" \
	--label "org.opencontainers.image.version=$version" \
	--label "org.opencontainers.image.revision=$revision" \
	--label "org.opencontainers.image.source=$source" \
	--label "io.netagent.agent-version=$agent_version" \
	"$ctr"
buildah "${store[@]}" commit --quiet --timestamp "$epoch" --rm "$ctr" "$tag" >/dev/null
ctr=
# buildah writes the archive's tar headers with the current time: unpack and pack it again
# with the fixed time and a fixed order, so the file is as reproducible as the image inside.
buildah "${store[@]}" push --quiet "$tag" "oci-archive:$work/push.tar:$tag" >/dev/null
mkdir "$work/layout"
tar -C "$work/layout" -xf "$work/push.tar"
mkdir -p "$(dirname "$output")"
tar -C "$work/layout" --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
	-cf "$output.tmp" . && mv "$output.tmp" "$output"
digest=$(grep -o '"digest":"[^"]*"' "$work/layout/index.json" | head -1 | cut -d'"' -f4)

size=$(stat -c %s "$output")
echo "image: $output ($tag, version $version, manifest $digest)"
echo "image: size $size bytes ($(((size + 524288) / 1048576)) MiB); contents:"
(cd "$rootfs" && find . -type f | sed 's|^\.||' | sort | while read -r f; do
	printf '  %-45s %8d\n' "$f" "$(stat -c %s ".$f")"
done)
