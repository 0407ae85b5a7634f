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
# Messages deleted by the admin (postsuper -d) while deferred, and how long
# after arrival.
ADMIN_DELETES=${ADMIN_DELETES:-6}
DELETE_AGE=${DELETE_AGE:-30}

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
sed "s|@WORK@|$WORK|g" "$MTA_DIR/postfix/master.cf" >/etc/postfix/master.cf
cp "$MTA_DIR/postfix/transport" /etc/postfix/mailbounce_transport
# The pipe content filter runs as mbtest (master.cf "spamfilter").
install -m 755 "$MTA_DIR/postfix/mb-spamfilter" "$WORK/mb-spamfilter"

cleanup() {
	stop_pid "$WORK/deleter.pid"
	postfix status >/dev/null 2>&1 && postfix stop >/dev/null 2>&1
	stop_pid "$WORK/sink.pid"
	postfix_restore_config
}
trap cleanup EXIT
trap "exit 1" INT TERM

postfix check || die "postfix check"
# Leftovers of an earlier run would pollute the log and the counts.
postsuper -d ALL >/dev/null 2>&1 || true

"$SINK_BIN" plan -out "$WORK/plan.jsonl" -n "$MESSAGES" -seed "$SEED" -prefix p \
	-via sendmail,smtp,smtp-filter,pipe-filter -admin-delete "$ADMIN_DELETES" -admin-delete-from $((MESSAGES / 2))
start_sink "$WORK/journal.jsonl" "$WORK/sink.pid"
log "sink running (pid $(cat "$WORK/sink.pid"))"

# admin_deleter (run in the background): each message the plan flags
# admin_delete is deleted with "postsuper -d QUEUEID deferred" once it sits
# in the deferred queue and arrived at least DELETE_AGE seconds ago (so it
# was tried once or twice), long before it would expire (150 s). Naming the
# deferred queue means a message being delivered (in the active queue) is
# never touched: postsuper finds nothing and the next look tries again. The
# queue id is found by the message's sender, unique to it (via sendmail or
# smtp only: one queue id per message). The flagged messages are all in the
# second half, after the reload: a reload while a delivery is in progress
# leaves that message in the active queue ("skipped, still being delivered")
# until qmgr looks at it again minutes later. Writes "ID QUEUEID" lines to
# deleted.txt, each after postsuper's "QUEUEID: removed" reached the log.
admin_deleter() {
	local pending=() left id q line qid arrival now i
	pending=($(grep '"admin_delete":true' "$WORK/plan.jsonl" | sed 's/^{"id":"\([^"]*\)".*/\1/'))
	while [ ${#pending[@]} -gt 0 ]; do
		now=$(date +%s)
		[ "$now" -gt $((START + 400)) ] && die "admin delete: ${pending[*]} never deleted"
		q=$(postqueue -j 2>/dev/null || true)
		left=()
		for id in "${pending[@]}"; do
			line=$(grep -F "\"dsnbox+$id@bounces.example\"" <<<"$q" || true)
			if [ -z "$line" ]; then
				left+=("$id")
				continue
			fi
			arrival=$(sed 's/.*"arrival_time": *\([0-9]*\).*/\1/' <<<"$line")
			qid=$(sed 's/.*"queue_id": *"\([^"]*\)".*/\1/' <<<"$line")
			[ "$now" -gt $((arrival + 120)) ] && die "admin delete: $id ($qid) still not deleted $((now - arrival))s after arrival"
			if [ "$now" -lt $((arrival + DELETE_AGE)) ] || ! grep -q '"queue_name": *"deferred"' <<<"$line"; then
				left+=("$id")
				continue
			fi
			postsuper -d "$qid" deferred 2>/dev/null || true
			for i in $(seq 20); do
				grep -q "postfix/postsuper\[[0-9]*\]: $qid: removed" "$WORK/maillog" && break
				sleep 0.1
			done
			if grep -q "postfix/postsuper\[[0-9]*\]: $qid: removed" "$WORK/maillog"; then
				log "admin delete: $id ($qid) deleted from the deferred queue $((now - arrival))s after arrival"
				echo "$id $qid" >>"$WORK/deleted.txt"
			else
				left+=("$id")
			fi
		done
		pending=("${left[@]}")
		sleep 1
	done
}

postfix start
START=$(date +%s)
: >"$WORK/deleted.txt"
admin_deleter &
echo $! >"$WORK/deleter.pid"
half=$((MESSAGES / 2))
log "injecting messages 1-$half with short queue ids"
"$SINK_BIN" inject -plan "$WORK/plan.jsonl" -from 0 -to "$half" -interval 100ms \
	-sendmail /usr/sbin/sendmail -smtp 127.0.0.1:25 -filter 127.0.0.1:2525 -pipe-filter 127.0.0.1:2526
postconf -e enable_long_queue_ids=yes
postfix reload
sleep 2
log "injecting messages $((half + 1))-$MESSAGES with long queue ids"
"$SINK_BIN" inject -plan "$WORK/plan.jsonl" -from "$half" -to "$MESSAGES" -interval 100ms \
	-sendmail /usr/sbin/sendmail -smtp 127.0.0.1:25 -filter 127.0.0.1:2525 -pipe-filter 127.0.0.1:2526
wait "$(cat "$WORK/deleter.pid")" || die "admin delete failed"
rm -f "$WORK/deleter.pid"
[ "$(wc -l <"$WORK/deleted.txt")" = "$(grep -c '"admin_delete":true' "$WORK/plan.jsonl" || true)" ] ||
	die "admin delete: deleted.txt does not list every flagged message"

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
# The admin's deletions are part of the plan (admin_delete); deleted.txt
# stays in the work dir (the queue ids are the log's business).
"$SINK_BIN" expect -plan "$WORK/plan.jsonl" -journal "$WORK/journal.jsonl" -mbox "$WORK/mail" \
	-delivered-header Delivered-To -out "$OUT/expected.json" -truth "$OUT/truth.jsonl"
log "wrote $OUT"
