#!/bin/sh
# seawall-redirect.sh: send a pod's outbound TCP to Seawall's transparent listener.
#
# Run once per pod, as root with NET_ADMIN and NET_RAW, in the pod's network namespace (an init
# container, as service meshes do). It builds the chain SEAWALL_OUTPUT in the nat table, jumped
# to from OUTPUT for TCP:
#
#   1. RETURN for packets of the proxy's own user (--proxy-uid): Seawall's upstream connections
#      must leave the pod as they are, or they would loop back into Seawall;
#   2. RETURN for loopback destinations (127.0.0.0/8): calls inside the pod stay inside;
#   3. RETURN for excluded destination networks (--exclude-cidrs) and ports (--exclude-ports):
#      TLS, databases, anything that is not plain HTTP;
#   4. REDIRECT of the rest (or of --include-ports only) to 127.0.0.1:<--proxy-port>, where
#      Seawall reads each connection's original destination (SO_ORIGINAL_DST).
#
# Running it again replaces the chain (idempotent); --cleanup removes it. IPv4 only.
#
# Options (each has an environment variable; a flag wins over the variable):
#   --proxy-port PORT        SEAWALL_PROXY_PORT     15001  Seawall's transparent listener
#   --proxy-uid UID[,UID]    SEAWALL_PROXY_UID      1337   users whose traffic is not redirected
#   --exclude-ports P[,P]    SEAWALL_EXCLUDE_PORTS  ""     destination ports (or A:B ranges) left alone
#   --exclude-cidrs C[,C]    SEAWALL_EXCLUDE_CIDRS  ""     destination networks left alone
#   --include-ports P[,P]    SEAWALL_INCLUDE_PORTS  ""     if set, redirect only these ports
#   --iptables CMD           IPTABLES               iptables  e.g. iptables-legacy, iptables-nft
#   --cleanup                remove the chain and its jump, and nothing else
#   --dry-run                print the commands without running them (no root needed)
#   -h, --help
set -eu

CHAIN=SEAWALL_OUTPUT
PROXY_PORT=${SEAWALL_PROXY_PORT:-15001}
PROXY_UID=${SEAWALL_PROXY_UID:-1337}
EXCLUDE_PORTS=${SEAWALL_EXCLUDE_PORTS:-}
EXCLUDE_CIDRS=${SEAWALL_EXCLUDE_CIDRS:-}
INCLUDE_PORTS=${SEAWALL_INCLUDE_PORTS:-}
IPT=${IPTABLES:-iptables}
MODE=install
DRY_RUN=0

log() { printf 'seawall-redirect: %s\n' "$*"; }
die() {
  printf 'seawall-redirect: error: %s\n' "$*" >&2
  exit 2
}
usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }

# Runs an iptables command in the nat table, printing it first.
ipt() {
  printf '+ %s -t nat %s\n' "$IPT" "$*"
  [ "$DRY_RUN" -eq 1 ] && return 0
  "$IPT" -w 5 -t nat "$@"
}

# Runs an iptables query quietly; in a dry run nothing exists.
ipt_quiet() {
  [ "$DRY_RUN" -eq 1 ] && return 1
  "$IPT" -w 5 -t nat "$@" >/dev/null 2>&1
}

need_value() { [ $# -ge 2 ] || die "$1 needs a value"; }

is_uint() {
  case $1 in
    '' | *[!0-9]*) return 1 ;;
  esac
  [ ${#1} -le 10 ]
}

check_port() {
  if ! is_uint "$1" || [ "$1" -lt 1 ] || [ "$1" -gt 65535 ]; then
    die "invalid port '$1' (1..65535)"
  fi
}

# A port or a range A:B with A <= B.
check_port_spec() {
  case $1 in
    *:*)
      check_port "${1%%:*}"
      check_port "${1#*:}"
      [ "${1%%:*}" -le "${1#*:}" ] || die "invalid port range '$1'"
      ;;
    *) check_port "$1" ;;
  esac
}

check_uid() { is_uint "$1" || die "invalid uid '$1'"; }

# An IPv4 address with an optional /prefix; iptables checks the rest.
check_cidr() {
  case $1 in
    '' | *[!0-9./]* | */*/* | */) die "invalid IPv4 network '$1' (e.g. 10.0.0.0/8)" ;;
  esac
  case $1 in
    */*)
      if ! is_uint "${1#*/}" || [ "${1#*/}" -gt 32 ]; then
        die "invalid prefix length in '$1'"
      fi
      ;;
  esac
}

