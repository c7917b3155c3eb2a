#!/usr/bin/env bash
# `procpool run --backend mpi` under mpiexec -n 3 against `procpool run` on
# this machine, on the same JSON Lines: the same tag -> state and value, the
# same rejected lines, the same exit code; MPI result lines and the joblog name
# host and rank, and more than one rank ran tasks.
#
#   cli_mpi_test.sh <procpool> <mpiexec> <work dir>
set -euo pipefail
procpool=$1 mpiexec=$2 work=$3
rm -rf "$work" && mkdir -p "$work" && cd "$work"

{
  for i in $(seq 1 12); do printf '{"tag":"s%d","task":"sleep","args":[30]}\n' "$i"; done
  for i in $(seq 1 6); do printf '{"tag":"e%d","task":"echo","args":{"n":%d}}\n' "$i" "$i"; done
  printf '{"tag":"ok","task":"exec","args":["sh","-c","echo out"]}\n'
  printf '{"tag":"fails","task":"exec","args":["sh","-c","exit 3"]}\n'
  printf '{"tag":"killed","task":"exec","args":["sh","-c","kill -9 $$"]}\n'
  printf '{"tag":"unknown","task":"no_such_task"}\n'
  printf 'not json\n'
  printf '{"tag":"e1","task":"echo","args":[0]}\n'  # a duplicate tag
} > in.jsonl

fail() { echo "cli_mpi_test: $*" >&2; exit 1; }

set +e
"$procpool" run -j 2 -o local.jsonl in.jsonl 2> local.err
rc_local=$?
"$mpiexec" -n 3 "$procpool" run --backend mpi -j 1 -o mpi.jsonl --joblog mpi.joblog in.jsonl 2> mpi.err
rc_mpi=$?
set -e
[[ $rc_local -eq 1 ]] || fail "local exit code $rc_local, expected 1 (some lines not done)"
[[ $rc_mpi -eq $rc_local ]] || { cat mpi.err >&2; fail "mpi exit code $rc_mpi, local $rc_local"; }

shape='[.[] | {tag, state, value, line, exit_code, signal}] | sort_by(.line)'
jq -s -c "$shape" local.jsonl > local.shape
jq -s -c "$shape" mpi.jsonl > mpi.shape
cmp -s local.shape mpi.shape || { diff <(jq . local.shape) <(jq . mpi.shape) >&2; fail "results differ"; }
[[ $(jq -s 'length' mpi.jsonl) -eq 24 ]] || fail "expected 24 result lines"

# Every task that ran names its host and rank; the work spread over the ranks.
[[ $(jq -s '[.[] | select(.state != "rejected") | select((.host | type) != "string" or (.rank | type) != "number")] | length' mpi.jsonl) -eq 0 ]] \
  || fail "a result line without host or rank"
[[ $(jq -s '[.[] | select(.state != "rejected") | .rank] | unique | length' mpi.jsonl) -eq 3 ]] \
  || fail "not every rank ran tasks: $(jq -s -c '[.[] | .rank] | unique' mpi.jsonl)"
# The joblog's Host column: <host>/<rank>.
[[ $(awk -F'\t' 'NR > 1 && $2 !~ /^[^\/]+\/[0-2]$/' mpi.joblog | wc -l) -eq 0 ]] || fail "joblog Host column"
[[ $(awk 'NR > 1' mpi.joblog | wc -l) -eq 21 ]] || fail "joblog lines"
echo "cli_mpi_test: passed"
