#!/usr/bin/env bash
# run.sh SALESENGINE SHARED_DATA_DIR: the Olist marketing funnel, end to end.
#
# Real leads with ad sources (origin) and managers (sdr_id, sr_id): turns
# the two public files into events with to_events.sql, imports them with
# the real binary, and compares the handling, source_steps and channels
# reports (with ad spend from a CSV) for periods total and month with
# expected.sql, which computes the same lines straight from the raw files.
# Exit: 0 agree, 1 differ or broke, 77 data or sqlite3 missing (CTest:
# SKIP_RETURN_CODE 77).  The data is read in place, never copied.
set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 SALESENGINE SHARED_DATA_DIR" >&2
	exit 2
fi
se=$1
data_dir=$2/olist_funnel
here=$(cd "$(dirname "$0")" && pwd)
leads_csv=olist_marketing_qualified_leads_dataset.csv
closed_csv=olist_closed_deals_dataset.csv
# ../shared/data/README.md: the numbers below are those of exactly these files.
sha_leads=5537753b7549ce4068e52e2402c29f2773c5375fc0575520ae8f3f301f666573
sha_closed=1433f402d8fff00ca167579de641d9525f6e846368958c166f699ef1b0c31f3d
as_of=2019-01-01T00:00:00Z
as_of_s=1546300800
sla_s=86400

fail() {
	echo "olist_diag: FAIL: $*" >&2
	exit 1
}

if [ ! -f "$data_dir/$leads_csv" ] || [ ! -f "$data_dir/$closed_csv" ]; then
	echo "olist_diag: SKIP: $data_dir not found (the public data sets belong in ../shared/data beside the checkout)"
	exit 77
fi
if ! command -v sqlite3 >/dev/null 2>&1; then
	echo "olist_diag: SKIP: the sqlite3 command-line shell is not installed"
	exit 77
fi
[ -x "$se" ] || fail "$se is not an executable"
for pair in "$leads_csv:$sha_leads" "$closed_csv:$sha_closed"; do
	f=${pair%%:*}
	want=${pair#*:}
	got=$(sha256sum "$data_dir/$f" | cut -d' ' -f1)
	[ "$got" = "$want" ] || fail "$f has sha256 $got, not $want (README.md): not the published file"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/olist.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Ad spend for the test: each origin its own flat monthly budget over the
# months of the data (a made-up table: Olist publishes no spend).
{
	echo "source,month,amount"
	for m in 2017-06 2017-07 2017-08 2017-09 2017-10 2017-11 2017-12 2018-01 2018-02 2018-03 2018-04 2018-05; do
		echo "organic_search,$m,1000"
		echo "paid_search,$m,25000.50"
		echo "social,$m,12000"
		echo "email,$m,3000"
	done
} > "$tmp/spend.csv"

raw() { # DB [SQL...]: sqlite3 with both raw files and the spend imported
	local db=$1
	shift
	(cd "$data_dir" && sqlite3 -bail -cmd ".import --csv $leads_csv mql" -cmd ".import --csv $closed_csv closed" \
		-cmd ".import --csv $tmp/spend.csv spend" "$db" "$@")
}

raw "$tmp/events.db" < "$here/to_events.sql" > "$tmp/events.csv" || fail "to_events.sql failed"
events=$(($(wc -l < "$tmp/events.csv") - 1))
[ "$events" -eq 8842 ] || fail "$events events, expected 8842 (8,000 leads + 842 won)"
"$se" -q --db "$tmp/se.db" --import "$tmp/events.csv" || fail "import failed"

compared=0
for period in total month; do
	"$se" --db "$tmp/se.db" --format csv --report handling,channels --period "$period" --as-of "$as_of" \
		--spend "$tmp/spend.csv" "$here/olist_rules.lua" > "$tmp/actual.$period.csv" 2> "$tmp/err" ||
		{ cat "$tmp/err" >&2; fail "salesengine --period $period failed"; }
	rm -f "$tmp/raw.db"
	raw "$tmp/raw.db" -cmd ".parameter set @period $period" -cmd ".parameter set @as_of $as_of_s" \
		-cmd ".parameter set @sla $sla_s" < "$here/expected.sql" > "$tmp/expected.$period.csv" ||
		fail "expected.sql failed"
	LC_ALL=C sort "$tmp/actual.$period.csv" > "$tmp/a"
	LC_ALL=C sort "$tmp/expected.$period.csv" > "$tmp/e"
	if ! cmp -s "$tmp/a" "$tmp/e"; then
		echo "olist_diag: --period $period: salesengine and expected.sql differ (< expected, > salesengine):"
		diff "$tmp/e" "$tmp/a" | head -n 30 || true
		fail "--period $period differs"
	fi
	compared=$((compared + $(grep -c '^[a-z_]*,olist,' "$tmp/a")))
done
team=$(grep '^handling,olist,all,team' "$tmp/actual.total.csv")
echo "olist_diag: 8,000 leads, $events events; $compared rows of handling, source_steps and channels" \
	"(total and month) agree with expected.sql; team: $team"
