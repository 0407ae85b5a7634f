#!/usr/bin/env bash
# Benchmark `mailbounce ingest` and `mailbounce report` on large generated
# logs, for speed (MB/s, lines/s, peak RSS) and for correctness (the report's
# per-domain counts against the generator's expected.json).
#
#   scripts/bench.sh                 # 1 GB Postfix log, 200 MB Exim log
#   SIZE=200MB EXIM_SIZE=50MB scripts/bench.sh
#   BENCH_DIR=/var/tmp/mb scripts/bench.sh postfix   # only one MTA (default /var/tmp/mailbounce-bench)
#   PFLOGSUMM=1 scripts/bench.sh postfix             # also time pflogsumm
#   EXIMSTATS=/path/to/eximstats scripts/bench.sh exim  # also time eximstats
#   FLOOR=1 scripts/bench.sh postfix                 # also time SQLite alone writing the same rows
#
# FLOOR=1 copies the rows ingest stored (attempts, messages, rejects) into
# a new database with no index, in one transaction, with the sqlite3 shell
# (INSERT ... SELECT: no parsing, no binding, no index): the least time
# SQLite itself takes to write them on this machine, the floor under any
# ingest that stores every attempt.
#
# eximstats is a Perl script in Debian's exim4-base; to run it without
# installing an MTA: apt-get download exim4-base && dpkg-deb -x exim4-base_*.deb
# /tmp/exim4-base, then EXIMSTATS=/tmp/exim4-base/usr/sbin/eximstats.
#
# Logs are generated once (tools/loggen, deterministic from SEED) and kept in
# BENCH_DIR; the database is made afresh on each run.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# /var/tmp, not /tmp: a 1 GB log and its database would fill a small tmpfs.
BENCH_DIR=${BENCH_DIR:-/var/tmp/mailbounce-bench}
SIZE=${SIZE:-1GB}
EXIM_SIZE=${EXIM_SIZE:-200MB}
SEED=${SEED:-1}
MTAS=${*:-postfix exim}

die() { echo "bench: $*" >&2; exit 1; }

mkdir -p "$BENCH_DIR"
cd "$ROOT"

