#!/usr/bin/env bash
# The quick start: set up this machine, build the sigsnoop example, push it to an embedded
# registry, pull sigsnoop@1.2 into a local store, and run it from there for a few seconds while
# this script sends it some signals to see. Registry, store and config are a scratch directory
# of its own, removed at the end: it runs again after any change, and leaves yours alone.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
scratch=$(mktemp -d "${TMPDIR:-/tmp}/ebpm-quickstart.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export EBPM_CONFIG="$scratch/config.json" EBPM_LOCAL_REGISTRY="$scratch/registry" EBPM_STORE="$scratch/store"
unset EBPM_REGISTRY
ebpm() { node bin/ebpm.js "$@"; }
step() { printf '\n$ ebpm %s\n' "$*"; ebpm "$@"; }

step build examples/sigsnoop
step inspect examples/sigsnoop/out
step push examples/sigsnoop
step pull sigsnoop@1.2
step ls

# A process that signals itself with SIGUSR1 every half second while ebpm traces SIGUSR1.
sh -c 'trap "" USR1; sleep 1; for i in 1 2 3 4 5; do kill -USR1 $$; sleep 0.5; done' &
signaller=$!
step run sigsnoop@1.2 --duration 4 -- -s 10
wait "$signaller"
