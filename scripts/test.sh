#!/usr/bin/env bash
# Runs every test of the project on a Debian 12 machine, installing what it needs first.
# This is the README's test command; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

# --- system packages -------------------------------------------------------------------------
# openssl's headers and pkg-config build the openssl crate; a C++ compiler builds libFuzzer for
# the fuzz crate's compile check.
packages=(pkg-config libssl-dev build-essential)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

# --- static checks ---------------------------------------------------------------------------
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy (workspace, all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

# --- Rust tests ------------------------------------------------------------------------------
if cargo nextest --version >/dev/null 2>&1; then
  log "cargo nextest run (unit, property, RFC vector, malformed-input and integration tests)"
  cargo nextest run --workspace --locked --no-fail-fast
else
  log "cargo test (cargo-nextest not installed)"
  cargo test --workspace --locked --no-fail-fast --lib --bins --tests
fi
log "doctests"
cargo test --workspace --locked --doc

# --- fuzz targets still build (benchmarks are type-checked by clippy above) --------------------
log "fuzz targets compile"
cargo check --manifest-path fuzz/Cargo.toml --bins --locked
