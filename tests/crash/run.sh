#!/bin/bash
# The crash test: an import killed with SIGKILL at 20 random moments (from
# its first batch to its history cache refresh at the end), each time on a
# fresh database, then run again to the end.  Every database must then hold
# exactly what an uninterrupted import of the same file holds: the events
# (dumped through the events view, names and all), the history cache
# (every chunk's bytes and the mark it covers) and the names, compared
# byte for byte, plus a report.
#
#   tests/crash/run.sh BINARY GEN_EVENTS [DEALS] [KILLS]
set -uo pipefail

bin=$(realpath "$1")
gen=$(realpath "$2")
deals=${3:-100000}
kills=${4:-20}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=kill.sh
. "$here/kill.sh"
rules="$here/../bench/bench_rules.lua"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
command -v sqlite3 >/dev/null || { echo "skipped: no sqlite3 CLI"; exit 77; }

"$gen" --deals "$deals" --out events.csv >/dev/null || { echo "FAIL gen_events"; exit 1; }
rows=$(($(wc -l <events.csv) - 1))

dump() { # DB: everything an import leaves, in a stable order
	sqlite3 "$1" "SELECT * FROM events ORDER BY event_id;" \
		"SELECT 'deal', id, key FROM deal ORDER BY id;" \
		"SELECT 'status', id, name FROM status ORDER BY id;" \
		"SELECT 'manager', id, name FROM manager ORDER BY id;" \
		"SELECT 'source', id, name FROM source ORDER BY id;" \
		"SELECT 'chunk', id, hex(data), hex(detail) FROM deal_chunk ORDER BY id;" \
		"SELECT 'mark', key, value FROM meta WHERE key IN ('cache_rowid', 'cache_last_ts') ORDER BY key;"
}
report() {
	"$bin" -q --db "$1" --as-of 2026-01-01T00:00:00Z --format csv --report all "$rules"
}

start=$(date +%s%N)
"$bin" -q --db ref.db --import events.csv >/dev/null 2>ref.err || { echo "FAIL reference import: $(cat ref.err)"; exit 1; }
took_ms=$((($(date +%s%N) - start) / 1000000))
dump ref.db >ref.dump
report ref.db >ref.report || { echo "FAIL reference report"; exit 1; }
n=$(sqlite3 ref.db "SELECT count(*) FROM event")
[ "$n" -eq "$rows" ] || { echo "FAIL reference import stored $n of $rows events"; exit 1; }
echo "crash: $rows events, an uninterrupted import takes $took_ms ms; $kills kills"

fresh_db() { # the database an import starts from: none
	# shellcheck disable=SC2317 # called by kill_live
	rm -f crash.db crash.db-wal crash.db-shm
}

failed=0
RANDOM=20261207
for i in $(seq 1 "$kills"); do
	# A random moment from the start to the end (a batch being written, a
	# commit, the cache refresh after the last one).  The machine may be
	# faster now than when the reference ran: an import that was done
	# before the kill is run again with an earlier moment, so each of the
	# kills lands in a live import.
	delay_ms=$((RANDOM * RANDOM % (took_ms + 1)))
	kill_live "$delay_ms" fresh_db "$bin" -q --db crash.db --import events.csv
	before=$(sqlite3 crash.db "SELECT count(*) FROM event" 2>/dev/null || echo 0)
	if ! "$bin" -q --db crash.db --import events.csv >/dev/null 2>rerun.err; then
		echo "FAIL kill $i: the rerun failed: $(cat rerun.err)"
		failed=1
		continue
	fi
	dump crash.db >crash.dump
	if ! cmp -s ref.dump crash.dump; then
		echo "FAIL kill $i (at $delay_ms ms, $state, $before events kept): the database differs"
		diff ref.dump crash.dump | head -5
		failed=1
		continue
	fi
	report crash.db >crash.report
	cmp -s ref.report crash.report || { echo "FAIL kill $i: the report differs"; failed=1; continue; }
	echo "ok   kill $i at $delay_ms ms ($state, $before of $rows events committed)"
done
exit $failed
