#!/usr/bin/env bash
# `procpool run --backend mpi` under mpiexec -n 3 against `procpool run` on
# this machine, on the same JSON Lines: the same tag -> state and value, the
# same rejected lines, the same exit code; MPI result lines and the joblog name
# host and rank, and more than one rank ran tasks; so does the README's demo
# batch. Then: --max-output on agent
# ranks, --results refused, and a launch that forgot --backend mpi ends.
#
#   cli_mpi_test.sh <procpool> <mpiexec> <work dir> <scripts/demo_batch.sh>
set -euo pipefail
procpool=$1 mpiexec=$2 work=$3 demo_batch=$4
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

# The README's demo batch (scripts/demo.sh) gives the same results through
# both backends ("date" aside, whose value is the time it ran).
bash "$demo_batch" "$work/demo.jsonl"
"$procpool" run -j 2 -o demo.local.jsonl demo.jsonl 2> demo.local.err || { cat demo.local.err >&2; fail "demo batch, local"; }
"$mpiexec" -n 3 "$procpool" run --backend mpi -j 1 -o demo.mpi.jsonl demo.jsonl 2> demo.mpi.err \
  || { cat demo.mpi.err >&2; fail "demo batch, mpi"; }
demo_shape='[.[] | {tag, state, value: (if .tag == "date" then null else .value end)}] | sort_by(.tag)'
cmp -s <(jq -s -c "$demo_shape" demo.local.jsonl) <(jq -s -c "$demo_shape" demo.mpi.jsonl) \
  || fail "demo batch: results differ between the backends"
[[ $(jq -s '[.[] | select(.state == "done")] | length' demo.mpi.jsonl) -eq 46 ]] || fail "demo batch: not every task done"
[[ $(jq -s '[.[] | .rank] | unique | length' demo.mpi.jsonl) -eq 3 ]] || fail "demo batch: not every rank ran tasks"

# --max-output reaches every rank's workers (they start as fresh programs, so
# only the pool's initializer carries it): 1.5 MiB of stdout, over the 1 MiB
# default, kept whole on whichever rank ran the job.
for i in $(seq 1 6); do
  printf '{"tag":"big%d","task":"exec","args":["sh","-c","yes x | head -c 1572864"]}\n' "$i"
done > big.jsonl
"$mpiexec" -n 3 "$procpool" run --backend mpi -j 1 --max-output 2000000 -o big.out.jsonl big.jsonl 2> big.err \
  || { cat big.err >&2; fail "the --max-output run failed"; }
[[ $(jq -s '[.[] | select(.state == "done" and (.value.stdout | length) == 1572864 and .value.truncated == false)] | length' big.out.jsonl) -eq 6 ]] \
  || fail "output cut on some rank: $(jq -s -c '[.[] | {tag, rank, n: (.value.stdout | length), truncated: .value.truncated}]' big.out.jsonl)"
[[ $(jq -s '[.[] | select(.rank != 0)] | length' big.out.jsonl) -gt 0 ]] || fail "no agent rank ran a --max-output job"

# --results is refused with --backend mpi (files would land on whichever node
# ran a job): a usage error, and the job ends.
set +e
"$mpiexec" -n 3 "$procpool" run --backend mpi --results res -o res.jsonl in.jsonl 2> res.err
rc=$?
set -e
[[ $rc -eq 2 ]] || { cat res.err >&2; fail "--results with --backend mpi: exit code $rc, expected 2"; }
grep -q -- '--results.*--backend mpi' res.err || { cat res.err >&2; fail "the refusal does not name --results and --backend mpi"; }
[[ ! -e res ]] || fail "--results made its directory although refused"

# Without --backend mpi under a launcher, rank 0 runs the batch alone and the
# other ranks, which waited for its pool, are told there is none and exit.
set +e
"$mpiexec" -n 3 "$procpool" run -j 2 -o nobackend.jsonl in.jsonl 2> nobackend.err
rc=$?
set -e
[[ $rc -eq $rc_local ]] || { cat nobackend.err >&2; fail "without --backend mpi: exit code $rc, local $rc_local"; }
jq -s -c "$shape" nobackend.jsonl | cmp -s - local.shape || fail "without --backend mpi: results differ from the local run"
[[ $(grep -c 'without an MPI pool' nobackend.err) -eq 2 ]] || { cat nobackend.err >&2; fail "the agents did not say why they ran nothing"; }
echo "cli_mpi_test: passed"
