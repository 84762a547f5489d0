#!/usr/bin/env bash
# Idempotent set-up for a fresh machine (run as root, or with sudo available):
# installs the Debian packages ebpm needs when missing, runs `npm ci` when the lock file
# changed, builds the CLI bundle and the native addon when their sources changed, and fetches
# the kernels of the test matrix (scripts/kernels.sh) when they are not there yet.
# A second run with everything in place takes a couple of seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(clang llvm lld libbpf-dev libelf-dev zlib1g-dev pkg-config bpftool wasi-libc
      libclang-rt-14-dev-wasm32 docker-registry skopeo bpftrace libbpf-tools wabt make g++ python3
      qemu-system-arm qemu-system-x86 busybox-static kmod xz-utils zstd man-db zsh fish)

missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# libbpf resolves tracepoint ids through tracefs; some machines boot without it mounted.
if [ "$(id -u)" = 0 ] && ! mountpoint -q /sys/kernel/tracing; then
  mount -t tracefs nodev /sys/kernel/tracing
fi

# `ebpm build --platform` for the other of amd64/arm64 compiles against that architecture's
# Debian kernel types, fetched once into .cache/platforms/ (a no-op once there). On amd64 the
# arm64 kernel, busybox and bpftool with its libraries are unpacked too: the qemu-system-aarch64
# test loads arm64 objects in them (test/build/arm64-qemu.test.ts).
case "$(dpkg --print-architecture)" in
  amd64) bash scripts/foreign-arch.sh arm64 busybox-static bpftool libc6 libgcc-s1 libelf1 zlib1g libcap2 ;;
  arm64) bash scripts/foreign-arch.sh amd64 ;;
esac

# Stamp files keep the second run fast: redo a step only when its inputs changed.
mkdir -p .cache
stamp() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

lock=$(stamp package-lock.json package.json)
if [ ! -d node_modules ] || [ "$(cat .cache/npm.stamp 2>/dev/null)" != "$lock" ]; then
  echo "bootstrap: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock" > .cache/npm.stamp
fi

native=$(stamp native/binding.gyp native/*.c native/*.h)
if [ -f native/binding.gyp ] && { [ ! -f native/build/Release/ebpm_native.node ] || [ "$(cat .cache/native.stamp 2>/dev/null)" != "$native" ]; }; then
  echo "bootstrap: building native addon"
  npm run --silent build:native >/dev/null
  echo "$native" > .cache/native.stamp
fi

src=$(find src scripts/build.mjs scripts/snapshot.mjs -type f -newer dist/ebpm.mjs 2>/dev/null | head -1 || true)
if [ ! -f dist/ebpm.mjs ] || [ ! -f dist/ebpm.blob ] || [ -n "$src" ]; then
  echo "bootstrap: building CLI"
  node scripts/build.mjs
fi

# The kernel matrix (test/matrix) boots Debian's kernels under qemu. Without them those tests
# skip, except under CI, where a failed download fails the set-up.
if ! bash scripts/kernels.sh; then
  [ -z "${CI:-}" ] || exit 1
  echo "bootstrap: could not fetch the matrix's kernels; test/matrix will skip" >&2
fi
