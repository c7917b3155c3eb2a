#!/usr/bin/env bash
# Per-job cost of the `procpool` command, one JSON object per figure on stdout:
#
#   {"bench":"cli_echo","mode":"process","workers":2,"lines":100000,"wall_s":0.52,"us_per_line":5.2,"cpu_s":0.9}
#   {"bench":"cli_exec_true","mode":"process","workers":2,"jobs":2000,"wall_s":0.61,"us_per_job":305.0}
#   {"bench":"xargs_true","workers":2,"jobs":2000,"wall_s":1.07,"us_per_job":535.0}
#
#   cli/bench/cli_bench.sh PATH/TO/procpool [-j N] [--lines N] [--jobs N] [--repeat N]
#
# Each figure is the best (lowest wall time) of --repeat runs (default 3), so a
# busy machine disturbs it less. Output goes to /dev/null; inputs are generated
# in a temporary directory.
set -euo pipefail

if [[ $# -lt 1 || $1 == -h || $1 == --help ]]; then
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
  exit 2
fi
exe=$1
shift
workers=2
lines=100000
jobs=2000
repeat=3
while [[ $# -gt 0 ]]; do
  case $1 in
    -j) workers=$2; shift 2 ;;
    --lines) lines=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    *) echo "cli_bench.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

for ((i = 0; i < lines; i++)); do printf '{"tag":"t%d","task":"echo","args":[%d,"x"]}\n' "$i" "$i"; done >"$dir/echo.jsonl"
for ((i = 0; i < jobs; i++)); do printf '{"tag":"x%d","task":"exec","args":["true"]}\n' "$i"; done >"$dir/exec.jsonl"
seq "$jobs" >"$dir/seq.txt"

# best_of CMD...: the lowest wall time, and that run's user+sys CPU, of $repeat runs.
best_wall=""
best_cpu=""
best_of() {
  best_wall=""
  best_cpu=""
  for ((r = 0; r < repeat; r++)); do
    /usr/bin/time -o "$dir/time.txt" -f '%e %U %S' "$@" >/dev/null 2>&1 || true
    local wall user sys
    read -r wall user sys <"$dir/time.txt"
    local cpu
    cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
    if [[ -z $best_wall ]] || awk -v a="$wall" -v b="$best_wall" 'BEGIN { exit !(a < b) }'; then
      best_wall=$wall
      best_cpu=$cpu
    fi
  done
}

for mode in process thread; do
  best_of "$exe" run --mode "$mode" -j "$workers" --quiet "$dir/echo.jsonl"
  awk -v m="$mode" -v w="$workers" -v n="$lines" -v t="$best_wall" -v c="$best_cpu" 'BEGIN {
    printf "{\"bench\":\"cli_echo\",\"mode\":\"%s\",\"workers\":%d,\"lines\":%d,\"wall_s\":%.3f,\"us_per_line\":%.2f,\"cpu_s\":%.2f}\n",
      m, w, n, t, t * 1e6 / n, c }'
done
for mode in process thread; do
  best_of "$exe" run --mode "$mode" -j "$workers" --quiet "$dir/exec.jsonl"
  awk -v m="$mode" -v w="$workers" -v n="$jobs" -v t="$best_wall" 'BEGIN {
    printf "{\"bench\":\"cli_exec_true\",\"mode\":\"%s\",\"workers\":%d,\"jobs\":%d,\"wall_s\":%.3f,\"us_per_job\":%.1f}\n",
      m, w, n, t, t * 1e6 / n }'
done
best_of xargs -P "$workers" -n1 -a "$dir/seq.txt" true
awk -v w="$workers" -v n="$jobs" -v t="$best_wall" 'BEGIN {
  printf "{\"bench\":\"xargs_true\",\"workers\":%d,\"jobs\":%d,\"wall_s\":%.3f,\"us_per_job\":%.1f}\n",
    w, n, t, t * 1e6 / n }'
