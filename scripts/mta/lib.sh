# Shared helpers for scripts/mta/*.sh (sourced, not run).

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MTA_DIR="$REPO/scripts/mta"
WORK_ROOT=${MAILBOUNCE_MTA_WORK:-/var/tmp/mailbounce-mta}
SINK_BIN="$WORK_ROOT/bin/smtpsink"
SINK_PORTS="2601 2602 2603 2604 2605 2606 2607"

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

require_root() { [ "$(id -u)" = 0 ] || die "run as root"; }

go_bin() {
	if command -v go >/dev/null 2>&1; then command -v go
	elif [ -x /usr/local/go/bin/go ]; then echo /usr/local/go/bin/go
	else die "Go toolchain not found"; fi
}

build_sink() {
	mkdir -p "$WORK_ROOT/bin"
	(cd "$REPO" && "$(go_bin)" build -o "$SINK_BIN" ./tools/smtpsink) || die "build smtpsink"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_sink JOURNAL PIDFILE: the sink runs in the background until stop_pid.
start_sink() {
	local journal=$1 pidfile=$2 p
	for p in $SINK_PORTS 2608; do
		port_busy "$p" && die "port $p is already in use"
	done
	: >"$journal"
	"$SINK_BIN" serve -journal "$journal" -pidfile "$pidfile" -stall 60s \
		>"$(dirname "$journal")/sink.log" 2>&1 &
	local i
	for i in $(seq 50); do
		[ -s "$pidfile" ] && port_busy 2601 && return 0
		sleep 0.1
	done
	die "sink did not start (see $(dirname "$journal")/sink.log)"
}

# stop_pid PIDFILE: TERM the process named in PIDFILE, KILL it if it lingers.
stop_pid() {
	local pidfile=$1 pid i
	[ -s "$pidfile" ] || return 0
	pid=$(cat "$pidfile")
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null
		for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
	fi
	rm -f "$pidfile"
}

ensure_user() {
	getent passwd "$1" >/dev/null || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$1"
}
