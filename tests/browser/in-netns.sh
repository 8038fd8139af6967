#!/usr/bin/env bash
# Runs a command in a fresh network namespace that reaches nothing outside this machine:
# loopback, plus a veth pair whose two ends both live inside the namespace and carry a
# unique-local IPv6 address (fd51:7c3a:9e2b::1/64) and the default IPv6 route.
#
# Why the veth pair: Chromium gathers the ::1 loopback candidate only when the machine has a
# default IPv6 route (it asks the kernel for the source address toward a public IPv6
# address and, without one, treats IPv6 as disabled). Firefox has no such check. Anything
# routed out of v0 arrives on v1, in the same namespace, and is dropped there: no packet
# leaves the namespace.
#
# Usage: in-netns.sh COMMAND [ARGS...]   (run as root, or where unshare -n is allowed)
set -euo pipefail
exec unshare -n -- bash -c '
  set -e
  ip link set lo up
  if ip link add v0 type veth peer name v1 2>/dev/null; then
    ip link set v0 up
    ip link set v1 up
    ip -6 addr add fd51:7c3a:9e2b::1/64 dev v0 nodad
    ip -6 route add default dev v0
  else
    echo "in-netns: no veth support; Chromium will not gather IPv6 loopback candidates" >&2
  fi
  exec "$@"
' in-netns "$@"
