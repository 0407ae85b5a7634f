#!/bin/bash
# Generates testdata/mta/exim from a real Exim 4 (Debian's exim4-daemon-light,
# unpacked with dpkg -x because it conflicts with postfix) that delivers
# everything to the scripted sink. See README.md beside this file.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root

WORK="$WORK_ROOT/exim"
PKG="$WORK_ROOT/exim-pkg"
OUT=${OUT_DIR:-$REPO/testdata/mta/exim}
MESSAGES=${MESSAGES:-300}
SEED=${SEED:-20261129}
EXIM="$PKG/usr/sbin/exim4"

if [ ! -x "$EXIM" ]; then
	log "downloading and unpacking exim4"
	rm -rf "$PKG.dl" && mkdir -p "$PKG.dl" "$PKG"
	# The shared libraries the binary needs do not conflict with postfix.
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q libidn12 libgnutls-dane0 libdb5.3 libpcre2-8-0 libnsl2 >/dev/null ||
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q libidn12 libgnutls-dane0 libdb5.3 libpcre2-8-0 libnsl2 >/dev/null; } ||
		die "apt-get install exim's libraries"
	(cd "$PKG.dl" && apt-get download exim4-daemon-light exim4-base exim4-config) 2>/dev/null ||
		die "apt-get download exim4"
	for deb in "$PKG.dl"/*.deb; do dpkg -x "$deb" "$PKG"; done
	rm -rf "$PKG.dl"
fi
# The binary's compiled-in exim user; it must exist even with exim_user set.
getent group Debian-exim >/dev/null || groupadd --system Debian-exim
getent passwd Debian-exim >/dev/null || useradd --system -g Debian-exim --no-create-home \
	--home-dir /nonexistent --shell /usr/sbin/nologin Debian-exim
ensure_user mbtest
ensure_user dsnbox
build_sink

rm -rf "$WORK"
mkdir -p "$WORK/spool" "$WORK/log" "$WORK/mail"
chown Debian-exim:Debian-exim "$WORK/spool" "$WORK/log"
chmod 1777 "$WORK/mail"
CONF="$WORK/exim.conf"
sed -e "s|@WORK@|$WORK|g" -e "s|@EXIM@|$EXIM|g" "$MTA_DIR/exim/exim.conf" >"$CONF"
cp "$MTA_DIR/exim/transports" "$WORK/transports"
chmod 644 "$CONF" "$WORK/transports"
# Without this, Exim drops root privilege for -C when it re-executes itself
# (to send a bounce) and logs "exim user lost privilege for using -C option".
# The path is compiled into Debian's binary.
mkdir -p /etc/exim4
grep -qxF "$CONF" /etc/exim4/trusted_configs 2>/dev/null || echo "$CONF" >>/etc/exim4/trusted_configs
chmod 644 /etc/exim4/trusted_configs
"$EXIM" -C "$CONF" -bV >"$WORK/exim-bV.txt" 2>&1 || { cat "$WORK/exim-bV.txt"; die "exim -bV"; }
head -1 "$WORK/exim-bV.txt" | sed 's/^/    /' >&2

cleanup() {
	touch "$WORK/runner.stop"
	[ -n "${RUNNER:-}" ] && wait "$RUNNER" 2>/dev/null || true
	stop_pid "$WORK/daemon.pid"
	stop_pid "$WORK/sink.pid"
}
trap cleanup EXIT
trap "exit 1" INT TERM

"$SINK_BIN" plan -out "$WORK/plan.jsonl" -n "$MESSAGES" -seed "$SEED" -prefix e -via sendmail,smtp
start_sink "$WORK/journal.jsonl" "$WORK/sink.pid"
log "sink running (pid $(cat "$WORK/sink.pid"))"

# The daemon only receives (queue_only); deliveries happen in forced runs.
"$EXIM" -C "$CONF" -bd -oX 2625 -oP "$WORK/daemon.pid"
for i in $(seq 50); do port_busy 2625 && break; sleep 0.1; done
port_busy 2625 || die "exim daemon did not start"
log "exim daemon running (pid $(cat "$WORK/daemon.pid"))"

# A forced queue run ("exim -qf") starts every 20 seconds, at most three at
# a time (a run takes longer than 20 s when it meets the slow listener), until
# the stop file appears. Concurrent runs skip messages another run has locked.
rm -f "$WORK/runner.stop"
(
	runs=()
	while [ ! -e "$WORK/runner.stop" ]; do
		alive=()
		for p in "${runs[@]}"; do kill -0 "$p" 2>/dev/null && alive+=("$p"); done
		runs=("${alive[@]}")
		if [ ${#runs[@]} -lt 3 ]; then
			"$EXIM" -C "$CONF" -qf >/dev/null 2>&1 &
			runs+=($!)
		fi
		for i in $(seq 20); do [ -e "$WORK/runner.stop" ] && break; sleep 1; done
	done
	wait
) &
RUNNER=$!

START=$(date +%s)
log "injecting $MESSAGES messages"
"$SINK_BIN" inject -plan "$WORK/plan.jsonl" -sendmail "$EXIM -C $CONF -odq" \
	-smtp 127.0.0.1:2625 -interval 100ms

log "waiting for an empty queue"
deadline=$((START + 900))
while :; do
	n=$("$EXIM" -C "$CONF" -bpc)
	[ "$n" = 0 ] && break
	[ "$(date +%s)" -gt "$deadline" ] && die "queue still holds $n messages after 15 minutes"
	sleep 5
done
touch "$WORK/runner.stop"
wait "$RUNNER" # lets a queue run that is still going finish
stop_pid "$WORK/daemon.pid"
stop_pid "$WORK/sink.pid"
log "exim run took $(( $(date +%s) - START ))s"

mkdir -p "$OUT"
cp "$WORK/log/mainlog" "$OUT/mainlog"
chmod 644 "$OUT/mainlog"
[ -s "$WORK/log/rejectlog" ] && cp "$WORK/log/rejectlog" "$OUT/rejectlog"
cp "$WORK/journal.jsonl" "$OUT/journal.jsonl"
cp "$WORK/plan.jsonl" "$OUT/plan.jsonl"
"$SINK_BIN" expect -plan "$WORK/plan.jsonl" -journal "$WORK/journal.jsonl" -mbox "$WORK/mail" \
	-delivered-header Envelope-to -out "$OUT/expected.json" -truth "$OUT/truth.jsonl"
log "wrote $OUT"
