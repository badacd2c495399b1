#!/usr/bin/env bash
# run.sh SALESENGINE: a Russian CRM's UI export imported with columns{}
# alone (tests/columns/rules.lua), checked against expected.py.
#
# The export (tests/fixtures/columns/history_cp1251.csv, written by
# make_export.py) is cp1251, ';'-separated, with Russian headers,
# DD.MM.YYYY HH:MM times, "125 000,50" amounts, no event id and one row
# given twice.  Checks: it imports with --encoding cp1251 (the repeated row
# is one event); importing it again stores nothing new; without --encoding
# the error says what to try; the leads and conversion reports, in total
# and by week, equal expected.py's independent computation from the raw
# file.  Exit 0 agree, 1 differ, 77 python3 missing (CTest skips).
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 SALESENGINE" >&2; exit 2; }
se=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
export_csv=$here/../fixtures/columns/history_cp1251.csv
rules=$here/rules.lua
as_of=--as-of=2027-01-01T00:00:00Z

if ! command -v python3 >/dev/null 2>&1; then
	echo "columns: SKIP: python3 is not installed"
	exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/columns.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cp "$export_csv" "$tmp/export.csv"
cd "$tmp"
problems=0
problem() {
	echo "columns: FAIL: $*" >&2
	problems=$((problems + 1))
}

# An import with the rules (columns{} lives there), its report thrown
# away; prints the exit status, leaves stderr in err.txt.
import_with_rules() {
	local status=0
	"$se" --db se.db "$@" --import export.csv --format csv --report leads "$as_of" "$rules" \
		> /dev/null 2> err.txt || status=$?
	echo "$status"
}

status=$(import_with_rules --encoding cp1251)
want="export.csv: read 116, imported 115, duplicates 1, rejected 0"
[ "$status" -eq 0 ] && [ "$(cat err.txt)" = "$want" ] ||
	problem "first import exited $status: $(cat err.txt) (expected: $want)"
events=$(sqlite3 se.db 'SELECT count(*) FROM events' 2>/dev/null || echo "?")

status=$(import_with_rules --encoding cp1251)
want="export.csv: read 116, imported 0, duplicates 116, rejected 0"
[ "$status" -eq 0 ] && [ "$(cat err.txt)" = "$want" ] ||
	problem "second import exited $status: $(cat err.txt) (expected: $want)"
again=$(sqlite3 se.db 'SELECT count(*) FROM events' 2>/dev/null || echo "?")
[ "$events" = "$again" ] || problem "the second import changed the events: $events, then $again"

status=$(import_with_rules)
want="salesengine: export.csv:1: header is not valid UTF-8 (column 1, byte 1); if it is a Windows export, try --encoding cp1251"
[ "$status" -eq 1 ] && [ "$(cat err.txt)" = "$want" ] ||
	problem "the import without --encoding exited $status: $(cat err.txt) (expected: $want)"

for period in total week; do
	"$se" --db se.db --format csv --period "$period" --report leads,conversion "$as_of" "$rules" \
		> actual.csv 2> err.txt || problem "report --period $period failed: $(cat err.txt)"
	python3 "$here/expected.py" export.csv "$period" > expected.csv
	LC_ALL=C sort actual.csv > actual.sorted
	LC_ALL=C sort expected.csv > expected.sorted
	if ! cmp -s expected.sorted actual.sorted; then
		problem "--period $period: salesengine and expected.py differ (< expected, > printed):"
		diff expected.sorted actual.sorted | head -20 >&2
	fi
	rows=$(grep -c '' actual.csv)
	echo "columns: --period $period: $rows lines agree with expected.py"
done

if [ "$problems" -gt 0 ]; then
	echo "columns: $problems problem(s)" >&2
	exit 1
fi
echo "columns: ok (116 rows, 115 events, re-import stores nothing)"
