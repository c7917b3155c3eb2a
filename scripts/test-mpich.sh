#!/usr/bin/env bash
# Builds procpool's MPI backend against MPICH and runs the `mpi` tests with
# MPICH's launcher (Hydra), beside the Open MPI build that CI uses.
#
#   ./scripts/test-mpich.sh                    # build in build-mpich/, run ctest -L mpi
#   ./scripts/test-mpich.sh --build-dir DIR
#
# Installs MPICH (Debian 12: mpich libmpich-dev, 4.0.2) if it is missing. With
# Open MPI installed too, Debian's alternatives keep Open MPI as the default
# mpicc/mpirun (priority 50 against MPICH's 40); this build names MPICH's
# compiler wrappers and mpiexec explicitly and changes no alternative.
# Builds only what the mpi tests run (the procpool command and the tests/mpi
# programs), about 10 minutes on 2 cores. Exits non-zero if a step fails.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir="$REPO/build-mpich"
while [[ $# -gt 0 ]]; do
  case $1 in
    --build-dir) [[ $# -ge 2 ]] || { echo "test-mpich.sh: --build-dir needs a value" >&2; exit 2; }
                 build_dir=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "test-mpich.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

if [[ ! -x /usr/bin/mpicxx.mpich || ! -x /usr/bin/mpiexec.mpich ]]; then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo=sudo
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y mpich libmpich-dev
fi
bash "$REPO/scripts/install-deps.sh"

cmake -S "$REPO" -B "$build_dir" -DCMAKE_BUILD_TYPE=Debug -DPROCPOOL_WARNINGS_AS_ERRORS=ON \
  -DPROCPOOL_BUILD_TESTS=ON -DPROCPOOL_BUILD_EXAMPLES=OFF -DPROCPOOL_WITH_MPI=ON \
  -DMPI_CXX_COMPILER=/usr/bin/mpicxx.mpich -DMPI_C_COMPILER=/usr/bin/mpicc.mpich \
  -DMPIEXEC_EXECUTABLE=/usr/bin/mpiexec.mpich
targets=(procpool)
for src in "$REPO"/tests/mpi/mpi_*_test.cpp "$REPO"/tests/mpi/mpi_mismatch_agent.cpp; do
  targets+=("procpool_$(basename "$src" .cpp)")
done
cmake --build "$build_dir" -j"$(nproc 2>/dev/null || echo 2)" --target "${targets[@]}"
cd "$build_dir"
ctest -L mpi --timeout 300 --output-on-failure
