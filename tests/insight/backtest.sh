#!/usr/bin/env bash
# backtest.sh SALESENGINE GEN_EVENTS [DEALS]: the forecast methods judged on
# the benchmark generator's history (a share of the deals stalls for ever
# at a pre-sale stage).
#
# Generates DEALS deals (default 100,000), imports them and runs the
# backtest as of 2026-01-01: per cutoff and overall, each method's forecast
# of the revenue won within 30 days against what was won.  Prints the
# methods side by side; fails when the time-aware method's overall weighted
# absolute error (the "all" row's error_time_pct) is above 15%
# (docs/METRICS.md 4i).  Exit: 0 met, 1 not met or broke.
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
	echo "usage: $0 SALESENGINE GEN_EVENTS [DEALS]" >&2
	exit 2
fi
se=$1
gen=$2
deals=${3:-100000}
here=$(cd "$(dirname "$0")" && pwd)
target=15

fail() {
	echo "backtest: FAIL: $*" >&2
	exit 1
}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/backtest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

"$gen" --deals "$deals" --out "$tmp/events.csv" > /dev/null || fail "gen_events failed"
"$se" -q --db "$tmp/se.db" --import "$tmp/events.csv" || fail "import failed"
"$se" --db "$tmp/se.db" --format csv --as-of 2026-01-01T00:00:00Z --report backtest \
	"$here/../bench/bench_rules.lua" > "$tmp/bt.csv" || fail "salesengine failed"
# columns: 3 cutoff, 10 won_amount, 15 error_shrunk_pct, 17 error_time_pct
echo "backtest on $deals generated deals (30 days; error = forecast - won, all: weighted absolute):"
awk -F, '$1 == "backtest" { printf "  %-10s won %15s  shrunk %8s%%  time-aware %6s%%\n", $3, $10, $15, $17 }' "$tmp/bt.csv"
wape=$(awk -F, '$1 == "backtest" && $3 == "all" { print $17 }' "$tmp/bt.csv")
[ -n "$wape" ] || fail "no \"all\" row"
awk -v w="$wape" -v t="$target" 'BEGIN { exit !(w <= t) }' ||
	fail "time-aware weighted error $wape% is above $target%"
echo "backtest: time-aware weighted error $wape% (target <= $target%)"
