#!/usr/bin/env bash
# A kernel without BTF, made from one with it: hides /sys/kernel/btf under an empty tmpfs, then
#   1. runs CARRYING, an execsnoop package built with `ebpm build --btf-for` this kernel (its
#      vmlinux, raw BTF or linux-image .deb), which must load from the BTF it carries and print
#      the execs of /bin/true this script causes, their parent pid read with CO-RE;
#   2. runs OTHER, one carrying BTF for other kernels only, which must be refused (KERNEL_NO_BTF,
#      exit 4) with a message naming this kernel's release.
# The same script runs on the host (test/run/kernel-btf.test.ts) and in the kernel matrix's VMs.
# It re-executes itself in a mount namespace of its own, so the tmpfs hides BTF from nothing else.
#
#   bash test/matrix/no-btf.sh <CARRYING layout> <OTHER layout>
#
# Prints `no-btf: …` lines, the events and the refusal; the last line is `no-btf: ok` (exit 0) or
# `no-btf: FAILED: <why>` (exit 1).
set -u
if [ "${EBPM_NO_BTF_NAMESPACE:-}" != 1 ]; then
  EBPM_NO_BTF_NAMESPACE=1 exec unshare --mount --propagation private bash "$0" "$@"
fi
[ $# -eq 2 ] || { echo "usage: bash $0 <CARRYING layout> <OTHER layout>" >&2; exit 2; }
CARRYING=$1
OTHER=$2
REPO=$(cd "$(dirname "$0")/../.." && pwd)
release=$(uname -r)
fail() {
  echo "no-btf: FAILED: $*"
  exit 1
}

[ -e /sys/kernel/btf/vmlinux ] || fail "kernel $release has no BTF to hide"
mount -t tmpfs tmpfs /sys/kernel/btf || fail "mount tmpfs on /sys/kernel/btf"
[ ! -e /sys/kernel/btf/vmlinux ] || fail "/sys/kernel/btf/vmlinux still there"
echo "no-btf: kernel $release, /sys/kernel/btf hidden"

# ebpm in a sandbox of its own: nothing read from or written to this machine's HOME or store.
sandbox=$(mktemp -d)
trap 'rm -rf "$sandbox"' EXIT
export HOME=$sandbox XDG_CONFIG_HOME=$sandbox/xdg-config XDG_CACHE_HOME=$sandbox/xdg-cache XDG_DATA_HOME=$sandbox/xdg-data
export EBPM_CONFIG=$sandbox/config.json EBPM_STORE=$sandbox/store EBPM_LOCAL_REGISTRY=$sandbox/registry
export EBPM_CACHE_DIR=$sandbox/cache DOCKER_CONFIG=$sandbox/docker
# Execs for the whole run (Node takes seconds to start under TCG), a few a second so as not to
# starve it of the CPU. Other processes may exec too (on the host): only this loop's count.
(while :; do /bin/true; sleep 0.1; done) &
loop=$!
# Made here: the background job's redirection creates it only once that job runs, and a count of
# a file not there yet ends the wait below at once.
: >"$sandbox/events"
node "$REPO/bin/ebpm.js" run "$CARRYING" --json >"$sandbox/events" 2>"$sandbox/stderr" &
run=$!
mine="\"ppid\":$loop,.*\"comm\":\"true\""
while kill -0 "$run" 2>/dev/null && [ "$(grep -c "$mine" "$sandbox/events")" -lt 3 ]; do sleep 0.2; done
kill -TERM "$run" 2>/dev/null
wait "$run"
code=$?
kill "$loop"
wait "$loop" 2>/dev/null
# Stopped by SIGTERM (143) once it had printed them; anything else is the run failing by itself,
# or ending before them (said with what it printed, not left to the events' check).
found=$(grep -c "$mine" "$sandbox/events")
[ "$code" -eq 143 ] && [ "$found" -ge 3 ] || fail "CARRYING exited $code after $found execs of the loop: $(cat "$sandbox/stderr")"
grep "$mine" "$sandbox/events" | head -3
echo "no-btf: CARRYING ran from its BTF for $release: 3 execs of /bin/true, parent $loop"

node "$REPO/bin/ebpm.js" run "$OTHER" --duration 1 >"$sandbox/events" 2>"$sandbox/stderr"
code=$?
cat "$sandbox/stderr"
[ "$code" -eq 4 ] || fail "OTHER exited $code, not 4"
grep -q "^error: run [^:]*: kernel $release has no BTF (/sys/kernel/btf/vmlinux), which the package needs for CO-RE, and the package carries" "$sandbox/stderr" ||
  fail "OTHER was not refused for want of BTF"
echo "no-btf: OTHER refused (exit 4)"
echo "no-btf: ok"
