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

unpack_exim "$PKG"
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
exim_trust_config "$CONF"
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

# Forced queue runs every 20 seconds (see exim_queue_runner in lib.sh).
rm -f "$WORK/runner.stop"
exim_queue_runner "$EXIM" "$CONF" "$WORK/runner.stop" &
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
