#!/usr/bin/env bash
# Damaged kept partial counts (chunk_partial, docs/HACKING.md): whatever
# the bytes of a kept row hold, a report and --alerts must give what a
# full recount gives, byte for byte, with the same exit status, and the
# first writable run that meets a damaged row must clear it.
#
#   tests/incremental/damaged.sh SALESENGINE GEN_EVENTS SOURCE_DIR
#
# A store of 70,000 generated deals (two segments of 16 chunks) keeps its
# partials for three settings (fingerprints): two rules files, and the
# first in another zone.  Each case damages a
# copy of it; a second copy, untouched, is counted with --recount.  Then:
# the default report (read-only: reads the damaged rows, cannot clear
# them), --alerts=all (writable: must clear them), the next report, and
# --alerts once more (the partials kept again, and right).  The cases:
#   random  every row of the fingerprint: random bytes, same length
#   tail    every row: its first 12 bytes (a valid head), then random bytes
#   half    every row truncated to half its length
#   flip    one byte in the middle of every row changed
#   empty   every row an empty blob
#   shape   every row replaced by the other fingerprint's row of the same
#           key (a valid partial of another funnel shape)
#   zone    every row replaced by the row of the same key counted with
#           another --tz (a valid partial of the same shape)
#   moved   every row replaced by the row of chunk 0 (a valid partial of
#           another chunk)
#   whole   only the prefix that covers the whole store (the one row a run
#           with nothing changed reads): random bytes
#   huge    the whole-store prefix replaced by a well-formed start of a
#           partial whose leads cells sit at buckets 0 and 2^62 (no grid
#           can span them: before the partials carried a hash, the report
#           hung there; without a matching hash it is refused unread)
#   chunks  every chunk row truncated, the segments and prefixes intact:
#           not read at first; then new events on the last deals drop the
#           last segment's rows, and its damaged chunk rows are read
# SE_DAMAGE_SEED picks other random bytes, SE_DAMAGE_CASES runs only some
# cases.  A run that hangs (5 minutes) counts as failed.  Needs sqlite3;
# 77 = skipped.
set -uo pipefail
export LC_ALL=C.UTF-8

# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"
enter_work se_damaged "$@"
seed=${SE_DAMAGE_SEED:-1207}

# Two rules files (two fingerprints, two shapes of partial).
two_rules_files rules1.lua rules2.lua

as_of=--as-of=2024-06-01T00:00:00Z
"$gen" --deals 70000 --days 150 --managers 8 --seed 31 --out all.csv || exit 1
header=$(head -n 1 all.csv)
"$engine" -q --db K.db --import all.csv || { echo "FAIL: import"; exit 1; }
# rules2, then rules1 in another zone, then rules1: rules1's fingerprint
# is the newest one kept
"$engine" -q --db K.db $as_of --alerts=all rules2.lua > /dev/null
fp2=$(sqlite3 K.db "SELECT fp FROM chunk_partial ORDER BY rowid DESC LIMIT 1")
"$engine" -q --db K.db $as_of --tz Europe/Moscow --alerts=all rules1.lua > /dev/null
fp3=$(sqlite3 K.db "SELECT fp FROM chunk_partial ORDER BY rowid DESC LIMIT 1")
"$engine" -q --db K.db $as_of --alerts=all rules1.lua > /dev/null
fp1=$(sqlite3 K.db "SELECT fp FROM chunk_partial ORDER BY rowid DESC LIMIT 1")
whole=$(sqlite3 K.db "SELECT min(chunk) FROM chunk_partial WHERE fp = $fp1")
kept=$(sqlite3 K.db "SELECT count(*) FROM chunk_partial WHERE fp = $fp1")
if [ "$fp1" = "$fp2" ] || [ "$fp1" = "$fp3" ] || [ "$kept" -lt 20 ] || [ "$whole" -ge -1099511627777 ]; then
	echo "FAIL: the store keeps no partials to damage (fps $fp1 $fp2 $fp3, rows $kept, lowest key $whole)"
	exit 1
