#!/usr/bin/env bash
# Kept partial counts (chunk_partial) against SIGKILL: a writable
# --alerts, and an import given the rules, killed at random moments
# (counting, writing the partials, committing).  After each kill the
# database must pass PRAGMA integrity_check, and the report, --alerts and
# the report after it must equal a recount (--recount on a copy of the
# killed database) byte for byte, alert_state included.
#
#   tests/crash/partials.sh SALESENGINE GEN_EVENTS SOURCE_DIR [DEALS] [KILLS]
#
# The alerts runs start from a store with nothing kept (the run counts and
# keeps every chunk) or from one whose partials an import made partly
# stale (the run reads most, counts the rest); the imports bring new
# events to a store with partials kept.  Needs sqlite3; 77 = skipped.
set -uo pipefail
export LC_ALL=C.UTF-8

bin=$(realpath "$1")
gen=$(realpath "$2")
src=$(realpath "$3")
# shellcheck source-path=SCRIPTDIR source=kill.sh
. "$src/tests/crash/kill.sh"
deals=${4:-60000}
kills=${5:-8}
command -v sqlite3 >/dev/null || { echo "skipped: no sqlite3 CLI"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/se_crash_partials.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
cp "$src/tests/bench/bench_rules.lua" "$src/tests/bench/bench_alerts.lua" .
rules=bench_alerts.lua
as_of=--as-of=2024-06-01T00:00:00Z
failed=0

"$gen" --deals "$deals" --days 150 --managers 12 --seed 4242 --out all.csv >/dev/null || { echo "FAIL gen_events"; exit 1; }
header=$(head -n 1 all.csv)
total=$(($(wc -l < all.csv) - 1))
base=$((total * 9 / 10))
{ echo "$header"; sed -n "2,$((base + 1))p" all.csv; } > base.csv
# the rest of the history, in four slices: new deals and new events on
# recent ones
slice=$(((total - base) / 4 + 1))
for s in 1 2 3 4; do
	from=$((base + 2 + (s - 1) * slice))
	{ echo "$header"; sed -n "${from},$((from + slice - 1))p" all.csv; } > "slice$s.csv"
done

"$bin" -q --db plain.db --import base.csv || { echo "FAIL: import"; exit 1; }
# kept: partials kept, then an import: the last segment's rows are stale
cp plain.db kept.db
"$bin" -q --db kept.db $as_of --alerts=all "$rules" >/dev/null
"$bin" -q --db kept.db --import slice1.csv || { echo "FAIL: import of slice 1"; exit 1; }

elapsed_ms() { # command...: runs it, prints its wall time in ms
	local t0
	t0=$(date +%s%N)
	"$@" >/dev/null 2>&1
	echo $((($(date +%s%N) - t0) / 1000000))
}
cp plain.db t.db
full_ms=$(elapsed_ms "$bin" --db t.db $as_of --alerts=all "$rules")
cp kept.db t.db
stale_ms=$(elapsed_ms "$bin" --db t.db $as_of --alerts=all "$rules")
cp kept.db t.db
import_ms=$(elapsed_ms "$bin" --db t.db $as_of -f csv --import slice2.csv "$rules")
kept_events=$(sqlite3 kept.db "SELECT count(*) FROM event")
sqlite3 kept.db "SELECT fp, chunk, hex(data) FROM chunk_partial ORDER BY fp, chunk" > kept.rows
echo "crash partials: $total events; --alerts takes $full_ms ms with nothing kept, $stale_ms ms with" \
     "partials kept; an import with the rules $import_ms ms; $kills kills of each"

copydb() { # from, to: the database with its WAL
	local f
	rm -f "$2" "$2-wal" "$2-shm"
	for f in "" -wal -shm; do
		if [ -e "$1$f" ]; then cp "$1$f" "$2$f"; fi
	done
}

same() { # what, file A, file B
	if ! cmp -s "$2" "$3"; then
		echo "FAIL $1 differs from a recount:"
		diff "$2" "$3" | head -n 6
		failed=1
		return 1
	fi
}

# Everything after a kill: C.db is the killed store, R.db its copy that
# is only ever counted afresh.
check_after() { # what
	local what=$1 ok=1
	if [ "$(sqlite3 C.db "PRAGMA integrity_check")" != ok ]; then
		echo "FAIL $what: integrity_check: $(sqlite3 C.db "PRAGMA integrity_check" | head -n 3)"
		failed=1
		return
	fi
	copydb C.db R.db
	"$bin" --db C.db $as_of -f csv "$rules" > c.out 2> c.err
	echo "exit $?" >> c.out
	"$bin" --db R.db $as_of -f csv --recount "$rules" > r.out 2> r.err
	echo "exit $?" >> r.out
	same "$what: the report" c.out r.out || ok=0
	"$bin" --db C.db $as_of --alerts=all "$rules" > c.out 2> c.err
	echo "exit $?" >> c.out
	"$bin" --db R.db $as_of --alerts=all --recount "$rules" > r.out 2> r.err
	echo "exit $?" >> r.out
	same "$what: --alerts" c.out r.out || ok=0
	same "$what: the --alerts summary" c.err r.err || ok=0
	for db in C R; do
		sqlite3 "$db.db" "SELECT rule, scope, state, since, changed, holds, quote(value), notified FROM alert_state ORDER BY rule, scope" > "$db.state"
	done
	same "$what: alert_state" C.state R.state || ok=0
	"$bin" --db C.db $as_of -f csv -r all "$rules" > c.out 2> c.err
	echo "exit $?" >> c.out
	"$bin" --db R.db $as_of -f csv -r all --recount "$rules" > r.out 2> r.err
	echo "exit $?" >> r.out
	same "$what: the report after --alerts" c.out r.out || ok=0
	cat c.err >> all.err
	[ "$ok" = 1 ] && echo "ok   $what"
}

# Runs "$@" on C.db (copied from start), kills it after a random part of
# took ms (late: in its last quarter, where the partials are written and
# committed); an early finish is retried with an earlier moment, so each
# kill lands in a live run.  Sets state and delay_ms.
start_copy() { # C.db back to where kill_run starts
	# shellcheck disable=SC2317 # called by kill_live
	copydb "$kill_start" C.db
}

kill_run() { # start db, took ms, late, command...
	local took=$2 late=$3
	kill_start=$1
	shift 3
	if [ "$late" = 1 ]; then
		delay_ms=$((took * 3 / 4 + RANDOM * RANDOM % (took / 4 + 1)))
	else
		delay_ms=$((RANDOM * RANDOM % (took + 1)))
	fi
	kill_live "$delay_ms" start_copy "$@"
}

kept_rows() {
	sqlite3 C.db "SELECT count(*) FROM chunk_partial" 2>/dev/null || echo "no table"
}

: > all.err
RANDOM=20261207
for i in $(seq 1 "$kills"); do
	late=$((i % 4 > 1))
	if [ $((i % 2)) = 1 ]; then
		kill_run plain.db "$full_ms" "$late" "$bin" -q --db C.db $as_of --alerts=all "$rules"
		from="nothing kept"
	else
		kill_run kept.db "$stale_ms" "$late" "$bin" -q --db C.db $as_of --alerts=all "$rules"
		from="partials partly stale"
	fi
	check_after "alerts kill $i ($from, at $delay_ms ms, $state, $(kept_rows) partial rows kept)"
done
for i in $(seq 1 "$kills"); do
	s=$((2 + i % 3))
	kill_run kept.db "$import_ms" $((i % 2)) "$bin" -q --db C.db $as_of -f csv --import "slice$s.csv" "$rules"
	events=$(sqlite3 C.db "SELECT count(*) FROM event")
	what="import kill $i (slice $s, at $delay_ms ms, $state, $events events, $(kept_rows) partial rows kept)"
	# The last events, the cache and the partials commit together: the
	# slice (one batch) is either not stored and the partials are as they
	# were, or stored with the partial of the whole store kept.
	if [ "$events" = "$kept_events" ]; then
		sqlite3 C.db "SELECT fp, chunk, hex(data) FROM chunk_partial ORDER BY fp, chunk" > c.rows
		cmp -s kept.rows c.rows || { echo "FAIL $what: no events stored, but the partials changed"; failed=1; }
	elif [ "$(sqlite3 C.db "SELECT count(*) FROM chunk_partial WHERE chunk = -1099511627777 - (SELECT max(id) FROM deal_chunk) / 16")" != 1 ]; then
		echo "FAIL $what: the events are stored without the partials of the store they make"
		failed=1
	fi
	# the import again, given the rules, then the same checks
	copydb C.db R.db
	"$bin" --db C.db $as_of -f csv --import "slice$s.csv" "$rules" > c.out 2> c.err
	echo "exit $?" >> c.out
	"$bin" --db R.db $as_of -f csv --recount --import "slice$s.csv" "$rules" > r.out 2> r.err
	echo "exit $?" >> r.out
	cat c.err >> all.err
	same "$what: the import run again" c.out r.out || continue
	check_after "$what"
done
if grep -q "Sanitizer\|runtime error" all.err; then
	echo "FAIL: a sanitizer complained:"
	grep -m 5 "Sanitizer\|runtime error" all.err
	failed=1
fi
exit "$failed"
