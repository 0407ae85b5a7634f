#!/bin/bash
# Generates testdata/mta/chain from two real MTAs in a chain on loopback: an
# edge Postfix (log host "edge") takes the injected mail and relays all of it
# to an Exim hub (hub.mailbounce.test, 127.0.0.1:2626), which delivers to the
# scripted sink and to its local mailboxes. See README.md beside this file.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root

WORK="$WORK_ROOT/chain"
PKG="$WORK_ROOT/exim-pkg"
OUT=${OUT_DIR:-$REPO/testdata/mta/chain}
MESSAGES=${MESSAGES:-150}
SEED=${SEED:-20261130}
EXIM="$PKG/usr/sbin/exim4"
HUB_PORT=2626
EDGE_HOST=edge.mailbounce.test
HUB_HOST=hub.mailbounce.test

install_postfix
# Debian's package may have started the default instance (policy-rc.d allowing).
postfix status >/dev/null 2>&1 && { log "stopping a running Postfix"; postfix stop; sleep 2; }
unpack_exim "$PKG"
ensure_user mbtest
ensure_user dsnbox
build_sink
for p in 25 2525 10025 $HUB_PORT; do
	port_busy "$p" && die "port $p is already in use"
done

rm -rf "$WORK"
mkdir -p "$WORK/edge" "$WORK/hub/spool" "$WORK/hub/log" "$WORK/hub/mail"
chown Debian-exim:Debian-exim "$WORK/hub/spool" "$WORK/hub/log"
chmod 1777 "$WORK/hub/mail"

# The hub: Exim with its own configuration, spool and log.
CONF="$WORK/hub/exim.conf"
sed -e "s|@WORK@|$WORK/hub|g" -e "s|@EXIM@|$EXIM|g" -e "s|@HUB_PORT@|$HUB_PORT|g" \
	"$MTA_DIR/chain/exim.conf" >"$CONF"
cp "$MTA_DIR/exim/transports" "$WORK/hub/transports"
chmod 644 "$CONF" "$WORK/hub/transports"
exim_trust_config "$CONF"
"$EXIM" -C "$CONF" -bV >"$WORK/hub/exim-bV.txt" 2>&1 || { cat "$WORK/hub/exim-bV.txt"; die "exim -bV"; }
head -1 "$WORK/hub/exim-bV.txt" | sed 's/^/    /' >&2

# The edge: the default Postfix instance, taken over as postfix.sh does.
postfix_save_config
sed -e "s|@WORK@|$WORK/edge|g" -e "s|@HUB_PORT@|$HUB_PORT|g" "$MTA_DIR/chain/main.cf" >/etc/postfix/main.cf
cp "$MTA_DIR/chain/master.cf" /etc/postfix/master.cf

cleanup() {
	touch "$WORK/runner.stop"
	[ -n "${RUNNER:-}" ] && wait "$RUNNER" 2>/dev/null || true
	postfix status >/dev/null 2>&1 && postfix stop >/dev/null 2>&1
	stop_pid "$WORK/hub/daemon.pid"
	stop_pid "$WORK/sink.pid"
	postfix_restore_config
}
trap cleanup EXIT
trap "exit 1" INT TERM

postfix check || die "postfix check"
# Leftovers of an earlier run would pollute the log and the counts.
postsuper -d ALL >/dev/null 2>&1 || true

"$SINK_BIN" plan -out "$WORK/plan.jsonl" -n "$MESSAGES" -seed "$SEED" -prefix c \
	-via sendmail,smtp,smtp-filter -msgid-domain chain.mailbounce.test
start_sink "$WORK/journal.jsonl" "$WORK/sink.pid"
log "sink running (pid $(cat "$WORK/sink.pid"))"

# The hub's daemon only receives (queue_only); deliveries happen in forced
# queue runs, exactly as in exim.sh.
"$EXIM" -C "$CONF" -bd -oX "$HUB_PORT" -oP "$WORK/hub/daemon.pid"
for i in $(seq 50); do port_busy "$HUB_PORT" && break; sleep 0.1; done
port_busy "$HUB_PORT" || die "exim hub did not start"
log "exim hub running (pid $(cat "$WORK/hub/daemon.pid"))"
rm -f "$WORK/runner.stop"
exim_queue_runner "$EXIM" "$CONF" "$WORK/runner.stop" &
RUNNER=$!

postfix start
START=$(date +%s)
log "postfix edge running; injecting $MESSAGES messages"
"$SINK_BIN" inject -plan "$WORK/plan.jsonl" \
	-sendmail /usr/sbin/sendmail -smtp 127.0.0.1:25 -filter 127.0.0.1:2525 -interval 100ms

# Done when both queues are empty twice in a row, 5 s apart: a bounce the
# edge makes is relayed to the hub a moment later.
log "waiting for both queues to be empty"
deadline=$((START + 900))
empty=0
while [ "$empty" -lt 2 ]; do
	edge=$(postqueue -j 2>/dev/null | wc -l)
	hub=$("$EXIM" -C "$CONF" -bpc)
	if [ "$edge" = 0 ] && [ "$hub" = 0 ]; then empty=$((empty + 1)); else empty=0; fi
	[ "$(date +%s)" -gt "$deadline" ] && die "queues still hold $edge (edge) and $hub (hub) messages after 15 minutes"
	sleep 5
done
touch "$WORK/runner.stop"
wait "$RUNNER" # lets a queue run that is still going finish
RUNNER=
postfix stop
for i in $(seq 50); do postfix status >/dev/null 2>&1 || break; sleep 0.2; done
stop_pid "$WORK/hub/daemon.pid"
stop_pid "$WORK/sink.pid"
log "chain run took $(( $(date +%s) - START ))s"

mkdir -p "$OUT"
cp "$WORK/edge/maillog" "$OUT/maillog"
cp "$WORK/hub/log/mainlog" "$OUT/mainlog"
chmod 644 "$OUT/maillog" "$OUT/mainlog"
# The hub's rejectlog only repeats the mainlog's "rejected RCPT" lines (with
# the headers received so far); it is not kept, so that every "*log" file
# here is one host's log.
cp "$WORK/journal.jsonl" "$OUT/journal.jsonl"
cp "$WORK/plan.jsonl" "$OUT/plan.jsonl"
"$SINK_BIN" expect -plan "$WORK/plan.jsonl" -journal "$WORK/journal.jsonl" -mbox "$WORK/hub/mail" \
	-delivered-header Envelope-to -out "$OUT/expected.json" -truth "$OUT/truth.jsonl" \
	-chain "$OUT/chain.json" -hub-expected "$OUT/expected-hub.json" -edge-host "$EDGE_HOST" -hub-host "$HUB_HOST"
log "wrote $OUT"
