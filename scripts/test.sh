#!/usr/bin/env bash
# Builds procpool and runs its test suite.
#
#   ./scripts/test.sh                          # Debug build in build/, every test
#   ./scripts/test.sh -- -L unit               # only the unit tests (args after -- go to ctest)
#   ./scripts/test.sh --sanitizer 'address;undefined'   # ASan+UBSan build in build-asan/
#   ./scripts/test.sh --sanitizer thread       # TSan build in build-tsan/, thread-mode tests
#   ./scripts/test.sh --all                    # plain, then ASan+UBSan (unit), then TSan
#
# Options:
#   --build-dir DIR     build directory (default: build/ in the repository, or
#                       build-asan/, build-tsan/ for a sanitizer run; --all uses
#                       DIR, DIR-asan and DIR-tsan)
#   --build-type TYPE   CMAKE_BUILD_TYPE (default: Debug; RelWithDebInfo for TSan)
#   --sanitizer LIST    'address;undefined' (or asan) or 'thread' (or tsan)
#   --all               the three runs above, each in its own build directory
#   --no-deps           do not run scripts/install-deps.sh first
#   -- ARGS...          passed to ctest, replacing the default test selection
#
# Default test selection: everything for a plain build; the `unit` label for the
# ASan+UBSan run of --all; for TSan the thread-mode tests (no test whose name
# says "process", none labelled notsan: TSan and fork from a threaded parent do
# not mix, see google/sanitizers#1590).
#
# Works on a fresh Debian 12 machine as root or with sudo (install-deps.sh
# installs the compilers and libraries). Exits non-zero if any step fails.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO

# The ctest selections. Test names of the process backend (typed-suite
# instantiations, fork tests, process-mode examples) contain "process"/"Process".
readonly TSAN_SELECT=(-LE notsan -E '[Pp]rocess')
readonly ASAN_ALL_SELECT=(-L unit)

build_dir=""
build_type=""
sanitizer=""
all=0
deps=1
ctest_args=()
have_ctest_args=0

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'test.sh: error: %s\n' "$*" >&2; exit 2; }

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

while [[ $# -gt 0 ]]; do
  case $1 in
    --build-dir) [[ $# -ge 2 ]] || die "--build-dir needs a value"; build_dir=$2; shift 2 ;;
    --build-dir=*) build_dir=${1#*=}; shift ;;
    --build-type) [[ $# -ge 2 ]] || die "--build-type needs a value"; build_type=$2; shift 2 ;;
    --build-type=*) build_type=${1#*=}; shift ;;
    --sanitizer) [[ $# -ge 2 ]] || die "--sanitizer needs a value"; sanitizer=$2; shift 2 ;;
    --sanitizer=*) sanitizer=${1#*=}; shift ;;
    --all) all=1; shift ;;
    --no-deps) deps=0; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; ctest_args=("$@"); have_ctest_args=1; break ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

# Normalise the sanitizer list: 'asan' and 'address,undefined' are accepted too.
normalise_sanitizer() {
  case $1 in
    "") echo "" ;;
    asan | address | 'address;undefined' | 'address,undefined' | 'undefined;address' | \
      'undefined,address') echo 'address;undefined' ;;
    tsan | thread) echo thread ;;
    *) die "unknown sanitizer '$1': use 'address;undefined' or 'thread'" ;;
  esac
}
sanitizer=$(normalise_sanitizer "$sanitizer")
if [[ $all -eq 1 && -n $sanitizer ]]; then
  die "--all runs every sanitizer already; do not combine it with --sanitizer"
fi

jobs=$(nproc 2>/dev/null || echo 2)

# run_suite NAME DIR BUILD_TYPE SANITIZER [DEFAULT_CTEST_ARGS...]
# Configures, builds and tests one build directory. Returns non-zero on failure.
run_suite() {
  local name=$1 dir=$2 type=$3 san=$4
  shift 4
  local select=("$@")
  if [[ $have_ctest_args -eq 1 ]]; then select=("${ctest_args[@]}"); fi

  log "[$name] configure: $dir ($type${san:+, sanitizer $san})"
  cmake -S "$REPO" -B "$dir" \
    -DCMAKE_BUILD_TYPE="$type" \
    -DPROCPOOL_WARNINGS_AS_ERRORS=ON \
    -DPROCPOOL_BUILD_TESTS=ON \
    -DPROCPOOL_BUILD_EXAMPLES=ON \
    -DPROCPOOL_SANITIZER="$san" || return 1

  log "[$name] build (-j$jobs)"
  cmake --build "$dir" -j"$jobs" || return 1

  # The environment of the test run; sanitizer runs get slower-test allowances
  # and sanitizer options (options already in the environment come last, so
  # they win).
  local env_vars=()
  local launcher=()
  if [[ -n $san ]]; then
    env_vars+=("PROCPOOL_TEST_TIMEOUT_MULTIPLIER=${PROCPOOL_TEST_TIMEOUT_MULTIPLIER:-4}")
    if [[ $san == thread ]]; then
      env_vars+=("TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1${TSAN_OPTIONS:+:$TSAN_OPTIONS}")
    else
      env_vars+=("ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}")
      env_vars+=("UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}")
    fi
    # Sanitizer runtimes of GCC 12 cannot map their shadow memory when the
    # kernel randomises more than 28 bits of mmap addresses; run without ASLR then.
    local bits
    bits=$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 0)
    if [[ $bits -gt 28 ]] && command -v setarch >/dev/null 2>&1; then
      log "[$name] vm.mmap_rnd_bits=$bits: running the tests with ASLR off (setarch -R)"
      launcher=(setarch "$(uname -m)" -R)
    fi
  fi

  log "[$name] ctest ${select[*]}"
  env "${env_vars[@]}" "${launcher[@]}" ctest --test-dir "$dir" --output-on-failure \
    -j2 --timeout 300 --no-tests=error "${select[@]}" || return 1
}

if [[ $deps -eq 1 ]]; then
  log "install dependencies"
  bash "$REPO/scripts/install-deps.sh"
fi

base=${build_dir:-$REPO/build}
failed=()

if [[ $all -eq 1 ]]; then
  run_suite plain "$base" "${build_type:-Debug}" "" || failed+=(plain)
  run_suite asan+ubsan "$base-asan" Debug 'address;undefined' "${ASAN_ALL_SELECT[@]}" ||
    failed+=(asan+ubsan)
  run_suite tsan "$base-tsan" RelWithDebInfo thread "${TSAN_SELECT[@]}" || failed+=(tsan)
elif [[ $sanitizer == thread ]]; then
  dir=${build_dir:-$REPO/build-tsan}
  run_suite tsan "$dir" "${build_type:-RelWithDebInfo}" thread "${TSAN_SELECT[@]}" ||
    failed+=(tsan)
elif [[ -n $sanitizer ]]; then
  dir=${build_dir:-$REPO/build-asan}
  run_suite asan+ubsan "$dir" "${build_type:-Debug}" "$sanitizer" || failed+=(asan+ubsan)
else
  run_suite plain "$base" "${build_type:-Debug}" "" || failed+=(plain)
fi

if [[ ${#failed[@]} -gt 0 ]]; then
  log "FAILED: ${failed[*]}"
  exit 1
fi
log "all test runs passed"
