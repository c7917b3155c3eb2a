#!/usr/bin/env bash
# Builds the procpool benchmarks (Release) and runs every family, printing one
# JSON object per figure on stdout:
#
#   {"bench": ..., "mode": ..., "value": <median>, "unit": ..., "runs": N,
#    "min": ..., "median": ..., "max": ..., <extra keys: workers, items, start,
#    kind, window, load1 (the 1-minute load average when it was printed)...>}
#
#   bench/run.sh                     # full run (several minutes on 2 cores)
#   bench/run.sh --quick             # every family, fewer items and runs (CI)
#   bench/run.sh --only latency,map  # some families
#   bench/run.sh -- --filter p50     # args after -- go to every program
#   bench/run.sh --compare > r.jsonl # procpool against its peers, targets table on stderr
#
# Figures compared with a peer (Python's multiprocessing, boost::asio's
# thread_pool, a pipe ping-pong, xargs -P; run in the same repetitions) also
# carry "peer", "peer_value" and "ratio" (> 1: procpool is better). Whenever a
# run printed such figures, the targets table (bench/compare.py) follows on
# stderr, after the JSON; stdout stays JSON lines only.
#
# Options:
#   --quick            fewer items and repetitions: well under a minute of runs
#   --compare          the families with peers or targets (submit, map, latency,
#                      startup, payload, run, growth) and only their 2-worker
#                      configurations (what the targets are stated for; mpi,
#                      3 workers and no target, is not among them)
#   --build-dir DIR    build directory (default: build-bench/ in the repository)
#   --only LIST        comma-separated families: submit, map, latency, scaling,
#                      startup, memory, payload, shared, run, growth, mpi
#   --no-build         run what DIR already holds
#   --werror           build the library with PROCPOOL_WARNINGS_AS_ERRORS=ON too
#                      (the bench programs always build with -Werror)
#   -- ARGS...         passed to every program (--runs N, --items N, --filter TEXT)
#
# The mpi family (the MPI backend, 3 ranks x 1 worker, against the local pool
# with 3 workers) runs under `mpiexec -n 3`, with the Open MPI variables that
# running as root on a small machine needs set for that command only. It is
# built only with the MPI backend; without the backend or without mpiexec it
# is skipped with a note on stderr, never failed.
#
# Build output, progress and the load average go to stderr. Exits non-zero if
# the build fails or any program fails (a wrong result, an exception, a
# timeout); times are reported, never asserted.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO

quick=0
compare=0
build_dir=""
only=""
build=1
werror=OFF
prog_args=()

die() { printf 'bench/run.sh: error: %s\n' "$*" >&2; exit 2; }
log() { printf '==> %s\n' "$*" >&2; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) quick=1; shift ;;
    --compare) compare=1; shift ;;
    --build-dir) [[ $# -ge 2 ]] || die "--build-dir needs a value"; build_dir=$2; shift 2 ;;
    --build-dir=*) build_dir=${1#*=}; shift ;;
    --only) [[ $# -ge 2 ]] || die "--only needs a value"; only=$2; shift 2 ;;
    --only=*) only=${1#*=}; shift ;;
    --no-build) build=0; shift ;;
    --werror) werror=ON; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; prog_args=("$@"); break ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

build_dir=${build_dir:-$REPO/build-bench}
jobs=$(nproc 2>/dev/null || echo 2)

if [[ $build -eq 1 ]]; then
  log "configure $build_dir (Release)"
  cmake -S "$REPO" -B "$build_dir" \
    -DCMAKE_BUILD_TYPE=Release \
    -DPROCPOOL_BUILD_BENCH=ON \
    -DPROCPOOL_BENCH_WERROR=ON \
    -DPROCPOOL_WARNINGS_AS_ERRORS="$werror" \
    -DPROCPOOL_BUILD_TESTS=OFF \
    -DPROCPOOL_BUILD_EXAMPLES=OFF >&2
  log "build (-j$jobs)"
  cmake --build "$build_dir" --target procpool_benchmarks -j"$jobs" >&2
fi

list=$build_dir/bench/families.txt
[[ -f $list ]] || die "$list not found: build first (without --no-build)"
mapfile -t families < <(grep -v '^$' "$list")
if ! printf '%s\n' "${families[@]}" | grep -qx shared; then
  log "family 8 (shared_dict/shared_array) is not in this build: the pool has no shared-state API (make_dict) yet"
fi
if ! printf '%s\n' "${families[@]}" | grep -qx mpi; then
  log "family 11 (mpi) is not in this build: no MPI backend or no mpiexec when it was configured"
fi
if [[ -z $only && $compare -eq 1 ]]; then
  # The compared families this build has (run needs the procpool command).
  only=$(printf '%s\n' "${families[@]}" | grep -xE 'submit|map|latency|startup|payload|run|growth' | paste -sd, -)
fi
if [[ -n $only ]]; then
  IFS=, read -r -a wanted <<<"$only"
  picked=()
  for w in "${wanted[@]}"; do
    if printf '%s\n' "${families[@]}" | grep -qx "$w"; then
      picked+=("$w")
    elif [[ $w == mpi ]]; then
      log "mpi skipped: not in this build (no MPI backend or no mpiexec)"  # never a failure
    else
      die "no family '$w' in this build (have: ${families[*]})"
    fi
  done
  families=("${picked[@]}")
fi

args=()
limit=1800
if [[ $quick -eq 1 ]]; then
  args+=(--quick)
  limit=120
fi
[[ $compare -eq 1 ]] && args+=(--workers 2)
args+=("${prog_args[@]}")

# The JSON lines are also kept here, for the targets table at the end.
results=$(mktemp)
trap 'rm -f "$results"' EXIT

# The launcher of the mpi family: the one CMake found, else any on PATH.
mpiexec=$(cat "$build_dir/bench/mpiexec.txt" 2>/dev/null || true)
[[ -n $mpiexec && -x $mpiexec ]] || mpiexec=$(command -v mpiexec || true)
mpi_env=(OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
  OMPI_MCA_btl_vader_single_copy_mechanism=none)  # as tests/mpi/CMakeLists.txt sets them

log "load average before: $(cat /proc/loadavg) ($(nproc) CPUs)"
failed=()
start=$SECONDS
for f in "${families[@]}"; do
  exe=$build_dir/bench/procpool_bench_$f
  [[ -x $exe ]] || die "$exe not built"
  launch=("$exe")
  if [[ $f == mpi ]]; then
    if [[ -z $mpiexec ]]; then
      log "mpi skipped: no mpiexec found"
      continue
    fi
    launch=(env "${mpi_env[@]}" "$mpiexec" -n 3 "$exe")
  fi
  t0=$SECONDS
  log "$f"
  # stdout (the JSON lines) streams through tee; a hung program is killed.
  if ! timeout --kill-after=10 "$limit" "${launch[@]}" "${args[@]}" | tee -a "$results"; then
    log "$f FAILED"
    failed+=("$f")
  fi
  log "$f took $((SECONDS - t0)) s"
done
log "load average after: $(cat /proc/loadavg); all runs took $((SECONDS - start)) s"
if grep -q '"peer":' "$results"; then
  if command -v python3 >/dev/null 2>&1; then
    log "targets: procpool against its peers (bench/compare.py)"
    python3 "$REPO/bench/compare.py" "$results" >&2
  else
    log "targets table skipped: python3 not found (the JSON lines above carry every ratio)"
  fi
fi
if [[ ${#failed[@]} -gt 0 ]]; then
  log "FAILED: ${failed[*]}"
  exit 1
fi