if [ ! -x /usr/bin/time ]; then
	echo "bench: installing GNU time" >&2
	if command -v sudo >/dev/null && [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
	$SUDO apt-get install -y time >/dev/null || die "/usr/bin/time is missing and could not be installed (apt-get install time)"
fi

echo "== building mailbounce and loggen"
go build -o "$BENCH_DIR/loggen" ./tools/loggen || die "building tools/loggen failed"
MB="$BENCH_DIR/mailbounce"
LOGGEN="$BENCH_DIR/loggen"
HAVE_MB=1
if ! go build -o "$MB" .; then
	echo "bench: ERROR: go build of mailbounce failed" >&2
	HAVE_MB=0
fi

# The subcommands this script measures must exist.
for cmd in ingest report; do
	if [ "$HAVE_MB" = 1 ] && ! "$MB" "$cmd" --help >/dev/null 2>&1; then
		echo "bench: ERROR: this mailbounce has no working '$cmd' subcommand ('$MB $cmd --help' failed);" \
			"the benchmark needs 'mailbounce ingest --db PATH FILE...' and 'mailbounce report --db PATH --format json'" >&2
		HAVE_MB=0
	fi
done
[ "$HAVE_MB" = 1 ] || [ -n "${PFLOGSUMM:-}" ] || [ -n "${EXIMSTATS:-}" ] || exit 1

# measure LABEL BYTES LINES -- command...: runs the command under
# /usr/bin/time -v and prints wall time, MB/s, lines/s and peak RSS.
measure() {
	local label=$1 bytes=$2 lines=$3
	shift 4
	local tf="$BENCH_DIR/time.$$"
	if ! /usr/bin/time -v -o "$tf" "$@"; then
		cat "$tf" >&2
		die "$label failed"
	fi
	awk -v label="$label" -v bytes="$bytes" -v lines="$lines" '
		/Elapsed \(wall clock\)/ {
			n = split($NF, p, ":"); s = 0
			for (i = 1; i <= n; i++) s = s * 60 + p[i]
		}
		/Maximum resident set size/ { rss = $NF }
		/User time/ { ut = $NF }
		/System time/ { st = $NF }
		END {
			if (s <= 0) s = 0.001
			printf "%-22s %8.2f s wall (%.2f user, %.2f sys)", label, s, ut, st
			if (bytes > 0) printf "  %8.1f MB/s  %10.0f lines/s", bytes / 1e6 / s, lines / s
			printf "  peak RSS %.0f MB\n", rss / 1024
		}' "$tf"
	rm -f "$tf"
}

for mta in $MTAS; do
	case $mta in
	postfix) size=$SIZE ;;
	exim) size=$EXIM_SIZE ;;
	*) die "unknown MTA $mta (postfix or exim)" ;;
	esac
	log="$BENCH_DIR/$mta-$size-seed$SEED.log"
	exp="${log%.log}.expected.json"
	if [ ! -s "$log" ] || [ ! -s "$exp" ]; then
		echo "== generating $log"
		"$LOGGEN" -mta "$mta" -size "$size" -seed "$SEED" -o "$log" -expected "$exp"
	fi
	bytes=$(stat -c %s "$log")
	lines=$(jq -r .lines "$exp" 2>/dev/null || wc -l <"$log")
	echo "== $mta: $log ($((bytes / 1000000)) MB, $lines lines)"

	if [ "$mta" = exim ] && [ -n "${EXIMSTATS:-}" ]; then
		if [ ! -r "$EXIMSTATS" ]; then
			echo "bench: EXIMSTATS=$EXIMSTATS is not a readable file; skipping eximstats" >&2
		else
			measure "eximstats" "$bytes" "$lines" -- sh -c 'perl "$1" -nr -t0 "$2" >"$3"' sh "$EXIMSTATS" "$log" "$BENCH_DIR/eximstats.txt"
		fi
	fi
	if [ "$mta" = postfix ] && [ -n "${PFLOGSUMM:-}" ]; then
		if ! command -v pflogsumm >/dev/null; then
			echo "bench: pflogsumm not installed (apt-get install pflogsumm); skipping" >&2
		else
			measure "pflogsumm" "$bytes" "$lines" -- sh -c 'pflogsumm --problems-first "$1" >"$2"' sh "$log" "$BENCH_DIR/pflogsumm.txt"
			echo "pflogsumm summary (delivered / deferred / bounced / rejected):"
			grep -E '^ +[0-9]+[km]? +(delivered|deferred|bounced|rejected)' "$BENCH_DIR/pflogsumm.txt" || true
		fi
	fi
	if [ "$HAVE_MB" = 1 ]; then
		db="$BENCH_DIR/bench-$mta.db"
		rm -f "$db" "$db-wal" "$db-shm"
		measure "ingest" "$bytes" "$lines" -- "$MB" ingest --db "$db" "$log"
		echo "database: $(du -h "$db" | cut -f1)"
		if [ -n "${FLOOR:-}" ]; then
			if ! command -v sqlite3 >/dev/null; then
				echo "bench: FLOOR=1 needs the sqlite3 shell (apt-get install sqlite3); skipping" >&2
			else
				floor="$BENCH_DIR/floor.db"
				rm -f "$floor" "$floor-wal" "$floor-shm"
				sqlite3 "$floor" "PRAGMA journal_mode=WAL; ATTACH '$db' AS src;
					CREATE TABLE d AS SELECT * FROM src.deliveries WHERE 0;
					CREATE TABLE m AS SELECT * FROM src.messages WHERE 0;
					CREATE TABLE r AS SELECT * FROM src.rejects WHERE 0;" >/dev/null
				measure "SQLite floor (rows)" "$bytes" "$lines" -- sqlite3 "$floor" "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-32768; ATTACH '$db' AS src;
					BEGIN; INSERT INTO d SELECT * FROM src.deliveries; INSERT INTO m SELECT * FROM src.messages;
					INSERT INTO r SELECT * FROM src.rejects; COMMIT;"
				echo "  ($(sqlite3 "$db" 'SELECT (SELECT count(*) FROM deliveries) + (SELECT count(*) FROM messages) + (SELECT count(*) FROM rejects)') rows; the MB/s is of the log they came from)"
				rm -f "$floor" "$floor-wal" "$floor-shm"
			fi
		fi

		report="$BENCH_DIR/report-$mta.json"
		measure "report --format json" 0 0 -- sh -c '"$1" report --db "$2" --format json >"$3"' sh "$MB" "$db" "$report"

		echo "== correctness: report vs expected counts"
		if "$LOGGEN" -compare -expected "$exp" -report "$report"; then
			echo "$mta: report matches expected.json"
		else
			echo "$mta: REPORT DIFFERS FROM expected.json" >&2
			status=1
		fi
	else
		status=1
	fi
done
[ "$HAVE_MB" = 1 ] || echo "bench: ERROR: mailbounce ingest/report were not measured (see above)" >&2
exit "${status:-0}"
