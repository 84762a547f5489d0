#!/bin/sh
':' /*
# Run as a program (npm's link, a PATH entry), sh reads these lines; `node bin/ebpm.js` reads
# only the JavaScript at the end (biome.json leaves this file's layout alone for that).
# Commands start from a start-up snapshot (scripts/build.mjs; `ls` and `push` from their own), sparing
# them the ESM bundle's loading, when the node on PATH is the one that built it, unchanged since:
# the file dist/ebpm.blob.node names, with the stamp's modification time. A snapshot of another node
# would not load (Node exits 14), so otherwise they load the ESM bundle, as `node bin/ebpm.js`
# does; so does `ebpm agent` (a long-running process), whose runs start through this file with
# EBPM_NODE naming its own node instead of PATH's. `--version` needs no node at all.
self=$0
if [ -L "$self" ]; then self=$(readlink -f -- "$self"); fi
case $self in /*) ;; *) self=$PWD/$self ;; esac
dist=${self%/*}/../dist
case $1 in
--version | -V)
  if [ -f "$dist/version" ] && read -r version <"$dist/version"; then
    echo "ebpm $version"
    exit 0
  fi
  ;;
esac
node=${EBPM_NODE:-node}
IFS=:
[ -n "${EBPM_NODE:-}" ] || for dir in $PATH; do
  if [ -f "${dir:-.}/node" ] && [ -x "${dir:-.}/node" ]; then
    node=${dir:-.}/node
    break
  fi
done
unset IFS
# The command: the first argument that is not --plain-http <host> (main.ts takes those anywhere).
command=
host=
for arg; do
  if [ -n "$host" ]; then
    host=
  elif [ "$arg" = --plain-http ]; then
    host=next
  else
    command=$arg
    break
  fi
done
stamp=$dist/ebpm.blob.node
case $command in
agent) ;;
*)
  # The stamp: the node that built the snapshots, then the V8 flags they were built with, which a
  # start from one must repeat (scripts/snapshot.mjs; a stamp without them is an older build's).
  # `ls` and `push` have snapshots of their own, without the run path's heap.
  blob=ebpm.blob entry=ebpm-snapshot.cjs
  case $command in
  ls) blob=ebpm-ls.blob entry=ebpm-ls.cjs ;;
  push) blob=ebpm-push.blob entry=ebpm-push.cjs ;;
  esac
  if [ -f "$dist/$blob" ] && [ -f "$stamp" ] && { read -r built && read -r flags; } <"$stamp" &&
    [ "$node" -ef "$built" ] && ! [ "$node" -nt "$stamp" ] && ! [ "$node" -ot "$stamp" ]; then
    # shellcheck disable=SC2086 # the flags are words of their own
    exec "$node" $flags --snapshot-blob "$dist/$blob" "$dist/chunks/$entry" "$@"
  fi
  ;;
esac
exec "$node" "$self" "$@"
*/
import '../dist/ebpm.mjs';
