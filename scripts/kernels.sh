#!/usr/bin/env bash
# Debian's kernels for the kernel matrix (test/matrix): the newest amd64 kernel image of each
# suite below, downloaded with `apt-get download` and unpacked with `dpkg -x` into
# .cache/kernels/<release>/ (git ignores .cache). Nothing is installed and the system's APT
# sources, lists and caches are left alone: apt reads its own sources list and keeps its lists
# and caches under .cache/kernels/apt. depmod then writes each kernel's modules.dep (a package
# leaves that to its installation), which the VM's init follows, and the kernel is unpacked from
# its bzImage into vmlinux: qemu boots that ELF through its PVH entry, which saves the ten
# seconds the kernel takes to decompress itself under TCG. manifest.json records what was
# fetched.
#
# Idempotent: with the manifest and every kernel it names in place it does nothing; --update
# asks the archive again for the newest kernels. Adding a kernel to the matrix is a line in
# SUITES (and its release in test/matrix).
set -euo pipefail
cd "$(dirname "$0")/.."

# suite: the APT suites to read (the point release and its security updates)
SUITES=(
  "bullseye:bullseye bullseye-security"
  "bookworm:bookworm bookworm-security"
  "trixie:trixie trixie-security"
)
ROOT=$PWD/.cache/kernels
MANIFEST=$ROOT/manifest.json

if [ "${1:-}" != --update ] && [ -f "$MANIFEST" ]; then
  complete=1
  for release in $(sed -n 's/.*"release": "\([^"]*\)".*/\1/p' "$MANIFEST"); do
    [ -f "$ROOT/$release/lib/modules/$release/modules.dep" ] && [ -f "$ROOT/$release/vmlinux" ] || complete=0
  done
  ((complete)) && exit 0
fi

# unpack_vmlinux <bzImage> <out>: the compressed kernel is `payload_length` bytes at
# `payload_offset` past the setup sectors (x86 boot protocol 2.08+, Documentation/arch/x86/boot.rst),
# the last 4 of them the uncompressed size, which the decompressors would take for a second stream.
unpack_vmlinux() {
  local setup offset length
  setup=$(od -An -tu1 -j $((0x1f1)) -N1 "$1")
  read -r offset length < <(od -An -tu4 -j $((0x248)) -N8 "$1")
  dd if="$1" of="$2.payload" bs=64K iflag=skip_bytes,count_bytes skip=$(((setup + 1) * 512 + offset)) count=$((length - 4)) status=none
  case $(od -An -tx1 -N4 "$2.payload" | tr -d ' ') in
    fd377a58) xz -dc "$2.payload" >"$2.tmp" ;;
    28b52ffd) zstd -dcq "$2.payload" >"$2.tmp" ;;
    1f8b*) gzip -dc "$2.payload" >"$2.tmp" ;;
    *) echo "kernels: $1: a kernel compression this script does not know" >&2; return 1 ;;
  esac
  rm "$2.payload"
  mv "$2.tmp" "$2"
}

# A download cut short leaves no half-unpacked kernel: each is unpacked aside, then moved in.
trap 'rm -rf "$ROOT"/.fetch-*' EXIT
entries=()
for spec in "${SUITES[@]}"; do
  suite=${spec%%:*}
  apt_dir=$ROOT/apt/$suite
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
  : >"$apt_dir/sources.list"
  for s in ${spec#*:}; do
    case $s in
      *-security) url=http://deb.debian.org/debian-security ;;
      *) url=http://deb.debian.org/debian ;;
    esac
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $url $s main" >>"$apt_dir/sources.list"
  done
  # The options every apt call gets: this suite's sources, lists and caches, and no other.
  apt=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$apt_dir/lists"
       -o "Dir::Cache=$apt_dir/cache" -o APT::Architecture=amd64 -o APT::Sandbox::User=root)
  echo "kernels: reading $suite"
  apt-get "${apt[@]}" update -qq

  # linux-image-amd64 names the suite's current kernel (`linux-image-<release>`, the signed
  # image); its unsigned twin is the same kernel without the Secure Boot signature.
  signed=$(apt-cache "${apt[@]}" depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1)
  [ -n "$signed" ] || { echo "kernels: $suite: linux-image-amd64 names no kernel image" >&2; exit 1; }
  release=${signed#linux-image-}
  package=$signed-unsigned
  apt-cache "${apt[@]}" show "$package" >/dev/null 2>&1 || package=$signed
  version=$(apt-cache "${apt[@]}" show --no-all-versions "$package" | sed -n 's/^Version: //p')

  if [ ! -f "$ROOT/$release/boot/vmlinuz-$release" ]; then
    echo "kernels: $suite: $package $version"
    work=$(mktemp -d "$ROOT/.fetch-XXXXXX")
    (cd "$work" && apt-get "${apt[@]}" download -qq "$package=$version")
    dpkg -x "$work"/*.deb "$work/root"
    # trixie ships its modules under usr/lib only (merged /usr); depmod -b reads lib/modules.
    [ -e "$work/root/lib" ] || ln -s usr/lib "$work/root/lib"
    depmod -b "$work/root" "$release"
    rm -rf "${ROOT:?}/$release"
    mv "$work/root" "$ROOT/$release"
    rm -rf "$work"
  fi
  if [ ! -f "$ROOT/$release/vmlinux" ]; then
    unpack_vmlinux "$ROOT/$release/boot/vmlinuz-$release" "$ROOT/$release/vmlinux"
  fi
  entries+=("$(printf '    { "suite": "%s", "release": "%s", "package": "%s", "version": "%s" }' "$suite" "$release" "$package" "$version")")
done

tmp=$MANIFEST.tmp
{
  echo '{'
  echo '  "kernels": ['
  for i in "${!entries[@]}"; do
    sep=,
    ((i == ${#entries[@]} - 1)) && sep=
    echo "${entries[$i]}$sep"
  done
  echo '  ]'
  echo '}'
} >"$tmp"
mv "$tmp" "$MANIFEST"
