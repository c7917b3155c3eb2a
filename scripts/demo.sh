#!/usr/bin/env bash
# The README's main job: a demo batch through the `procpool` command.
#
#   ./scripts/demo.sh                    # process mode, one worker per core
#   ./scripts/demo.sh --mode thread -j 2 # any `procpool run` option
#   ./scripts/demo.sh --no-deps ...      # skip scripts/install-deps.sh
#
# Installs the dependencies (Debian 12, as root or with sudo), builds the
# `procpool` command (Release, in build-demo/ or $PROCPOOL_DEMO_BUILD_DIR),
# writes a batch of 40 CPU-bound `primes` tasks and 6 `exec` tasks as JSON
# Lines, and runs it with a progress line and a summary on stderr. Results go
# to build-demo/demo-results.jsonl; the first lines are shown. Exits with the
# command's exit code (0: every task done).
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
  -DPROCPOOL_BUILD_TESTS=OFF -DPROCPOOL_BUILD_EXAMPLES=OFF -DPROCPOOL_SANITIZER= >/dev/null

log "build the procpool command"
cmake --build "$BUILD_DIR" -j"$(nproc 2>/dev/null || echo 2)" --target procpool

batch=$BUILD_DIR/demo.jsonl
results=$BUILD_DIR/demo-results.jsonl
bash "$REPO/scripts/demo_batch.sh" "$batch"

log "procpool run --progress $* $batch > $results"
set +e
"$BUILD_DIR/cli/procpool" run --progress "$@" --output "$results" "$batch"
rc=$?
set -e
log "first results ($results):"
head -n 5 "$results" >&2
grep -E '"tag":"(uname|literal)"' "$results" >&2 || true
exit $rc
