#!/usr/bin/env bash
# Builds procpool (Release, in build-demo/) and runs the demo batch: ~40
# CPU-bound tagged tasks over a process pool, one JSON line per result and a
# summary line at the end.
#
#   ./scripts/demo.sh                      # process mode, one worker per CPU
#   ./scripts/demo.sh --mode thread -j 4   # arguments go to examples/demo_batch
#   ./scripts/demo.sh --no-deps ...        # skip scripts/install-deps.sh
#
# Works on a fresh Debian 12 machine as root or with sudo. Exits with the demo's
# status: 0 when every task ended `done` with the right value.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO
readonly BUILD_DIR=${PROCPOOL_DEMO_BUILD_DIR:-$REPO/build-demo}

deps=1
if [[ ${1:-} == --no-deps ]]; then
  deps=0
  shift
fi

log() { printf '==> %s\n' "$*" >&2; }

if [[ $deps -eq 1 ]]; then
  log "install dependencies"
  bash "$REPO/scripts/install-deps.sh"
fi

log "configure $BUILD_DIR (Release)"
cmake -S "$REPO" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release \
  -DPROCPOOL_BUILD_TESTS=OFF -DPROCPOOL_BUILD_EXAMPLES=ON -DPROCPOOL_SANITIZER= >/dev/null

log "build demo_batch"
cmake --build "$BUILD_DIR" -j"$(nproc 2>/dev/null || echo 2)" --target demo_batch

log "run: examples/demo_batch $*"
exec "$BUILD_DIR/examples/demo_batch" "$@"
