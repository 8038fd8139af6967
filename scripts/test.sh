#!/usr/bin/env bash
# Runs every test of the project on a Debian 12 machine, installing what it needs first.
# This is the README's test command; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

# --- system packages -------------------------------------------------------------------------
# openssl's headers and pkg-config build the openssl crate; a C++ compiler builds libFuzzer for
# the fuzz crate's compile check.
# chromium and firefox-esr are the stock browsers of the interop tests; openssl makes the turn
# server's test certificate and libnss3-tools (certutil) makes Firefox trust it; nodejs/npm
# only when the machine has no Node.js.
packages=(pkg-config libssl-dev build-essential chromium firefox-esr openssl libnss3-tools)
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# The pinned Playwright (tests/browser/package-lock.json) drives Firefox ESR 153 and newer;
# an older firefox-esr left on the machine (ESR 140 and before lack WebDriver BiDi's
# network.addDataCollector) is upgraded, and chromium with it.
ff_major=$(firefox-esr --version 2>/dev/null | grep -Eo '[0-9]+' | head -1 || true)
if [ -n "$ff_major" ] && [ "$ff_major" -lt 153 ]; then
  missing+=(firefox-esr chromium)
fi
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
logs=$(mktemp -d)
if cargo nextest --version >/dev/null 2>&1; then
  log "cargo nextest run (unit, property, RFC vector, malformed-input and integration tests)"
  cargo nextest run --workspace --locked --no-fail-fast 2>&1 | tee "$logs/rust.log"
else
  log "cargo test (cargo-nextest not installed)"
  cargo test --workspace --locked --no-fail-fast --lib --bins --tests 2>&1 | tee "$logs/rust.log"
fi
log "doctests"
cargo test --workspace --locked --doc 2>&1 | tee "$logs/doc.log"

# --- fuzz targets still build (benchmarks are type-checked by clippy above) --------------------
log "fuzz targets compile"
cargo check --manifest-path fuzz/Cargo.toml --bins --locked

# --- TURN interop: coturn's client tools against the turn binary -------------------------------
# tests/interop/turn-coturn.sh fetches Debian's coturn package with `apt-get download` and
# unpacks only its turnutils_uclient and turnutils_peer (with libevent) into
# target/interop/coturn, once: nothing is installed system-wide and coturn's server never runs.
log "TURN interop with coturn's turnutils_uclient (UDP, TCP, TLS; long-term and REST credentials)"
tests/interop/turn-coturn.sh 2>&1 | tee "$logs/interop.log"

# --- browser interop: stock Chromium and Firefox against the sfu and turn binaries ------------
log "browser tests (Playwright, Chromium and Firefox ESR)"
cargo build --locked -p sfu -p turn --bins
export HOME="${HOME:-/root}"
(
  cd tests/browser
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
  # A fresh network namespace keeps the browsers off any real network when this machine
  # allows it (see in-netns.sh); otherwise the tests run as they are (they use loopback only).
  if unshare -n true 2>/dev/null; then
    ./in-netns.sh npx playwright test 2>&1 | tee "$logs/browser.log"
  else
    npx playwright test 2>&1 | tee "$logs/browser.log"
  fi
)

# --- one closing line for the whole run ----------------------------------------------------------
rust_passed=$(grep -Eo '[0-9]+ passed' "$logs/rust.log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
doc_passed=$(awk '/^test result: ok\./ { n += $4 } END { print n + 0 }' "$logs/doc.log")
interop_passed=$(grep -Eo '^coturn interop: [0-9]+ passed' "$logs/interop.log" | grep -Eo '[0-9]+' || echo 0)
browser_passed=$(grep -Eo '^ *[0-9]+ passed' "$logs/browser.log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
browser_skipped=$(grep -Eo '^ *[0-9]+ skipped' "$logs/browser.log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
echo
echo "all tests: $((rust_passed + doc_passed + interop_passed + browser_passed)) passed, 0 failed, ${browser_skipped} skipped"
