#!/usr/bin/env bash
# Time `mailbounce ingest` of one log with one or more builds, interleaved
# (A B A B ...), and print the best and median wall time, CPU time and the
# highest peak RSS of each: on a machine shared with other work, runs far
# apart in time are not comparable, runs side by side are.
#
#   scripts/ab.sh RUNS LOG BINARY...
#   scripts/ab.sh 3 /var/tmp/mailbounce-bench/postfix-200MB-seed1.log ./mailbounce-old ./mailbounce
#
# A BINARY may be given as VAR=value:BINARY to run it with an environment
# variable set (GOGC=200:./mailbounce). Each run ingests into a new database
# in a temporary directory. Needs GNU time (apt-get install time).
set -euo pipefail

[ $# -ge 3 ] || { echo "usage: $0 RUNS LOG BINARY..." >&2; exit 2; }
runs=$1 log=$2
shift 2
[ -x /usr/bin/time ] || { echo "ab: needs GNU time at /usr/bin/time (apt-get install time)" >&2; exit 2; }
[ -r "$log" ] || { echo "ab: cannot read $log" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for ((i = 0; i < runs; i++)); do
	for spec in "$@"; do
		bin=$spec env=()
		if [[ $spec == *=*:* ]]; then
			env=("${spec%%:*}")
			bin=${spec#*:}
		fi
		rm -f "$work/db" "$work/db-wal" "$work/db-shm"
		env "${env[@]}" /usr/bin/time -f "%e %U %S %M" -o "$work/t" "$bin" ingest -q --db "$work/db" "$log"
		printf '%s %s\n' "$spec" "$(cat "$work/t")" >>"$work/times"
	done
done

for spec in "$@"; do
	awk -v spec="$spec" '$1 == spec { n++; w[n] = $2; c[n] = $3 + $4; if ($5 > rss) rss = $5 }
		function median(a, n,   i, j, t) {
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		END {
			mw = median(w, n); mc = median(c, n)
			printf "%-30s wall best %.2f s median %.2f s   cpu best %.2f s median %.2f s   peak RSS %d MB   (%d runs)\n",
				spec, w[1], mw, c[1], mc, rss / 1024, n
		}' "$work/times"
done
