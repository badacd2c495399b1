#!/usr/bin/env bash
# run.sh SALESENGINE GEN_EVENTS: the diagnostic reports on generated data.
#
# Generates 3,000 deals with the benchmark's generator (tests/bench), imports
# them, and compares the handling, velocity (time in stage, open and stale
# counts, time to won) and forecast (shrunk rates, close months) reports
# with expected.sql, which computes the same CSV lines in plain SQL from the
# raw events.  Then runs the forecast backtest on the same data and prints
# its error per cutoff and overall.  Exit: 0 agree, 1 differ or broke, 77
# when sqlite3 is missing.
set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 SALESENGINE GEN_EVENTS" >&2
	exit 2
fi
se=$1
gen=$2
here=$(cd "$(dirname "$0")" && pwd)
rules=$here/../bench/bench_rules.lua
as_of=2026-01-01T00:00:00Z

fail() {
	echo "insight: FAIL: $*" >&2
	exit 1
}
if ! command -v sqlite3 >/dev/null 2>&1; then
	echo "insight: SKIP: the sqlite3 command-line shell is not installed"
	exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/insight.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

"$gen" --deals 3000 --out "$tmp/events.csv" > /dev/null || fail "gen_events failed"
"$se" -q --db "$tmp/se.db" --import "$tmp/events.csv" || fail "import failed"

# The stale list is left out: it is the top of a ranking the counts in the
# velocity rows already check.
"$se" --db "$tmp/se.db" --format csv --period month --as-of "$as_of" --report handling,velocity,forecast "$rules" |
	grep -v '^stale,\|^report,funnel,deal,' |
	# expected.sql checks the stage and shrunk forecasts; the time-aware one
	# (the last column of both forecast blocks, and the months only it
	# fills) is checked by tests/insight/check_forecast.py
	awk -F, -v OFS=, '
		/^report,funnel,(stage|month),.*,forecast_time$/ { sub(/,forecast_time$/, ""); print; next }
		/^forecast_month,/ && $4 == "0" { next }
		/^forecast(_month)?,/ { NF--; print; next }
		{ print }' > "$tmp/actual.csv" || fail "salesengine failed"
sqlite3 -bail -cmd ".import --csv $tmp/events.csv events" "$tmp/ref.db" < "$here/expected.sql" > "$tmp/expected.csv" ||
	fail "expected.sql failed"
LC_ALL=C sort "$tmp/actual.csv" > "$tmp/a"
LC_ALL=C sort "$tmp/expected.csv" > "$tmp/e"
if ! cmp -s "$tmp/a" "$tmp/e"; then
	echo "insight: salesengine and expected.sql differ (< expected, > salesengine):"
	diff "$tmp/e" "$tmp/a" | head -n 30 || true
	fail "reports differ"
fi
rows=$(grep -c '^[a-z_]*,sales,' "$tmp/a")
echo "insight: 3000 generated deals: $rows rows of handling, velocity, time_to_won, forecast and forecast_month agree with expected.sql"

# The backtest: the forecast as of each of the 6 month starts before the
# as-of date, against what was won after; "all" carries the WAPE.
"$se" --db "$tmp/se.db" --format csv --as-of "$as_of" --report backtest "$rules" > "$tmp/backtest.csv" ||
	fail "backtest failed"
[ "$(grep -c '^backtest,sales,' "$tmp/backtest.csv")" -eq 7 ] || fail "expected 6 cutoffs and an all row"
echo "insight: backtest (cutoff: forecast by stage probability / shrunk rate vs won after the cutoff):"
awk -F, '$1 == "backtest" { printf "  %-10s open %6d deals %14s; forecast %14s; won %14s; error %14s (%s%%); still open %14s\n", $3, $4, $5, $7, $9, $13, $14, $10 }' \
	"$tmp/backtest.csv"
