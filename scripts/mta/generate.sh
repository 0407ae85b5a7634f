#!/bin/bash
# Regenerates testdata/mta/{postfix,exim,chain} from real MTAs and the scripted
# sink. Run as root on Debian 12; installs what it needs; leaves no process
# running.
# Usage: scripts/mta/generate.sh [postfix] [exim] [chain]   (default: all three)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(postfix exim chain)

tally_postfix() {
	local f=$1 pipedeferred
	printf '    log: sent=%s (content-filter hop %s, pipe-filter hop %s) deferred=%s bounced=%s expired(messages)=%s\n' \
		"$(grep -c 'status=sent' "$f")" "$(grep -c 'relay=127.0.0.1\[127.0.0.1\]:10025,.*status=sent' "$f")" \
		"$(grep -c 'postfix/pipe\[[0-9]*\]: .* relay=spamfilter,.*status=sent' "$f")" \
		"$(grep -c 'status=deferred' "$f")" "$(grep -c 'status=bounced' "$f")" "$(grep -c 'status=expired' "$f")" >&2
	printf '    log: pickup (sendmail: by the harness uid=0, by the pipe filter uid=%s) %s + %s, deleted by postsuper %s\n' \
		"$(id -u mbtest)" "$(grep -c 'postfix/pickup\[[0-9]*\]: .* uid=0 ' "$f")" \
		"$(grep -c "postfix/pickup\\[[0-9]*\\]: .* uid=$(id -u mbtest) " "$f")" \
		"$(grep -c 'postfix/postsuper\[[0-9]*\]: [0-9A-Za-z]*: removed' "$f" || true)" >&2
	# The pipe to the filter must never fail: no journal would see it.
	pipedeferred=$(grep -c 'relay=spamfilter,.*status=\(deferred\|bounced\)' "$f" || true)
	[ "$pipedeferred" = 0 ] || log "WARNING: the pipe filter deferred or bounced $pipedeferred times; expected.json does not count those"
}
tally_exim() {
	local f=$1
	printf '    log: =>%s ->%s ==%s **%s (of which "retry timeout exceeded" %s)\n' \
		"$(grep -c ' => ' "$f")" "$(grep -c ' -> ' "$f")" "$(grep -c ' == ' "$f")" \
		"$(grep -c ' \*\* ' "$f")" "$(grep -c 'retry timeout exceeded' "$f")" >&2
}

# The chain: the edge's relays to the hub must all succeed at once (a
# deferral there is an attempt no journal sees); the hub's lines as for Exim.
tally_chain() {
	local edge=$1 hub=$2 deferred
	deferred=$(grep -c 'status=deferred' "$edge" || true)
	printf '    edge log: sent=%s (to the hub %s, content-filter hop %s) deferred=%s bounced=%s (refused by the hub at RCPT %s) expired(messages)=%s\n' \
		"$(grep -c 'status=sent' "$edge")" "$(grep -c 'relay=127.0.0.1\[127.0.0.1\]:2626,.*status=sent (250 OK id=' "$edge")" \
		"$(grep -c 'relay=127.0.0.1\[127.0.0.1\]:10025,.*status=sent' "$edge")" "$deferred" \
		"$(grep -c 'status=bounced' "$edge" || true)" "$(grep -c 'status=bounced (host 127.0.0.1\[127.0.0.1\] said: 550 .*RCPT TO' "$edge" || true)" \
		"$(grep -c 'status=expired' "$edge" || true)" >&2
	printf '    hub log: <=%s (from the edge %s) rejected RCPT %s\n' "$(grep -c ' <= ' "$hub")" \
		"$(grep -c ' <= .* H=(edge.mailbounce.test) ' "$hub")" "$(grep -c 'rejected RCPT' "$hub" || true)" >&2
	tally_exim "$hub"
	[ "$deferred" = 0 ] || log "WARNING: the edge deferred $deferred times; expected.json does not count those attempts"
}

for t in "${targets[@]}"; do
	start=$(date +%s)
	case $t in
	postfix) bash "$MTA_DIR/postfix.sh" ;;
	exim) bash "$MTA_DIR/exim.sh" ;;
	chain) bash "$MTA_DIR/chain.sh" ;;
	*) die "unknown target $t" ;;
	esac
	log "$t: done in $(( $(date +%s) - start ))s"
	printf '    expected: %s\n' "$("$SINK_BIN" totals -expected "$REPO/testdata/mta/$t/expected.json")" >&2
	case $t in
	postfix) tally_postfix "$REPO/testdata/mta/postfix/maillog" ;;
	exim) tally_exim "$REPO/testdata/mta/exim/mainlog" ;;
	chain) tally_chain "$REPO/testdata/mta/chain/maillog" "$REPO/testdata/mta/chain/mainlog" ;;
	esac
done
