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
cp -r "$here/../fixtures/importers" "$work/importers"
cd "$work" || exit 1
export SALESENGINE_DB="$work/default.db"
passed=0 failed=0

# check NAME EXPECTED_STATUS ARGS...: one run of the binary.
check() {
	local name=$1 want=$2
	shift 2
	# stdin=FILE before check feeds FILE to the run's standard input.
	if [ -n "${stdin:-}" ]; then
		"$bin" "$@" <"$stdin" >"$work/$name.out" 2>"$work/$name.err"
	else
		"$bin" "$@" >"$work/$name.out" 2>"$work/$name.err"
	fi
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
# An unclosed quote (line 2) and a stray one (line 5) cost one record, not
# the lines between; a quoted value across two lines stays whole.  The same
# through standard input, which cannot be re-read.
check import_quotes 3 --db q.db --import quotes.csv "$asof" --format csv --report leads rules.lua
stdin=quotes.csv check import_quotes_stdin 3 --db q2.db --import - "$asof" --format csv \
	--report leads rules.lua
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
# --lang ru: Russian titles and headers, numbers for people (1 234,50 ₽).
check report_table_ru 0 --db a.db "$asof" --lang ru --report conversion,presale,unknown rules.lua
# -o: the same report into a file (stdout empty), replacing what was there;
# a directory that does not exist fails without leaving anything behind.
echo stale >report.json
check output_file 0 --db a.db "$asof" --format json --report conversion,presale -o report.json rules.lua
if ! cmp -s report.json "$here/cases/report_json.out" || [ -e report.json.tmp ]; then
	echo "FAIL output_file: report.json differs from report_json.out"
	failed=$((failed + 1))
fi
check output_bad_dir 1 --db a.db "$asof" --format csv -o no/such/dir/r.csv rules.lua
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
# With a range, the week before it still comes from the store (W02 next to
# W03 is the same as without the range).
check report_compare_from 0 --db a.db "$asof" --format csv --compare --report leads --from 2025-01-13 \
	--to 2025-01-19 rules_insight.lua
# --from/--to read the import's date forms: the same output as
# report_touched_month.
check report_from_ru_date 0 --db a.db "$asof" --format csv --mode touched --period month \
	--report conversion --from 13.01.2025 --to 31.01.2025 rules.lua
# Reporting on a database that does not exist: a failure with a hint, and
# no empty database left behind.
check report_no_db 1 --db no_such.db rules.lua
[ -e no_such.db ] && { echo "FAIL report_no_db: created no_such.db"; failed=$((failed + 1)); }
# Forecast and backtest: deals closed in November-January, two open at the
# pre-sale stage now; as of March the cutoffs are 2024-09-01 .. 2025-02-01.
check report_forecast 0 --db f.db --import forecast.csv --as-of 2025-03-01T00:00:00Z --format json \
	--report forecast rules_insight.lua
check report_backtest 0 --db f.db --as-of 2025-03-01T00:00:00Z --format csv --report backtest \
	rules_insight.lua
# Import only (no script), into the default database ($SALESENGINE_DB).
check import_only 0 --import export_ru.csv
# Custom metrics in every format (scripts/lib/metrics.lua through require).
check metrics_table 0 --db a.db "$asof" --report metrics metrics_rules.lua
check metrics_csv 0 --db a.db "$asof" --format csv --report metrics metrics_rules.lua
check metrics_json 0 --db a.db "$asof" --format json --report metrics metrics_rules.lua
# Alerts: state persists across runs.  Run 1: few_qualified fires, the team
# rule (hold = 2) is pending; run 2: only the team rule fires (announced
# once); run 3 lists what is firing; JSON lines.
check alerts_run1 4 --db alerts.db --import mixed.csv "$asof" --alerts -q metrics_rules.lua
check alerts_run2 4 --db alerts.db "$asof" --alerts metrics_rules.lua
check alerts_run3 4 --db alerts.db "$asof" --alerts=all metrics_rules.lua
check alerts_json 4 --db alerts.db "$asof" --alerts=all --format json metrics_rules.lua
# A manager whose name holds a newline and a source with an escape sequence:
# the alert line shows them escaped and cannot forge a line of its own.
check alerts_forged_names 4 --db forged.db --import forged_names.csv -q "$asof" --alerts metrics_rules.lua
# --check names a rules file that does not compile, and fails.
check check_broken_rules_file 1 --check broken_rules.lua
# Every way a rule can break, each named with its line; the good rule fires.
check alerts_broken 12 --db a.db "$asof" --alerts broken_rules.lua
# Command hooks run only when allowed, with the alert as JSON on stdin.
check hook_not_allowed 4 --db hook1.db --import mixed.csv -q "$asof" --alerts hook_rules.lua
if [ -e hook.json ]; then
	echo "FAIL hook_not_allowed: the hook ran without --allow-commands"
	failed=$((failed + 1))
fi
check hook_allowed 4 --db hook2.db --import mixed.csv -q "$asof" --alerts --allow-commands hook_rules.lua
if [ "$update" = --update ]; then
	cp hook.json "$here/cases/hook.json"
fi
if ! diff -u "$here/cases/hook.json" hook.json; then
	echo "FAIL hook_allowed: hook.json differs"
	failed=$((failed + 1))
fi
# Script checks and script errors.
check check_ok 0 --check rules.lua
check check_bad_key 1 --check bad_key.lua
check check_sandbox 1 --check sandbox.lua
check check_bad_setting 1 --check bad_settings.lua
# settings{ reports, format, language } stand in for the flags (the same
# bytes as --format csv --report leads,sources); a flag wins over them.
check defaults_from_script 0 --db a.db "$asof" defaults_rules.lua
if ! "$bin" --db a.db "$asof" --format csv --report leads,sources rules.lua 2>/dev/null |
	cmp -s - "$work/defaults_from_script.out"; then
	echo "FAIL defaults_from_script: differs from --format csv --report leads,sources"
	failed=$((failed + 1))
fi
check defaults_flag_wins 0 --db a.db "$asof" --format json --report conversion,presale defaults_rules.lua
if ! cmp -s "$work/defaults_flag_wins.out" "$here/cases/report_json.out"; then
	echo "FAIL defaults_flag_wins: differs from report_json"
	failed=$((failed + 1))
fi
check check_bad_reports_setting 1 --check bad_reports_setting.lua
# settings{ language = "ru" } speaks Russian in the digest (flags: none).
check defaults_digest_ru 0 --db a.db "$asof" --format table --report digest defaults_rules.lua
check check_bad_probability 1 --check bad_probability.lua
check missing_spend 1 --db a.db --report channels --spend no_such_spend.csv rules_insight.lua
# Usage errors: exit status 2 and a hint.
check usage_no_script 2 --db a.db
check usage_bad_period 2 --period year rules.lua
check usage_bad_date 2 --db a.db --from 2025-02-30 rules.lua
check missing_file 1 --db a.db --import no_such.csv rules.lua

# Import adapters: three daily BlueSales dumps (a customer without a status
# rejected, exit 3), then the report; the newest dump again changes nothing;
# an older one is refused.
bs=importers/bluesales
check adapter_bluesales_1 0 --db b.db --import-with bluesales $bs/customers_2026-11-26.json
check adapter_bluesales_2 3 --db b.db --import-with bluesales $bs/customers_2026-11-27.json
check adapter_bluesales_3 0 --db b.db --import-with bluesales $bs/customers_2026-11-28.json \
	"$asof" --format csv --report leads,conversion $bs/rules.lua
check adapter_bluesales_again 0 --db b.db --import-with bluesales $bs/customers_2026-11-28.json
check adapter_bluesales_older 1 --db b.db --import-with bluesales $bs/customers_2026-11-27.json
# Several inputs through one adapter run, and the rules script last.
check adapter_amocrm 3 --db c.db --import-with amocrm importers/amocrm/pipelines.json \
	importers/amocrm/users.json importers/amocrm/leads.json importers/amocrm/events.json \
	"$asof" --format csv --report conversion importers/amocrm/rules.lua
# A team's own adapter on a cp1251 export: refused as UTF-8 with a hint,
# imported with --encoding (a bad date rejected, the rest imported).
ru=importers/ru_export
check adapter_cp1251_hint 1 --db d.db --import-with ./$ru/my_crm.lua $ru/export.csv
check adapter_cp1251 3 --db d.db --import-with ./$ru/my_crm.lua --encoding cp1251 $ru/export.csv \
	"$asof" --format csv --report leads,presale $ru/rules.lua
check usage_adapter_no_input 2 --db c.db --import-with amocrm rules.lua
check usage_adapter_unknown 2 --db c.db --import-with salesforce export.csv
check usage_encoding_alone 2 --db c.db --encoding cp1251 rules.lua
# UI exports read with the bundled columns{} mappings (scripts/lib/columns/):
# amoCRM's lead list on two days (the unchanged lead is one event), Bitrix24's
# cp1251 deal list, Pipedrive's "Deal - ..." columns.
ui=importers
check ui_amocrm 0 --db u1.db --import $ui/ui_amocrm/export_2026-12-01.csv \
	--import $ui/ui_amocrm/export_2026-12-02.csv --as-of 2026-12-10T00:00:00Z --format csv \
	--report leads,conversion $ui/ui_amocrm/rules.lua
check ui_bitrix24 0 --db u2.db --encoding cp1251 --import $ui/ui_bitrix24/deals.csv \
	--as-of 2026-12-10T00:00:00Z --format csv --report leads $ui/ui_bitrix24/rules.lua
check ui_pipedrive 0 --db u3.db --import $ui/ui_pipedrive/deals.csv \
	--as-of 2026-12-10T00:00:00Z --format csv --report leads $ui/ui_pipedrive/rules.lua
# A mapped column the export lacks: named, with the closest header name.
check ui_missing_column 1 --db u4.db --import $ui/ui_pipedrive/deals.csv \
	$ui/ui_pipedrive/rules_wrong.lua
# A hook that reads nothing and sleeps, with 200 KB of JSON for its stdin:
# killed at --hook-timeout, the run over within a second more.
started=$(date +%s%N)
check hook_killed 4 --db hook3.db --import mixed.csv -q "$asof" --alerts --allow-commands \
	--hook-timeout=1 hook_slow_rules.lua
elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
if [ "$elapsed_ms" -gt 4000 ]; then
	echo "FAIL hook_killed: the run took ${elapsed_ms} ms (timeout 1 s)"
	failed=$((failed + 1))
fi

# Lua's print() goes to stderr: the JSON on stdout stays valid.
check metrics_print 0 --db a.db "$asof" --format json --report metrics print_rules.lua
if command -v python3 >/dev/null && ! python3 -m json.tool metrics_print.out >/dev/null; then
	echo "FAIL metrics_print: stdout is not JSON"
	failed=$((failed + 1))
fi
# Work inside one C call (a backtracking pattern) stops at the budget, with
# the line; a finalizer is refused in a rule test file.
check check_c_work 1 --max-instructions=5000000 --check c_work.lua
# --check runs every metric and rule once (on no data): a misspelt stage
# or metric fails now, with its line and the name meant (case, ё/е and
# spaces set aside); an uncounted pair too.
check check_early 1 --check check_early.lua
check ruletest_gc 1 test gc_test.lua

# Rule tests: a pass, differences printed per list and metric, a start the
# clock cannot read; a malformed test{} after a good one (which still runs).
check ruletest_diff 1 test rules_test.lua
check ruletest_broken 1 test rules_broken_test.lua

echo "e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