# Splits a comma-separated list into words (empty items dropped).
words() { printf '%s\n' "$1" | tr ',' ' '; }

# True if a comma-separated list has at least one item.
has_items() {
  for _item in $(words "$1"); do return 0; done
  return 1
}

parse_args() {
  while [ $# -gt 0 ]; do
    case $1 in
      --proxy-port) need_value "$@"; PROXY_PORT=$2; shift ;;
      --proxy-uid) need_value "$@"; PROXY_UID=$2; shift ;;
      --exclude-ports) need_value "$@"; EXCLUDE_PORTS=$2; shift ;;
      --exclude-cidrs) need_value "$@"; EXCLUDE_CIDRS=$2; shift ;;
      --include-ports) need_value "$@"; INCLUDE_PORTS=$2; shift ;;
      --iptables) need_value "$@"; IPT=$2; shift ;;
      --cleanup) MODE=cleanup ;;
      --dry-run) DRY_RUN=1 ;;
      -h | --help) usage; exit 0 ;;
      *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
  done
}

validate() {
  check_port "$PROXY_PORT"
  has_items "$PROXY_UID" || die "--proxy-uid is empty: Seawall's own traffic would loop"
  for u in $(words "$PROXY_UID"); do check_uid "$u"; done
  for p in $(words "$EXCLUDE_PORTS"); do check_port_spec "$p"; done
  for p in $(words "$INCLUDE_PORTS"); do check_port_spec "$p"; done
  for c in $(words "$EXCLUDE_CIDRS"); do check_cidr "$c"; done
  if [ "$DRY_RUN" -eq 0 ] && ! command -v "$IPT" >/dev/null 2>&1; then
    die "'$IPT' not found (Debian package: iptables)"
  fi
}

# Removes every jump from OUTPUT to the chain (bounded: a broken iptables cannot loop forever).
remove_jumps() {
  n=0
  while [ $n -lt 16 ] && ipt_quiet -C OUTPUT -p tcp -j "$CHAIN"; do
    ipt -D OUTPUT -p tcp -j "$CHAIN"
    n=$((n + 1))
  done
}

cleanup() {
  remove_jumps
  if ipt_quiet -S "$CHAIN" || [ "$DRY_RUN" -eq 1 ]; then
    ipt -F "$CHAIN"
    ipt -X "$CHAIN"
    log "removed chain $CHAIN from the nat table"
  else
    log "chain $CHAIN not present: nothing to remove"
  fi
}

install() {
  if ipt_quiet -S "$CHAIN"; then
    ipt -F "$CHAIN" # re-run: replace the rules, keep the chain and its jump
  else
    ipt -N "$CHAIN"
  fi
  for u in $(words "$PROXY_UID"); do
    ipt -A "$CHAIN" -m owner --uid-owner "$u" -j RETURN
  done
  ipt -A "$CHAIN" -d 127.0.0.0/8 -j RETURN
  for c in $(words "$EXCLUDE_CIDRS"); do
    ipt -A "$CHAIN" -d "$c" -j RETURN
  done
  for p in $(words "$EXCLUDE_PORTS"); do
    ipt -A "$CHAIN" -p tcp --dport "$p" -j RETURN
  done
  if has_items "$INCLUDE_PORTS"; then
    for p in $(words "$INCLUDE_PORTS"); do
      ipt -A "$CHAIN" -p tcp --dport "$p" -j REDIRECT --to-ports "$PROXY_PORT"
    done
  else
    ipt -A "$CHAIN" -p tcp -j REDIRECT --to-ports "$PROXY_PORT"
  fi
  if ! ipt_quiet -C OUTPUT -p tcp -j "$CHAIN"; then
    ipt -A OUTPUT -p tcp -j "$CHAIN"
  fi
  log "outbound TCP now goes to 127.0.0.1:$PROXY_PORT (except uid $PROXY_UID, loopback${EXCLUDE_CIDRS:+, $EXCLUDE_CIDRS}${EXCLUDE_PORTS:+, ports $EXCLUDE_PORTS})${INCLUDE_PORTS:+; only ports $INCLUDE_PORTS}"
  if [ "$DRY_RUN" -eq 0 ]; then
    "$IPT" -w 5 -t nat -S "$CHAIN"
  fi
}

parse_args "$@"
validate
if [ "$MODE" = cleanup ]; then
  cleanup
else
  install
fi