fi
# New events on deals past 69700 (the last chunk, 17, only), for "chunks".
{
	echo "$header"
	awk -F, -v OFS=, 'NR > 1 && index($0, "\"") == 0 && substr($2, 2) + 0 > 69700 && NR % 5 == 0 { $1 = "new" NR; $4 = "Квалификация"; print }' all.csv
} > recent.csv

# An SQL script that sets the rows `where` selects to random bytes of
# their length, after the first `keep` bytes of their own.
randomize() { # db, where, keep, seed
	sqlite3 "$1" "SELECT fp, chunk, length(data) FROM chunk_partial WHERE $2" |
		awk -F'|' -v keep="$3" -v seed="$4" '
			BEGIN { srand(seed); print "BEGIN;" }
			{
				printf "UPDATE chunk_partial SET data = substr(data, 1, %d) || X'\''", keep
				for (i = keep; i < $3; i++)
					printf "%02X", int(rand() * 256)
				printf "'\'' WHERE fp = %s AND chunk = %s;\n", $1, $2
			}
			END { print "COMMIT;" }' | sqlite3 "$1"
}

# An unsigned varint, in hex, as pbuf.h writes it.
varint() {
	local v=$1 out=""
	while [ "$v" -ge 128 ]; do
		out+=$(printf '%02X' $(((v & 127) | 128)))
		v=$((v >> 7))
	done
	printf '%s%02X' "$out" "$v"
}

damage() { # case, db
	local db=$2
	case $1 in
	random) randomize "$db" "fp = $fp1" 0 "$seed" ;;
	tail) randomize "$db" "fp = $fp1" 12 "$((seed + 1))" ;;
	half) sqlite3 "$db" "UPDATE chunk_partial SET data = substr(data, 1, length(data) / 2) WHERE fp = $fp1" ;;
	empty) sqlite3 "$db" "UPDATE chunk_partial SET data = X'' WHERE fp = $fp1" ;;
	flip) sqlite3 "$db" "UPDATE chunk_partial SET data = substr(data, 1, length(data) / 2)
		|| CASE WHEN substr(data, length(data) / 2 + 1, 1) = X'01' THEN X'02' ELSE X'01' END
		|| substr(data, length(data) / 2 + 2) WHERE fp = $fp1" ;;
	shape) sqlite3 "$db" "UPDATE chunk_partial SET data = (SELECT o.data FROM chunk_partial o WHERE o.fp = $fp2 AND o.chunk = chunk_partial.chunk) WHERE fp = $fp1 AND EXISTS (SELECT 1 FROM chunk_partial o WHERE o.fp = $fp2 AND o.chunk = chunk_partial.chunk)" ;;
	zone) sqlite3 "$db" "UPDATE chunk_partial SET data = (SELECT o.data FROM chunk_partial o WHERE o.fp = $fp3 AND o.chunk = chunk_partial.chunk) WHERE fp = $fp1 AND EXISTS (SELECT 1 FROM chunk_partial o WHERE o.fp = $fp3 AND o.chunk = chunk_partial.chunk)" ;;
	moved) sqlite3 "$db" "UPDATE chunk_partial SET data = (SELECT o.data FROM chunk_partial o WHERE o.fp = $fp1 AND o.chunk = 0) WHERE fp = $fp1 AND chunk <> 0" ;;
	whole) randomize "$db" "fp = $fp1 AND chunk = $whole" 0 "$((seed + 2))" ;;
	huge)
		# the format's magic ("SEP4"), one funnel, zero counters and unknown statuses,
		# then funnel 0's leads-by-manager grid: two cells, one lead each
		# in column 0, at bucket 0 and at bucket 2^62 (zigzag 2^63)
		local hex
		hex=$(varint $((0x53455034)))$(varint 1)0000000000$(varint 0)$(varint 2)
		hex+=000002
		hex+=80808080808080808001
		hex+=0002
		sqlite3 "$db" "UPDATE chunk_partial SET data = X'$hex' WHERE fp = $fp1 AND chunk = $whole" ;;
	chunks) sqlite3 "$db" "UPDATE chunk_partial SET data = substr(data, 1, length(data) / 2) WHERE fp = $fp1 AND chunk >= 0" ;;
	esac
}

