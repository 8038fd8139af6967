#!/usr/bin/env bash
# Builds and starts the main job on a Debian 12 machine: the sfu (HTTP API, demo page, media
# on one UDP port per address family) and the turn server, with their embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(pkg-config libssl-dev build-essential)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

cargo build --release --locked -p sfu -p turn
# One TURN REST shared secret for both: turn checks the credentials the sfu's API mints
# (POST /v1/turn/keys/default/credentials/generate-ice-servers, bearer = this secret).
if [ -n "${TURN_AUTH_SECRET:-}" ]; then
  turn_secret="$TURN_AUTH_SECRET"
else
  turn_secret=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  echo "generated TURN shared secret (the sfu's TURN key 'default'): $turn_secret" >&2
fi
TURN_AUTH_SECRET="$turn_secret" ./target/release/turn &
turn_pid=$!
trap 'kill "$turn_pid" 2>/dev/null || true' EXIT
SFU_TURN_KEY_SECRET="$turn_secret" ./target/release/sfu
