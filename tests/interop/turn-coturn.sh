#!/usr/bin/env bash
# Interop of our `turn` binary with an independent TURN client: coturn's command-line test
# tools from Debian's `coturn` package (`turnutils_uclient` as the client, `turnutils_peer` as
# the UDP echo peer). Only those two tools are used: the package is fetched with
# `apt-get download` and unpacked with `dpkg -x` into target/interop/coturn, so nothing is
# installed system-wide and no daemon starts; coturn's own server is never run.
#
# Each case runs turnutils_uclient against our server on loopback and checks from its output
# that every message came back through the relay (sent = received = expected, 0 lost), and
# from our server's log that the credentials were the kind asked for. The `tcprelay-*` cases
# run `turnutils_uclient -T`: TCP relays (RFC 6062) client to client, over TCP and TLS. The
# last case runs a server without --allow-loopback-peers and checks that it refuses the
# loopback peer (403).
#
# Usage: tests/interop/turn-coturn.sh    (from anywhere; builds target/debug/turn first)
# Prints a summary table, then "coturn interop: N passed, M failed"; exits non-zero on any
# failure. KEEP_WORK=1 keeps the logs of every process (the path is printed at the end);
# TURN_BIN=PATH runs that turn binary instead of building target/debug/turn.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

cache="$root/target/interop/coturn"
work=$(mktemp -d "${TMPDIR:-/tmp}/turn-coturn.XXXXXX")
pids=()
# Ends the background processes this script started that still run: `jobs -pr` lists only
# this shell's children not yet reaped, so no PID can have been reused by another process.
cleanup() {
  local pid
  for pid in $(jobs -pr); do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP_WORK:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '==> %s\n' "$*"; }
die() { printf 'turn-coturn: %s\n' "$*" >&2; exit 1; }

# --- coturn's two tools, unpacked into the cache --------------------------------------------
# libevent's core and extra libraries are unpacked beside them: Debian 12 does not always have
# them, and installing them would be a system change. libssl3 and libc are part of the base
# system (and scripts/test.sh installs openssl).
debs=(coturn libevent-core-2.1-7 libevent-extra-2.1-7)
libdir="$cache/usr/lib/x86_64-linux-gnu"
uclient="$cache/usr/bin/turnutils_uclient"
peer_bin="$cache/usr/bin/turnutils_peer"

tools_run() {
  [ -x "$uclient" ] && [ -x "$peer_bin" ] || return 1
  ! LD_LIBRARY_PATH="$libdir" ldd "$uclient" "$peer_bin" | grep -q 'not found'
}

