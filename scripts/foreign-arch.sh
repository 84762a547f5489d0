#!/usr/bin/env bash
# Fetches what `ebpm build --platform linux/<arch>` needs for an architecture other than this
# machine's, from Debian's own packages, into .cache/platforms/<arch>/ (git ignores .cache):
#   vmlinux.btf  the kernel's BTF, read from linux-image-*-<arch>-unsigned's vmlinuz
#   include/     the architecture's uapi headers (<asm/types.h>), from linux-libc-dev:<arch>
# Packages are fetched with `apt-get download` through an apt configuration of our own (never
# the system's sources or dpkg architectures) and unpacked with `dpkg -x`; nothing is installed.
# Usage: scripts/foreign-arch.sh <arch> [extra Debian packages to unpack into .cache/platforms/<arch>/root]
set -euo pipefail
cd "$(dirname "$0")/.."

arch=$1; shift
dir=$PWD/.cache/platforms/$arch
# The suite this machine runs (bookworm on Debian 12), so the kernel matches the host's era.
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
apt_dir=$dir/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$dir/debs"
echo "deb [arch=$arch signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" > "$apt_dir/sources.list"
APT=(-o "APT::Architecture=$arch" -o "APT::Architectures::=$arch"
     -o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o "Dir::Etc::sourceparts=-"
     -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "Dir::State::status=/dev/null"
     -o "APT::Sandbox::User=root")

updated=false
update() { $updated || { apt-get "${APT[@]}" update -qq; updated=true; }; }

# fetch PKG...: downloads each package (once) into debs/ and prints the .deb paths.
fetch() {
  local p f
  for p in "$@"; do
    f=$(ls "$dir/debs/${p}_"*.deb 2>/dev/null | head -1 || true)
    if [ -z "$f" ]; then
      update
      (cd "$dir/debs" && apt-get "${APT[@]}" download -qq "$p" >/dev/null)
      f=$(ls "$dir/debs/${p}_"*.deb | head -1)
    fi
    echo "$f"
  done
}

if [ ! -s "$dir/vmlinux.btf" ]; then
  echo "foreign-arch: fetching Debian's $arch kernel BTF"
  update
  # linux-image-<arch> depends on the current signed image; its -unsigned twin has the same vmlinuz.
  image=$(apt-cache "${APT[@]}" depends "linux-image-$arch" | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -1)
  deb=$(fetch "$image-unsigned")
  rm -rf "$dir/kernel" && dpkg -x "$deb" "$dir/kernel"
  node scripts/kernel-btf.mjs "$dir"/kernel/boot/vmlinuz-* "$dir/vmlinux.btf"
  rm -rf "$dir/kernel/lib" "$dir/kernel/usr"
fi

if [ ! -d "$dir/include" ]; then
  echo "foreign-arch: fetching Debian's $arch uapi headers"
  deb=$(fetch linux-libc-dev)
  tmp=$(mktemp -d) && dpkg -x "$deb" "$tmp"
  mv "$tmp"/usr/include/*-linux-gnu* "$dir/include.tmp" && mv "$dir/include.tmp" "$dir/include"
  rm -rf "$tmp"
fi

for p in "$@"; do
  [ -e "$dir/root/.$p" ] && continue
  dpkg -x "$(fetch "$p")" "$dir/root" && touch "$dir/root/.$p"
done