report() { # case, step: the default report, and all (diagnostics read the kept prefix)
	local kind
	for kind in default all; do
		# shellcheck disable=SC2046
		timeout 300 "$engine" --db D.db $as_of -f csv $([ $kind = all ] && echo -r all) rules1.lua > d.out 2> d.err
		echo "exit $?" >> d.out
		# shellcheck disable=SC2046
		"$engine" --db R.db $as_of -f csv --recount $([ $kind = all ] && echo -r all) rules1.lua > r.out 2> r.err
		echo "exit $?" >> r.out
		same "$1: $2 report $kind" d.out r.out
		same "$1: $2 report $kind's messages" d.err r.err
		cat d.err >> all.err
	done
}

alerts() { # case, step
	timeout 300 "$engine" --db D.db $as_of --alerts=all rules1.lua > d.out 2> d.err
	echo "exit $?" >> d.out
	"$engine" --db R.db $as_of --alerts=all --recount rules1.lua > r.out 2> r.err
	echo "exit $?" >> r.out
	same "$1: $2 --alerts" d.out r.out
	same "$1: $2 --alerts summary" d.err r.err
	cat d.err >> all.err
	for db in D R; do
		sqlite3 "$db.db" "SELECT rule, scope, state, since, changed, holds, quote(value), notified FROM alert_state ORDER BY rule, scope" > "$db.state"
	done
	same "$1: $2 alert_state" D.state R.state
}

rows() { # db: every kept row, as text
	sqlite3 "$1" "SELECT fp, chunk, hex(data) FROM chunk_partial" | sort
}

: > all.err
for c in ${SE_DAMAGE_CASES:-random tail half flip empty shape zone moved whole huge chunks}; do
	cp K.db D.db
	cp K.db R.db
	damage "$c" D.db
	rows K.db > before.rows
	rows D.db > damaged.rows
	# what the damage changed: the rows that are no longer what was kept
	comm -13 before.rows damaged.rows > bad.rows
	checks=$((checks + 1))
	if [ ! -s bad.rows ]; then
		echo "FAIL: $c: the damage changed no row"
		fail=1
		continue
	fi
	if [ "$c" = chunks ]; then
		report "$c" "unread damage:"
		alerts "$c" "unread damage:"
		for db in D R; do
			"$engine" -q --db "$db.db" --import recent.csv || { echo "FAIL: $c: import into $db"; fail=1; }
		done
		rows D.db > damaged.rows
		checks=$((checks + 1))
		if [ -z "$(comm -12 bad.rows damaged.rows)" ]; then
			echo "FAIL: $c: the import dropped every damaged chunk row: nothing damaged is read"
			fail=1
		fi
	fi
	report "$c" "first"
	alerts "$c" "first writable"
	rows D.db > after.rows
	checks=$((checks + 1))
	if [ -n "$(comm -12 bad.rows after.rows)" ]; then
		echo "FAIL: $c: damaged rows are still kept after a writable run:"
		comm -12 bad.rows after.rows | cut -c1-60 | head -n 3
		fail=1
	fi
	report "$c" "next"
	alerts "$c" "second writable"
	checks=$((checks + 1))
	if [ "$(sqlite3 D.db "SELECT count(*) FROM chunk_partial WHERE fp = $fp1")" = 0 ]; then
		echo "FAIL: $c: nothing is kept again after the damage was cleared"
		fail=1
	fi
	report "$c" "kept again:"
	# the store itself is sound: only kept partials were touched
	checks=$((checks + 1))
	if [ "$(sqlite3 D.db "PRAGMA integrity_check")" != ok ]; then
		echo "FAIL: $c: integrity_check"
		fail=1
	fi
done
# A sanitizer build says what went wrong on stderr, whatever the outputs.
if grep -q "Sanitizer\|runtime error" all.err; then
	echo "FAIL: a sanitizer complained:"
	grep -m 5 "Sanitizer\|runtime error" all.err
	fail=1
fi
[ "$fail" = 0 ] && echo "ok: $checks checks over 11 kinds of damage"
exit "$fail"