if ! tools_run; then
  log "fetching coturn's test tools (apt-get download ${debs[*]}; unpacked, not installed)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  dl="$work/debs"
  mkdir -p "$dl"
  # As root, apt's download sandbox user cannot write here; download as root instead.
  apt_opts=(); [ "$(id -u)" -eq 0 ] && apt_opts=(-o APT::Sandbox::User=root)
  if ! (cd "$dl" && apt-get download -q "${apt_opts[@]}" "${debs[@]}") >"$work/apt.log" 2>&1; then
    # A fresh machine may not have the package lists yet.
    $SUDO apt-get update -q >/dev/null
    (cd "$dl" && apt-get download -q "${apt_opts[@]}" "${debs[@]}") >"$work/apt.log" 2>&1 \
      || { cat "$work/apt.log" >&2; die "apt-get download ${debs[*]} failed"; }
  fi
  rm -rf "$cache"
  mkdir -p "$cache"
  for deb in "$dl"/*.deb; do dpkg -x "$deb" "$cache"; done
  (cd "$dl" && ls ./*.deb) | sed 's|^\./||' >"$cache/DEBS"
  if ! tools_run; then
    LD_LIBRARY_PATH="$libdir" ldd "$uclient" "$peer_bin" >&2 || true
    die "coturn's tools do not run from $cache (a library missing, see above)"
  fi
fi
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
log "coturn tools from $(tr '\n' ' ' <"$cache/DEBS" 2>/dev/null || echo "$cache")"

# --- our server -----------------------------------------------------------------------------
if [ -n "${TURN_BIN:-}" ]; then
  turn=$TURN_BIN
else
  log "cargo build -p turn --bin turn"
  cargo build --locked -q -p turn --bin turn
  turn="$root/target/debug/turn"
fi

# A UDP port pair (port, port + 1) nobody listens on: turnutils_peer binds both, with
# SO_REUSEPORT, so a busy port would not make it fail but would share its traffic.
udp_ports_in_use() {
  local _ local_addr
  tail -q -n +2 /proc/net/udp /proc/net/udp6 | while read -r _ local_addr _; do
    echo $((16#${local_addr##*:}))
  done
}
free_udp_pair() {
  local used p _
  used=" $(udp_ports_in_use | tr '\n' ' ') "
  for _ in $(seq 1 200); do
    p=$((20000 + (RANDOM % 5000) * 2))
    [[ $used != *" $p "* && $used != *" $((p + 1)) "* ]] && { echo "$p"; return; }
  done
  die "no free UDP port pair found"
}

# Starts turn with the given flags; its stdout/stderr go to $work/$name.{out,err}. Waits for
# the "listening ..." line and leaves it in $turn_line.
start_turn() {
  local name=$1; shift
  timeout 300 "$turn" "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
  local _
  for _ in $(seq 1 100); do
    if grep -q '^listening ' "$work/$name.out" 2>/dev/null; then
      turn_line=$(head -1 "$work/$name.out")
      return
    fi
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  cat "$work/$name.err" >&2
  die "turn ($name) did not start"
}
# The port of the first listener of a kind and address in a "listening ..." line.
port_of() { # line kind addr-prefix
  tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p" | tr ',' '\n' | grep -F "$3" | head -1 \
    | sed 's/.*://'
}

secret=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')

# Every case: name, uclient transport flags, server family, credentials (lt: long-term static
# user, rest: TURN REST with the shared secret), mode (channel: ChannelBind and ChannelData;
# send: CreatePermission and Send/Data indications), clients (-m), allocations per client
# (2: uclient's RTP/RTCP pair, the first with EVEN-PORT's R bit and the second claiming the
# reserved port with RESERVATION-TOKEN; 1: -c).
cases=(
  "udp-lt-channel     udp  4 lt   channel 1 2"
  "udp-lt-send        udp  4 lt   send    1 2"
  "udp-rest-channel   udp  4 rest channel 1 2"
  "udp-rest-send      udp  4 rest send    1 2"
  "tcp-lt-channel     tcp  4 lt   channel 1 2"
  "tcp-lt-send        tcp  4 lt   send    1 2"
  "tcp-rest-channel   tcp  4 rest channel 1 2"
  "tcp-rest-send      tcp  4 rest send    1 2"
  "tls-lt-channel     tls  4 lt   channel 1 2"
  "tls-lt-send        tls  4 lt   send    1 2"
  "tls-rest-channel   tls  4 rest channel 1 2"
  "tls-rest-send      tls  4 rest send    1 2"
  "udp6-lt-channel    udp  6 lt   channel 1 2"
  "tcp6-rest-send     tcp  6 rest send    1 2"
  "udp-lt-channel-x4  udp  4 lt   channel 4 1"
)
messages=50   # per allocation
length=1200   # bytes per message

# IPv6 cases need ::1 (some containers run without IPv6).
v6_listeners=(--udp-listen '[::1]:0' --tcp-listen '[::1]:0')
if ! grep -q '^0\{31\}1 ' /proc/net/if_inet6 2>/dev/null; then
  echo "    no ::1 on this machine: the IPv6 cases are skipped"
  v6_listeners=()
  kept=()
  for c in "${cases[@]}"; do
    read -r _ _ family _ <<<"$c"
    [ "$family" = 6 ] || kept+=("$c")
  done
  cases=("${kept[@]}")
fi

# TCP relay cases (RFC 6062): uclient's -T allocates TCP relays over TCP (or TLS with -S) and
# runs client to client (-y): one client Connects to the other's relayed address, the other
# gets a ConnectionAttempt, both ConnectionBind a data connection, and the messages flow raw
# over the two TCP relays. turnutils_peer speaks UDP only, so these cases need no peer. With
# -m 1 uclient runs one such pair (2 clients). Name, client transport, credentials.
tcp_relay_cases=(
  "tcprelay-tcp-lt    tcp lt"
  "tcprelay-tcp-rest  tcp rest"
  "tcprelay-tls-lt    tls lt"
  "tcprelay-tls-rest  tls rest"
)

users=()
for c in "${cases[@]}" "${tcp_relay_cases[@]}"; do
  read -r name _ <<<"$c"
  users+=(--user "$name:$password")
done

log "starting turn (loopback peers allowed) and turnutils_peer"
start_turn allowed \
  --udp-listen 127.0.0.1:0 --tcp-listen 127.0.0.1:0 --tls-listen 127.0.0.1:0 "${v6_listeners[@]}" \
  --allow-loopback-peers --auth-secret "$secret" "${users[@]}"
line=$turn_line
echo "    $line"
peer_port=$(free_udp_pair)
timeout 300 "$peer_bin" -L 127.0.0.1 -p "$peer_port" >"$work/peer4.log" 2>&1 &
pids+=($!)
if [ ${#v6_listeners[@]} -gt 0 ]; then
  timeout 300 "$peer_bin" -L ::1 -p "$peer_port" >"$work/peer6.log" 2>&1 &
  pids+=($!)
fi
sleep 0.3
echo "    turnutils_peer on 127.0.0.1 and [::1], UDP $peer_port and $((peer_port + 1))"

# Starts one case in the background (its PID is the last of $pids); its output goes to
# $work/$name.log.
run_case() { # name transport family creds mode clients allocs
  local name=$1 transport=$2 family=$3 creds=$4 mode=$5 clients=$6 allocs=$7
  local server peer_ip port kind flags=()
  if [ "$family" = 6 ]; then server=::1; peer_ip=::1; else server=127.0.0.1; peer_ip=127.0.0.1; fi
  case $transport in
    udp) kind=udp ;;
    tcp) kind=tcp; flags+=(-t) ;;
    tls) kind=tls; flags+=(-t -S) ;;
  esac
  local prefix=127.0.0.1; [ "$family" = 6 ] && prefix='[::1]'
  port=$(port_of "$line" "$kind" "$prefix")
  [ -n "$port" ] || die "no $kind listener on $prefix in: $line"
  [ "$mode" = send ] && flags+=(-s)
  [ "$allocs" = 1 ] && flags+=(-c)
  if [ "$creds" = rest ]; then
    flags+=(-u "$name" -W "$secret")
  else
    flags+=(-u "$name" -w "$password")
  fi
  timeout 60 "$uclient" -v "${flags[@]}" -p "$port" -e "$peer_ip" -r "$peer_port" \
    -n "$messages" -l "$length" -m "$clients" "$server" >"$work/$name.log" 2>&1 &
  pids+=($!)
}

log "running ${#cases[@]} turnutils_uclient cases (${messages} messages of ${length} bytes per allocation)"
declare -A case_pid case_rc
for c in "${cases[@]}"; do
  # shellcheck disable=SC2086
  run_case $c
  read -r name _ <<<"$c"
  case_pid[$name]=${pids[-1]}
done
for c in "${cases[@]}"; do
  read -r name _ <<<"$c"
  rc=0
  wait "${case_pid[$name]}" || rc=$?
  case_rc[$name]=$rc
done

# The last value of `key=N` in a log, or empty.
last_value() { { grep -ao "$2=[0-9]*" "$1" || true; } | tail -1 | cut -d= -f2; }

passed=0
failed=0
legacy_refused=0
tls_versions=""
rows=()
failures=()
for c in "${cases[@]}"; do
  read -r name transport family creds mode clients allocs <<<"$c"
  f="$work/$name.log"
  rc=${case_rc[$name]}
  expected=$((messages * clients * allocs))
  sent=$(last_value "$f" tot_send_msgs)
  received=$(last_value "$f" tot_recv_msgs)
  lost=$({ grep -ao 'Total lost packets [0-9]*' "$f" || true; } | tail -1 | grep -o '[0-9]*$' || true)
  dropped=$({ grep -ao 'total send dropped [0-9]*' "$f" || true; } | tail -1 | grep -o '[0-9]*$' || true)
  why=()
  [ "$rc" = 0 ] || why+=("exit $rc")
  [ "${sent:-}" = "$expected" ] || why+=("sent ${sent:-?} of $expected")
  [ "${received:-}" = "$expected" ] || why+=("received ${received:-?} of $expected")
  [ "${lost:-}" = 0 ] || why+=("lost ${lost:-?}")
  [ "${dropped:-}" = 0 ] || why+=("send dropped ${dropped:-?}")
  # uclient opens each TLS connection with an OpenSSL context drawn at random: any version,
  # TLS 1.0, TLS 1.1 or TLS 1.2. Ours speaks TLS 1.2 and 1.3 and refuses the two old ones with
  # a handshake_failure alert, on which uclient draws again; those retries are not errors.
  if grep -aiE 'error [0-9]{3}|cannot|ERROR' "$f" \
    | grep -avE 'tls_connect: cannot connect: rc=-1|SSL routines::sslv3 alert handshake failure' \
    | grep -q .; then
    why+=("errors in the output")
  fi
  if [ "$transport" = tls ]; then
    tls=$(grep -ao 'method=TLSv1\.[0-9]' "$f" | sed 's/method=TLSv//' | sort -u | paste -sd/ -)
    [ -n "$tls" ] || why+=("no TLS session")
    legacy_refused=$((legacy_refused + $(grep -ac 'sslv3 alert handshake failure' "$f" || true)))
    tls_versions="$tls_versions $tls"
  fi
  # The mode really used: ChannelBind answered for channels, none at all for Send.
  binds=$(grep -ac 'cb response received' "$f" || true)
  perms=$(grep -ac 'cp response received' "$f" || true)
  if [ "$mode" = channel ]; then
    [ "$binds" -ge "$clients" ] || why+=("no ChannelBind answered")
  else
    [ "$binds" = 0 ] && [ "$perms" -ge "$clients" ] || why+=("not Send indications")
  fi
  # The credentials our server saw: the static user, or a REST "<expiry>:<user>" name.
  if [ "$creds" = rest ]; then
    grep -aqE "allocation created .*username=\"[0-9]+:$name\"" "$work/allowed.err" \
      || why+=("no allocation with REST credentials")
  else
    grep -aqE "allocation created .*username=\"$name\"" "$work/allowed.err" \
      || why+=("no allocation for the static user")
  fi
  if [ ${#why[@]} -eq 0 ]; then
    result=ok; passed=$((passed + 1))
  else
    result="FAIL: $(IFS=,; echo "${why[*]}")"; failed=$((failed + 1)); failures+=("$name")
  fi
  rows+=("$(printf '%-18s %-4s %-4s %-4s %-7s %7s %4s %8s %8s %4s  %s' "$name" "$transport" \
    "v$family" "$creds" "$mode" "$clients×$allocs" "$expected" "${sent:-?}" "${received:-?}" \
    "${lost:-?}" "$result")")
done

# --- TCP relays (RFC 6062), client to client -------------------------------------------------
log "running ${#tcp_relay_cases[@]} turnutils_uclient -T cases (TCP relays, ${messages} messages of ${length} bytes per client)"
declare -A relay_pid
for c in "${tcp_relay_cases[@]}"; do
  read -r name transport creds <<<"$c"
  flags=(-T)
  kind=tcp
  [ "$transport" = tls ] && { flags+=(-S); kind=tls; }
  if [ "$creds" = rest ]; then flags+=(-u "$name" -W "$secret"); else flags+=(-u "$name" -w "$password"); fi
  port=$(port_of "$line" "$kind" 127.0.0.1)
  timeout 60 "$uclient" -v "${flags[@]}" -p "$port" -n "$messages" -l "$length" -m 1 127.0.0.1 \
    >"$work/$name.log" 2>&1 &
  relay_pid[$name]=$!
done
for c in "${tcp_relay_cases[@]}"; do
  read -r name transport creds <<<"$c"
  f="$work/$name.log"
  rc=0
  wait "${relay_pid[$name]}" || rc=$?
  expected=$((messages * 2))
  sent=$(last_value "$f" tot_send_msgs)
  received=$(last_value "$f" tot_recv_msgs)
  lost=$({ grep -ao 'Total lost packets [0-9]*' "$f" || true; } | tail -1 | grep -o '[0-9]*$' || true)
  why=()
  [ "$rc" = 0 ] || why+=("exit $rc")
  [ "${sent:-}" = "$expected" ] || why+=("sent ${sent:-?} of $expected")
  [ "${received:-}" = "$expected" ] || why+=("received ${received:-?} of $expected")
  [ "${lost:-}" = 0 ] || why+=("lost ${lost:-?}")
  if grep -aiE 'error [0-9]{3}|cannot|ERROR' "$f" \
    | grep -avE 'tls_connect: cannot connect: rc=-1|SSL routines::sslv3 alert handshake failure' \
    | grep -q .; then
    why+=("errors in the output")
  fi
  # The RFC 6062 exchanges really happened: a Connect, and two data connections bound.
  [ "$(grep -ac 'tcp connect sent' "$f" || true)" -ge 1 ] || why+=("no Connect")
  [ "$(grep -ac 'TCP data network connected' "$f" || true)" -ge 2 ] || why+=("data connections not bound")
  if [ "$transport" = tls ]; then
    tls=$(grep -ao 'method=TLSv1\.[0-9]' "$f" | sed 's/method=TLSv//' | sort -u | paste -sd/ -)
    [ -n "$tls" ] || why+=("no TLS session")
    legacy_refused=$((legacy_refused + $(grep -ac 'sslv3 alert handshake failure' "$f" || true)))
    tls_versions="$tls_versions $tls"
  fi
  if [ "$creds" = rest ]; then
    grep -aqE "allocation created .*username=\"[0-9]+:$name\"" "$work/allowed.err" \
      || why+=("no allocation with REST credentials")
  else
    grep -aqE "allocation created .*username=\"$name\"" "$work/allowed.err" \
      || why+=("no allocation for the static user")
  fi
  if [ ${#why[@]} -eq 0 ]; then
    result=ok; passed=$((passed + 1))
  else
    result="FAIL: $(IFS=,; echo "${why[*]}")"; failed=$((failed + 1)); failures+=("$name")
  fi
  rows+=("$(printf '%-18s %-4s %-4s %-4s %-7s %7s %4s %8s %8s %4s  %s' "$name" "$transport" v4 \
    "$creds" tcp-c2c "2×1" "$expected" "${sent:-?}" "${received:-?}" "${lost:-?}" "$result")")
done

# --- a server without --allow-loopback-peers refuses the loopback peer -----------------------
log "turn without --allow-loopback-peers: the loopback peer must be refused"
start_turn refusing --udp-listen 127.0.0.1:0 --tcp-listen 127.0.0.1:0 \
  --user "refused:$password"
line_refusing=$turn_line
echo "    $line_refusing"
for mode in channel send; do
  name="refused-$mode"
  flags=(); [ "$mode" = send ] && flags=(-s)
  transport=udp; [ "$mode" = send ] && { transport=tcp; flags+=(-t); }
  port=$(port_of "$line_refusing" "$transport" 127.0.0.1)
  set +e
  timeout 30 "$uclient" -v "${flags[@]}" -p "$port" -e 127.0.0.1 -r "$peer_port" \
    -u refused -w "$password" -n "$messages" -l "$length" -m 1 127.0.0.1 >"$work/$name.log" 2>&1
  rc=$?
  set -e
  received=$(last_value "$work/$name.log" tot_recv_msgs)
  why=()
  [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || why+=("exit $rc, expected a failure")
  if [ "$mode" = channel ]; then
    grep -aq 'channel bind: error 403' "$work/$name.log" || why+=("no 403 to ChannelBind")
  else
    grep -aq 'create permission error 403' "$work/$name.log" || why+=("no 403 to CreatePermission")
  fi
  [ "${received:-0}" = 0 ] || why+=("received $received through the relay")
  if [ ${#why[@]} -eq 0 ]; then
    result="ok (403 Forbidden)"; passed=$((passed + 1))
  else
    result="FAIL: $(IFS=,; echo "${why[*]}")"; failed=$((failed + 1)); failures+=("$name")
  fi
  sent=$(last_value "$work/$name.log" tot_send_msgs)
  rows+=("$(printf '%-18s %-4s %-4s %-4s %-7s %7s %4s %8s %8s %4s  %s' "$name" "$transport" v4 lt \
    "$mode" "1×2" 0 "${sent:-0}" "${received:-0}" - "$result")")
done

echo
printf '%-18s %-4s %-4s %-4s %-7s %7s %4s %8s %8s %4s  %s\n' case via ip auth mode clients \
  want sent received lost result
for r in "${rows[@]}"; do echo "$r"; done
echo "TLS sessions negotiated: $(tr ' /' '[\n*]' <<<"$tls_versions" | grep . | sort -u \
  | sed 's/^/TLS /' | paste -sd, -); TLS 1.0/1.1 handshakes refused (client retried): $legacy_refused"
echo
for name in "${failures[@]}"; do
  echo "---- $name: turnutils_uclient output (last 30 lines)"
  tail -30 "$work/$name.log" 2>/dev/null || true
done
if [ "$failed" -gt 0 ]; then
  echo "---- turn log (last 30 lines)"
  tail -30 "$work/allowed.err"
fi
echo "coturn interop: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
