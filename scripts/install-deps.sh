#!/usr/bin/env bash
# Installs what procpool needs to build and test, on Debian 12 (bookworm).
#
#   ./scripts/install-deps.sh
#
# Idempotent: it installs only the packages that are missing. Run it as root, or
# as a user with sudo. Boost comes from libboost1.81-dev, which conflicts with
# Debian's default libboost-dev (1.74): if that one is installed it is removed.
set -euo pipefail

readonly PACKAGES=(
  libboost1.81-dev
  nlohmann-json3-dev
  libgtest-dev
  libgmock-dev
  libbenchmark-dev
  libcli11-dev
  libssl-dev  # libcrypto: the built-in sha256 task
  jq          # tests: the docs/cli.md recipes pipe through jq
  python3     # bench: the multiprocessing peer (bench/peers/mp_peer.py) and the tables
  openmpi-bin      # the MPI backend's tests run under mpiexec
  libopenmpi-dev   # the MPI backend (PROCPOOL_WITH_MPI)
  cmake
  g++
  make
  pkg-config
)
# Debian's default Boost (1.74) and its meta package: they conflict with 1.81.
readonly CONFLICTING=(libboost-dev libboost1.74-dev)

log() { printf 'install-deps: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Run a command as root: directly when we are root, else through sudo (which
# resets the environment, hence the explicit DEBIAN_FRONTEND).
as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo env DEBIAN_FRONTEND=noninteractive "$@"
  else
    die "not root and sudo is not available: run this script as root"
  fi
}

# True when the package is installed ("install ok installed").
installed() {
  local status
  status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)
  [[ $status == "install ok installed" ]]
}

for tool in apt-get dpkg-query; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found: this script is for Debian 12"
done

if [[ -r /etc/os-release ]]; then
  # shellcheck disable=SC1091  # a system file, not part of the repository
  . /etc/os-release
  if [[ ${ID:-} != debian || ${VERSION_ID:-} != 12 ]]; then
    log "warning: written for Debian 12, this is ${PRETTY_NAME:-unknown}; trying anyway"
  fi
fi

export DEBIAN_FRONTEND=noninteractive

missing=()
for pkg in "${PACKAGES[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done
conflicts=()
for pkg in "${CONFLICTING[@]}"; do
  if installed "$pkg"; then conflicts+=("$pkg"); fi
done

log "apt-get update"
if ! as_root apt-get update -q; then
  if [[ ${#missing[@]} -eq 0 && ${#conflicts[@]} -eq 0 ]]; then
    log "warning: apt-get update failed, but nothing needs installing"
    exit 0
  fi
  die "apt-get update failed"
fi

if [[ ${#conflicts[@]} -gt 0 ]]; then
  log "found ${conflicts[*]}: it conflicts with libboost1.81-dev, removing it"
  as_root apt-get remove -y -q "${conflicts[@]}"
fi

if [[ ${#missing[@]} -eq 0 ]]; then
  log "all packages present: ${PACKAGES[*]}"
  exit 0
fi

log "installing ${missing[*]}"
as_root apt-get install -y -q --no-install-recommends "${missing[@]}"

# Verify, so that a silently skipped package fails here and not in cmake.
for pkg in "${PACKAGES[@]}"; do
  installed "$pkg" || die "$pkg is still not installed"
done
log "done"
