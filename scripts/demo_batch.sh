#!/usr/bin/env bash
# Writes the demo batch (JSON Lines) to FILE: CPU-bound primes counts, a few
# commands run without a shell, a digest of the batch file itself, a sleep and
# an echo. scripts/demo.sh runs it; the MPI test runs it through both backends.
#
#   scripts/demo_batch.sh FILE
set -euo pipefail
batch=${1:?usage: demo_batch.sh FILE}
{
  for i in $(seq 1 40); do
    printf '{"tag":"primes-%02d","task":"primes","args":%d}\n' "$i" $((200000 + i * 20000))
  done
  printf '{"tag":"uname","task":"exec","args":["uname","-sr"]}\n'
  printf '{"tag":"date","task":"exec","args":["date","-u","+%%Y-%%m-%%dT%%H:%%M:%%SZ"]}\n'
  printf '{"tag":"literal","task":"exec","args":["printf","%%s","; touch /tmp/not-run $(id)"]}\n'
  printf '{"tag":"sha256-batch","task":"sha256","args":"%s"}\n' "$batch"
  printf '{"tag":"sleep","task":"sleep","args":200}\n'
  printf '{"tag":"echo","task":"echo","args":{"hello":"procpool"}}\n'
} > "$batch"
