#!/usr/bin/env bash
# The quick start: set up this machine, build the sigsnoop example, push it to the default
# registry (the embedded one when none is configured), pull sigsnoop@1.2 into the local store,
# and run it from there for a few seconds while this script sends it some signals to see.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
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
