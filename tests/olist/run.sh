#!/usr/bin/env bash
# run.sh SALESENGINE SHARED_DATA_DIR: the Olist marketing funnel (two files,
# leads and won deals) imported through scripts/importers/two_table.lua,
# every report in both modes and every period compared with expected.sql,
# which computes them straight from the raw files; then the same import
# again must change nothing.  Exit: 0 agree, 1 differ, 77 data or sqlite3
# missing (CTest: SKIP_RETURN_CODE 77).  The data is read in place.
set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 SALESENGINE SHARED_DATA_DIR" >&2
	exit 2
fi
se=$1
data_dir=$2/olist_funnel
leads=$data_dir/olist_marketing_qualified_leads_dataset.csv
deals=$data_dir/olist_closed_deals_dataset.csv
here=$(cd "$(dirname "$0")" && pwd)
as_of=2019-01-01T00:00:00Z
n_leads=8000
n_deals=842

fail() {
	echo "olist: FAIL: $*" >&2
	exit 1
}

if [ ! -f "$leads" ] || [ ! -f "$deals" ]; then
	echo "olist: SKIP: $data_dir not found (the public data sets belong in ../shared/data beside the checkout)"
	exit 77
fi
if ! command -v sqlite3 >/dev/null 2>&1; then
	echo "olist: SKIP: the sqlite3 command-line shell is not installed"
	exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/olist.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

(cd "$data_dir" && sqlite3 -bail \
	-cmd '.import --csv olist_marketing_qualified_leads_dataset.csv mql' \
	-cmd '.import --csv olist_closed_deals_dataset.csv closed' "$tmp/raw.db" 'SELECT 1') > /dev/null ||
	fail "sqlite3 could not import the two files"

import=(--import-with two_table "$leads" "$deals")
summary="$leads + $deals (two_table): records $((n_leads + n_deals))"
status=0
"$se" --db "$tmp/se.db" "${import[@]}" > "$tmp/import.out" 2> "$tmp/import.err" || status=$?
want="$summary, read $((n_leads + n_deals)), imported $((n_leads + n_deals)), duplicates 0, rejected 0"
if [ "$status" -ne 0 ] || [ "$(cat "$tmp/import.err")" != "$want" ]; then
	head -n 20 "$tmp/import.err" >&2
	fail "import: expected exit 0 and only: $want"
fi

differ=0
for period in total month week day; do
	for mode in reached touched; do
		"$se" --db "$tmp/se.db" --format csv --period "$period" --mode "$mode" --as-of "$as_of" \
			"$here/olist_rules.lua" 2> "$tmp/err" | LC_ALL=C sort > "$tmp/actual" ||
			fail "salesengine --period $period --mode $mode: $(head -n 5 "$tmp/err")"
		sqlite3 -bail -cmd ".parameter set @period $period" -cmd ".parameter set @mode $mode" \
			-cmd ".parameter set @as_of $as_of" "$tmp/raw.db" < "$here/expected.sql" |
			LC_ALL=C sort > "$tmp/expected" || fail "expected.sql failed"
		if ! cmp -s "$tmp/expected" "$tmp/actual"; then
			echo "olist: --period $period --mode $mode differs (< expected.sql, > salesengine):"
			diff "$tmp/expected" "$tmp/actual" | head -n 20 || true
			differ=$((differ + 1))
		fi
	done
done
[ "$differ" -eq 0 ] || fail "$differ of 8 reports differ from expected.sql"

status=0
"$se" --db "$tmp/se.db" "${import[@]}" > /dev/null 2> "$tmp/again.err" || status=$?
want="$summary, read $((n_leads + n_deals)), imported 0, duplicates $((n_leads + n_deals)), rejected 0"
[ "$status" -eq 0 ] && [ "$(cat "$tmp/again.err")" = "$want" ] ||
	fail "re-import: expected only: $want; got: $(head -n 5 "$tmp/again.err")"
echo "olist: $n_leads leads, $n_deals won deals through two_table.lua: 8 reports agree with expected.sql; re-import: all duplicates"
