#!/bin/bash
# End-to-end tests: the real binary on the fixtures in fixtures/, each run's
# stdout, stderr and exit status compared whole with cases/NAME.{out,err,status}.
# Runs happen in a scratch copy of fixtures/ so file names in messages are
# short and stable.  `run.sh BINARY --update` rewrites the expected files
# (review the diff before committing it).
set -uo pipefail

bin=$(realpath "$1")
update=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$here/fixtures/." "$work/"
cd "$work" || exit 1
export SALESENGINE_DB="$work/default.db"
passed=0 failed=0

# check NAME EXPECTED_STATUS ARGS...: one run of the binary.
check() {
	local name=$1 want=$2
	shift 2
	"$bin" "$@" >"$work/$name.out" 2>"$work/$name.err"
	local got=$?
	if [ "$update" = --update ]; then
		cp "$work/$name.out" "$here/cases/$name.out"
		cp "$work/$name.err" "$here/cases/$name.err"
	fi
	if [ "$got" -ne "$want" ]; then
		echo "FAIL $name: exit status $got, expected $want"
		sed 's/^/    /' "$work/$name.err" | head -20
		failed=$((failed + 1))
		return
	fi
	for stream in out err; do
		if ! diff -u "$here/cases/$name.$stream" "$work/$name.$stream" >"$work/diff"; then
			echo "FAIL $name: std$stream differs"
			head -40 "$work/diff" | sed 's/^/    /'
			failed=$((failed + 1))
			return
		fi
	done
	echo "ok   $name"
	passed=$((passed + 1))
}

asof=--as-of=2025-01-20T12:00:00Z

# Import a file mixing good and bad rows: every bad row named, the summary
# adds up (read = imported + duplicates + rejected), exit status 3.
check import_mixed 3 --db a.db --import mixed.csv "$asof" --format csv rules.lua
# The same file again changes nothing: all its good rows are duplicates and
# the report is byte-identical (its rejected rows are named again).
check import_again 3 --db a.db --import mixed.csv "$asof" --format csv rules.lua
# An overlapping Russian UI export: BOM, ';', CRLF, DD.MM.YYYY, decimal comma.
check import_ru 0 --db a.db --import export_ru.csv "$asof" --format csv --report leads,sources rules.lua
# JSON Lines: numbers, null, a nested value and malformed lines rejected.
check import_jsonl 3 --db a.db --import events.jsonl "$asof" --format csv --report leads,unknown rules.lua
# Reports over what is stored, no import: table (Cyrillic alignment), JSON.
check report_table 0 --db a.db "$asof" rules.lua
check report_json 0 --db a.db "$asof" --format json --report conversion,presale rules.lua
# Touched mode, month buckets, a range, one report.
check report_touched_month 0 --db a.db "$asof" --format csv --mode touched --period month \
	--report conversion --from 2025-01-13 --to 2025-01-31 rules.lua
# UTC buckets: the Monday-01:30-in-Moscow lead moves back to week 2.
check report_utc 0 --db a.db "$asof" --format csv --tz UTC --report leads rules.lua
# Diagnostic reports over the same store (rules_insight.lua: SLA 2 h,
# stale over 2 x the median, shrinkage 5, Yandex spend in the script).
check report_handling 0 --db a.db "$asof" --format csv --report handling,diagnostics rules_insight.lua
check report_velocity 0 --db a.db "$asof" --report velocity rules_insight.lua
check report_channels 0 --db a.db "$asof" --format csv --period month --report channels \
	--spend spend.csv rules_insight.lua
# Each week next to the previous one (--compare adds the compare report).
check report_compare 0 --db a.db "$asof" --format csv --compare --report handling rules_insight.lua
# Forecast and backtest: deals closed in November-January, two open at the
# pre-sale stage now; as of March the cutoffs are 2024-09-01 .. 2025-02-01.
check report_forecast 0 --db f.db --import forecast.csv --as-of 2025-03-01T00:00:00Z --format json \
	--report forecast rules_insight.lua
check report_backtest 0 --db f.db --as-of 2025-03-01T00:00:00Z --format csv --report backtest \
	rules_insight.lua
# Import only (no script), into the default database ($SALESENGINE_DB).
check import_only 0 --import export_ru.csv
# Script checks and script errors.
check check_ok 0 --check rules.lua
check check_bad_key 1 --check bad_key.lua
check check_sandbox 1 --check sandbox.lua
check check_bad_setting 1 --check bad_settings.lua
check check_bad_probability 1 --check bad_probability.lua
check missing_spend 1 --db a.db --report channels --spend no_such_spend.csv rules_insight.lua
# Usage errors: exit status 2 and a hint.
check usage_no_script 2 --db a.db
check usage_bad_period 2 --period year rules.lua
check usage_bad_date 2 --db a.db --from 2025-02-30 rules.lua
check missing_file 1 --db a.db --import no_such.csv rules.lua

echo "e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
