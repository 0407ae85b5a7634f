#!/bin/bash
# Generates testdata/mta/postfix from a real Postfix (Debian's package) that
# delivers everything to the scripted sink. See README.md beside this file.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root

WORK="$WORK_ROOT/postfix"
OUT=${OUT_DIR:-$REPO/testdata/mta/postfix}
MESSAGES=${MESSAGES:-300}
SEED=${SEED:-20261128}

install_postfix
# Debian's package may have started the default instance (policy-rc.d allowing).
postfix status >/dev/null 2>&1 && { log "stopping a running Postfix"; postfix stop; sleep 2; }

ensure_user mbtest
ensure_user dsnbox
build_sink

rm -rf "$WORK"
mkdir -p "$WORK/mail"
chmod 1777 "$WORK/mail"

# Take over the default instance; the original files are kept and put back.
postfix_save_config
sed "s|@WORK@|$WORK|g" "$MTA_DIR/postfix/main.cf" >/etc/postfix/main.cf
cp "$MTA_DIR/postfix/master.cf" /etc/postfix/master.cf
cp "$MTA_DIR/postfix/transport" /etc/postfix/mailbounce_transport

cleanup() {
	postfix status >/dev/null 2>&1 && postfix stop >/dev/null 2>&1
	stop_pid "$WORK/sink.pid"
	postfix_restore_config
}
trap cleanup EXIT
trap "exit 1" INT TERM

postfix check || die "postfix check"
# Leftovers of an earlier run would pollute the log and the counts.
postsuper -d ALL >/dev/null 2>&1 || true

"$SINK_BIN" plan -out "$WORK/plan.jsonl" -n "$MESSAGES" -seed "$SEED" -prefix p -via sendmail,smtp,smtp-filter
start_sink "$WORK/journal.jsonl" "$WORK/sink.pid"
log "sink running (pid $(cat "$WORK/sink.pid"))"

postfix start
START=$(date +%s)
half=$((MESSAGES / 2))
log "injecting messages 1-$half with short queue ids"
"$SINK_BIN" inject -plan "$WORK/plan.jsonl" -from 0 -to "$half" \
	-sendmail /usr/sbin/sendmail -smtp 127.0.0.1:25 -filter 127.0.0.1:2525 -interval 100ms
postconf -e enable_long_queue_ids=yes
postfix reload
sleep 2
log "injecting messages $((half + 1))-$MESSAGES with long queue ids"
"$SINK_BIN" inject -plan "$WORK/plan.jsonl" -from "$half" -to "$MESSAGES" \
	-sendmail /usr/sbin/sendmail -smtp 127.0.0.1:25 -filter 127.0.0.1:2525 -interval 100ms

log "waiting for an empty queue"
deadline=$((START + 900))
while :; do
	n=$(postqueue -j 2>/dev/null | wc -l)
	[ "$n" = 0 ] && break
	[ "$(date +%s)" -gt "$deadline" ] && die "queue still holds $n messages after 15 minutes"
	sleep 5
done
sleep 3 # let the last "removed" lines reach the log
postfix stop
for i in $(seq 50); do postfix status >/dev/null 2>&1 || break; sleep 0.2; done
stop_pid "$WORK/sink.pid"
log "postfix run took $(( $(date +%s) - START ))s"

mkdir -p "$OUT"
cp "$WORK/maillog" "$OUT/maillog"
cp "$WORK/journal.jsonl" "$OUT/journal.jsonl"
cp "$WORK/plan.jsonl" "$OUT/plan.jsonl"
"$SINK_BIN" expect -plan "$WORK/plan.jsonl" -journal "$WORK/journal.jsonl" -mbox "$WORK/mail" \
	-delivered-header Delivered-To -out "$OUT/expected.json" -truth "$OUT/truth.jsonl"
log "wrote $OUT"
