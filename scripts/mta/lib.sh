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

# install_postfix: Debian's postfix package, preseeded "No configuration".
install_postfix() {
	command -v postfix >/dev/null 2>&1 && return 0
	log "installing postfix"
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix >/dev/null ||
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix >/dev/null; } ||
		die "apt-get install postfix"
}

# postfix_save_config: keep the default instance's main.cf/master.cf as
# *.mailbounce-orig (an empty *.mailbounce-none marker stands for a file that
# did not exist: Debian's "No configuration" install has no main.cf), unless
# an earlier, interrupted run already did. postfix_restore_config puts them back.
postfix_save_config() {
	local f
	for f in main.cf master.cf; do
		if [ ! -e "/etc/postfix/$f.mailbounce-orig" ] && [ ! -e "/etc/postfix/$f.mailbounce-none" ]; then
			if [ -e "/etc/postfix/$f" ]; then cp -p "/etc/postfix/$f" "/etc/postfix/$f.mailbounce-orig"
			else : >"/etc/postfix/$f.mailbounce-none"; fi
		fi
	done
}
postfix_restore_config() {
	local f
	for f in main.cf master.cf; do
		if [ -e "/etc/postfix/$f.mailbounce-orig" ]; then mv -f "/etc/postfix/$f.mailbounce-orig" "/etc/postfix/$f"
		elif [ -e "/etc/postfix/$f.mailbounce-none" ]; then rm -f "/etc/postfix/$f" "/etc/postfix/$f.mailbounce-none"; fi
	done
	rm -f /etc/postfix/mailbounce_transport
	return 0
}

# unpack_exim PKGDIR: Debian's exim4-daemon-light unpacked with dpkg -x (the
# exim4 packages conflict with postfix in dpkg), plus the shared libraries
# the binary needs, and the binary's compiled-in user Debian-exim.
unpack_exim() {
	local pkg=$1 deb
	if [ ! -x "$pkg/usr/sbin/exim4" ]; then
		log "downloading and unpacking exim4"
		rm -rf "$pkg.dl" && mkdir -p "$pkg.dl" "$pkg"
		# The shared libraries the binary needs do not conflict with postfix.
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q libidn12 libgnutls-dane0 libdb5.3 libpcre2-8-0 libnsl2 >/dev/null ||
			{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q libidn12 libgnutls-dane0 libdb5.3 libpcre2-8-0 libnsl2 >/dev/null; } ||
			die "apt-get install exim's libraries"
		(cd "$pkg.dl" && apt-get download exim4-daemon-light exim4-base exim4-config) 2>/dev/null ||
			die "apt-get download exim4"
		for deb in "$pkg.dl"/*.deb; do dpkg -x "$deb" "$pkg"; done
		rm -rf "$pkg.dl"
	fi
	# The binary's compiled-in exim user; it must exist even with exim_user set.
	getent group Debian-exim >/dev/null || groupadd --system Debian-exim
	getent passwd Debian-exim >/dev/null || useradd --system -g Debian-exim --no-create-home \
		--home-dir /nonexistent --shell /usr/sbin/nologin Debian-exim
}

# exim_trust_config CONF: without this, Exim drops root privilege for -C when
# it re-executes itself (to send a bounce) and logs "exim user lost privilege
# for using -C option". The list's path is compiled into Debian's binary.
exim_trust_config() {
	mkdir -p /etc/exim4
	grep -qxF "$1" /etc/exim4/trusted_configs 2>/dev/null || echo "$1" >>/etc/exim4/trusted_configs
	chmod 644 /etc/exim4/trusted_configs
}

# exim_queue_runner EXIM CONF STOPFILE (run in the background): a forced
# queue run ("exim -qf") starts every 20 seconds, at most three at a time (a
# run takes longer than 20 s when it meets the slow listener), until STOPFILE
# appears; then it waits for the runs still going. Concurrent runs skip
# messages another run has locked.
exim_queue_runner() {
	local exim=$1 conf=$2 stop=$3 p i
	local runs=() alive
	while [ ! -e "$stop" ]; do
		alive=()
		for p in "${runs[@]}"; do kill -0 "$p" 2>/dev/null && alive+=("$p"); done
		runs=("${alive[@]}")
		if [ ${#runs[@]} -lt 3 ]; then
			"$exim" -C "$conf" -qf >/dev/null 2>&1 &
			runs+=($!)
		fi
		for i in $(seq 20); do [ -e "$stop" ] && break; sleep 1; done
	done
	wait
}
