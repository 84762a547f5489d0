#!/usr/bin/env bash
# The quick start: set up this machine, then build the sigsnoop example and inspect it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
ebpm() { node bin/ebpm.js "$@"; }

echo '$ ebpm build examples/sigsnoop'
ebpm build examples/sigsnoop
echo '$ ebpm inspect examples/sigsnoop/out'
ebpm inspect examples/sigsnoop/out
