#!/bin/bash
# Regenerates testdata/mta/{postfix,exim} from real MTAs and the scripted sink.
# Run as root on Debian 12; installs what it needs; leaves no process running.
# Usage: scripts/mta/generate.sh [postfix] [exim]   (default: both)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(postfix exim)

tally_postfix() {
	local f=$1
	printf '    log: sent=%s (content-filter hop %s) deferred=%s bounced=%s expired(messages)=%s\n' \
		"$(grep -c 'status=sent' "$f")" "$(grep -c 'relay=127.0.0.1\[127.0.0.1\]:10025,.*status=sent' "$f")" \
		"$(grep -c 'status=deferred' "$f")" "$(grep -c 'status=bounced' "$f")" "$(grep -c 'status=expired' "$f")" >&2
}
tally_exim() {
	local f=$1
	printf '    log: =>%s ->%s ==%s **%s (of which "retry timeout exceeded" %s)\n' \
		"$(grep -c ' => ' "$f")" "$(grep -c ' -> ' "$f")" "$(grep -c ' == ' "$f")" \
		"$(grep -c ' \*\* ' "$f")" "$(grep -c 'retry timeout exceeded' "$f")" >&2
}

for t in "${targets[@]}"; do
	start=$(date +%s)
	case $t in
	postfix) bash "$MTA_DIR/postfix.sh" ;;
	exim) bash "$MTA_DIR/exim.sh" ;;
	*) die "unknown target $t" ;;
	esac
	log "$t: done in $(( $(date +%s) - start ))s"
	printf '    expected: %s\n' "$("$SINK_BIN" totals -expected "$REPO/testdata/mta/$t/expected.json")" >&2
	case $t in
	postfix) tally_postfix "$REPO/testdata/mta/postfix/maillog" ;;
	exim) tally_exim "$REPO/testdata/mta/exim/mainlog" ;;
	esac
done
