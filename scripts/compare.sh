#!/usr/bin/env bash
# Compare what two mailbounce binaries store and report for the same logs:
# for a change that should alter speed and nothing else (the store, the
# pipeline), every view and rollup must come out the same.
#
#   scripts/compare.sh OLD_BINARY NEW_BINARY LOG...
#
# Each log is ingested on its own (--host h --year 2024 --tz UTC, so that
# the results do not depend on the file's date or the machine's zone) into
# a fresh database per binary; then the JSON report, the rows of
# v_deliveries, v_messages and v_rejects, the links between legs (by
# attempt and message, not by row id) and the daily rollups are compared. It needs the sqlite3 shell. Exit status 1 if
# anything differs.
set -euo pipefail

[ $# -ge 3 ] || { echo "usage: $0 OLD_BINARY NEW_BINARY LOG..." >&2; exit 2; }
old=$1 new=$2
shift 2
command -v sqlite3 >/dev/null || { echo "compare: needs the sqlite3 shell (apt-get install sqlite3)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

queries=(
	"SELECT time, host, queue_id, recipient, domain, relay, outcome, final, reason, code, enhanced, stage, reply, remote_id FROM v_deliveries ORDER BY 1, 2, 3, 4, 7, 13"
	"SELECT * FROM v_messages ORDER BY 1, 2, 3"
	"SELECT * FROM v_rejects ORDER BY 1, 2, 3, 4, 5"
	"SELECT d.time, d.recipient, fm.queue_id, tm.host_id, tm.queue_id, tm.first_seen FROM message_links l JOIN deliveries d ON d.id = l.delivery_id LEFT JOIN messages fm ON fm.id = l.from_ref JOIN messages tm ON tm.id = l.to_ref ORDER BY 1, 2, 3, 4, 5, 6"
	"SELECT * FROM delivery_days ORDER BY 1, 2, 3, 4, 5, 6"
)

# dump BINARY LOG OUT: ingest LOG with BINARY and write what it stored to OUT.
dump() {
	local bin=$1 log=$2 out=$3 db="$work/db"
	rm -f "$db" "$db-wal" "$db-shm"
	{
		"$bin" ingest -q --host h --year 2024 --tz UTC --db "$db" "$log" 2>&1 && echo "ingest: ok" || echo "ingest: exit $?"
		"$bin" report --db "$db" --tz UTC --format json 2>&1 || echo "report: exit $?"
		for q in "${queries[@]}"; do
			echo "== $q"
			sqlite3 "$db" "$q"
		done
	} >"$out"
}

status=0
for log in "$@"; do
	dump "$old" "$log" "$work/old"
	dump "$new" "$log" "$work/new"
	if cmp -s "$work/old" "$work/new"; then
		echo "same: $log"
	else
		echo "DIFFERENT: $log"
		diff "$work/old" "$work/new" | head -20 || true
		status=1
	fi
done
exit "$status"
