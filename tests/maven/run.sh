#!/usr/bin/env bash
# run.sh SALESENGINE SHARED_DATA_DIR [wide]: the Maven CRM data set, end to end.
#
# With "wide", the export is imported as it is through the Lua adapter
# scripts/importers/wide.lua instead of through to_events.sql and the
# canonical import; everything else, expected.sql included, is the same.
#
# Turns the public wide export (8,800 deals) into canonical events with
# to_events.sql, imports them with the real binary, and compares every
# report, in both counting modes and for each period, with expected.sql,
# which computes the same numbers straight from the export.  Also checks
# the import summary and that importing the same file again changes
# nothing.  Exit: 0 agree, 1 differ or broke, 77 data or sqlite3 missing
# (CTest: SKIP_RETURN_CODE 77).  The data is read in place, never copied.
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ] || { [ $# -eq 3 ] && [ "$3" != wide ]; }; then
	echo "usage: $0 SALESENGINE SHARED_DATA_DIR [wide]" >&2
	exit 2
fi
se=$1
adapter=${3:-}
data_dir=$2/maven_crm
csv=$data_dir/sales_pipeline.csv
here=$(cd "$(dirname "$0")" && pwd)

# The sha256 listed in ../shared/data/README.md: the numbers asserted below
# are those of exactly this file.
sha_expected=825ce8f6c32d4009548b468df3173d55a46fd73f2531f532c5459371dc52adf2
deals_expected=8800
undated_expected=500      # the Prospecting deals: no engage_date, no close_date
events_expected=15011     # 8,300 engaged + 6,711 closed
as_of=2018-01-01T00:00:00Z
periods="total month week day"
modes="reached touched"

fail() {
	echo "maven: FAIL: $*" >&2
	exit 1
}

# The checks after the import report a failure and go on, so that one run
# shows every problem.
problems=0
problem() {
	echo "maven: FAIL: $*" >&2
	problems=$((problems + 1))
}

if [ ! -f "$csv" ]; then
	echo "maven: SKIP: $csv not found (the public data sets belong in ../shared/data beside the checkout)"
	exit 77
fi
if ! command -v sqlite3 >/dev/null 2>&1; then
	echo "maven: SKIP: the sqlite3 command-line shell is not installed"
	exit 77
fi
[ -x "$se" ] || fail "$se is not an executable"

if command -v sha256sum >/dev/null 2>&1; then
	sha=$(sha256sum "$csv" | cut -d' ' -f1)
else
	sha=$(shasum -a 256 "$csv" | cut -d' ' -f1)
fi
[ "$sha" = "$sha_expected" ] ||
	fail "$csv has sha256 $sha, not $sha_expected (README.md): not the published file"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/maven.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Both SQL scripts read the export as a table sales_pipeline, imported
# unchanged (sqlite3 -bail DB [SQL]: the rest of the arguments and stdin
# are sqlite3's).  Importing from inside the data directory keeps its path
# out of sqlite3's dot-command quoting.  Two databases, so that expected.sql
# cannot see what to_events.sql made.
sqlite_on_export() {
	local db=$1
	shift
	(cd "$data_dir" && sqlite3 -bail -cmd '.import --csv sales_pipeline.csv sales_pipeline' "$db" "$@")
}
sqlite_on_export "$tmp/raw.db" 'SELECT 1' > /dev/null || fail "sqlite3 could not import $csv"

# ---- events --------------------------------------------------------------
sqlite_on_export "$tmp/events.db" < "$here/to_events.sql" > "$tmp/events.csv" ||
	fail "to_events.sql failed (see above)"
counts=$(sqlite3 -separator ' ' "$tmp/events.db" "SELECT (SELECT count(*) FROM sales_pipeline),
	(SELECT count(*) FROM maven_undated),
	(SELECT count(*) FROM maven_undated WHERE deal_stage <> 'Prospecting'),
	(SELECT count(*) FROM maven_events)") || fail "counting the events failed"
read -r deals undated undated_other events <<< "$counts"
[ "$deals" -eq "$deals_expected" ] || fail "$deals deals in the export, expected $deals_expected"
[ "$undated_other" -eq 0 ] || fail "$undated_other deals without dates are not Prospecting"
[ "$undated" -eq "$undated_expected" ] ||
	fail "$undated Prospecting deals without dates, expected $undated_expected"
[ "$events" -eq "$events_expected" ] || fail "$events events, expected $events_expected"
lines=$(($(wc -l < "$tmp/events.csv") - 1))
[ "$lines" -eq "$events" ] || fail "events.csv has $lines data rows, the view $events"

# ---- import: every row stored, nothing rejected --------------------------
# Without a rules script the binary only imports, and (not --quiet) says so
# on stderr: "FILE: read N, imported N, duplicates 0, rejected 0".
# Through the adapter: "FILE (wide): records N, read ...", one record per deal.
if [ -n "$adapter" ]; then
	import=(--import-with "$adapter" "$csv")
	summary="$csv ($adapter): records $deals, read"
else
	import=(--import "$tmp/events.csv")
	summary="$tmp/events.csv: read"
fi
status=0
"$se" --db "$tmp/se.db" "${import[@]}" > "$tmp/import.out" 2> "$tmp/import.err" || status=$?
want="$summary $events, imported $events, duplicates 0, rejected 0"
if [ "$status" -ne 0 ] || [ "$(cat "$tmp/import.err")" != "$want" ] || [ -s "$tmp/import.out" ]; then
	echo "maven: import exited $status; stderr:" >&2
	head -n 20 "$tmp/import.err" >&2
	fail "expected exit 0 and only: $want"
fi

# ---- reports against expected.sql ----------------------------------------
report() { # PERIOD MODE: the engine's CSV report on stdout
	"$se" --db "$tmp/se.db" --format csv --period "$1" --mode "$2" --as-of "$as_of" \
		"$here/maven_rules.lua"
}

expected() { # PERIOD MODE
	sqlite3 -bail -cmd ".parameter set @period $1" -cmd ".parameter set @mode $2" \
		-cmd ".parameter set @as_of $as_of" "$tmp/raw.db" < "$here/expected.sql"
}

compared=0
differ=0
for period in $periods; do
	for mode in $modes; do
		run=$period.$mode
		status=0
		report "$period" "$mode" > "$tmp/actual.$run.csv" 2> "$tmp/actual.$run.err" || status=$?
		if [ "$status" -ne 0 ] || [ -s "$tmp/actual.$run.err" ]; then
			head -n 20 "$tmp/actual.$run.err" >&2
			fail "salesengine --period $period --mode $mode exited $status (stderr above)"
		fi
		expected "$period" "$mode" > "$tmp/expected.$run.csv" || fail "expected.sql failed (see above)"
		LC_ALL=C sort "$tmp/actual.$run.csv" > "$tmp/actual.$run.sorted"
		LC_ALL=C sort "$tmp/expected.$run.csv" > "$tmp/expected.$run.sorted"
		if ! cmp -s "$tmp/expected.$run.sorted" "$tmp/actual.$run.sorted"; then
			only_expected=$(LC_ALL=C comm -23 "$tmp/expected.$run.sorted" "$tmp/actual.$run.sorted" | wc -l)
			only_actual=$(LC_ALL=C comm -13 "$tmp/expected.$run.sorted" "$tmp/actual.$run.sorted" | wc -l)
			echo "maven: --period $period --mode $mode: salesengine and expected.sql differ:" \
				"$only_expected lines only expected, $only_actual only printed"
			if [ "$differ" -eq 0 ]; then
				# 30 lines of diff, half from each side: a changed block
				# would otherwise show only its expected lines.
				echo "maven: diff of the sorted lines (< expected.sql, > salesengine), first 15 of each side:"
				diff -a "$tmp/expected.$run.sorted" "$tmp/actual.$run.sorted" > "$tmp/diff" || true
				grep -a '^<' "$tmp/diff" | head -n 15 || true
				grep -a '^>' "$tmp/diff" | head -n 15 || true
			fi
			differ=$((differ + 1))
			continue
		fi
		# Data rows: neither a header nor the empty line between blocks.
		rows=$(grep -ac '^[a-z]*,maven,' "$tmp/actual.$run.csv" || true)
		compared=$((compared + rows))
	done
done
n_runs=$(($(wc -w <<< "$periods") * $(wc -w <<< "$modes")))
[ "$differ" -eq 0 ] || problem "$differ of $n_runs reports differ from expected.sql"

# On this funnel and data the two modes give the same numbers (expected.sql
# says why): only the conversion rows' mode column differs.  A claim about
# the data, so it is checked on expected.sql's side.
for period in $periods; do
	sed 's/^\(conversion,maven,Engaging -> Won[^,]*,\)touched,/\1reached,/' \
		"$tmp/expected.$period.touched.sorted" | LC_ALL=C sort > "$tmp/touched.as.reached"
	cmp -s "$tmp/expected.$period.reached.sorted" "$tmp/touched.as.reached" ||
		problem "--period $period: expected.sql's reached and touched differ beyond the mode column"
done

# ---- importing the same file again --------------------------------------
# Every row is a duplicate, and the report does not change by one byte.
status=0
"$se" --db "$tmp/se.db" "${import[@]}" --format csv --period month --mode reached \
	--as-of "$as_of" "$here/maven_rules.lua" > "$tmp/again.csv" 2> "$tmp/again.err" || status=$?
want="$summary $events, imported 0, duplicates $events, rejected 0"
if [ "$status" -ne 0 ] || [ "$(cat "$tmp/again.err")" != "$want" ]; then
	echo "maven: re-import exited $status; stderr:" >&2
	head -n 20 "$tmp/again.err" >&2
	problem "re-import: expected exit 0 and only: $want"
elif ! cmp -s "$tmp/actual.month.reached.csv" "$tmp/again.csv"; then
	diff -a "$tmp/actual.month.reached.csv" "$tmp/again.csv" | head -n 30 || true
	problem "the report changed after importing the same events again"
fi

[ "$problems" -eq 0 ] || exit 1
echo "maven${adapter:+ ($adapter adapter)}: $deals deals ($undated prospecting without dates skipped), $events events," \
	"$compared rows compared in 2 modes x $(wc -w <<< "$periods") periods ($n_runs reports): agree;" \
	"re-import: $events duplicates, report unchanged"
