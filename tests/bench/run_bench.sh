#!/usr/bin/env bash
# run_bench.sh: the salesengine benchmark, and its agreement check.
#
# usage: run_bench.sh [--strict] [--keep] BUILD_DIR [DEALS]
#
# Generates DEALS synthetic deals (default 1000000) with BUILD_DIR/gen_events,
# then, side by side with the sqlite3 CLI as the obvious alternative:
#   1. import: sqlite3 `.import --csv` vs `salesengine --import`, best of 3;
#   2. reports: salesengine over tests/bench/bench_rules.lua (best of 3 after
#      a warm-up, both modes) vs tests/bench/reference.sql in sqlite3, then
#      every report kind (--report all), timed only;
#   3. agreement: both must print the same CSV lines (compared sorted);
#   4. peak memory of the salesengine processes (needs /usr/bin/time).
# and prints a summary with PASS/FAIL per target.
#
# Exit status: 1 when the outputs disagree or a step fails; a missed
# performance target only prints FAIL, unless --strict.  --keep leaves the
# work directory in place (its path is printed).
#
# Builds nothing: CMake's `bench` target builds salesengine and gen_events
# first.  Needs bash, sqlite3 >= 3.38 (unixepoch) and coreutils; no network.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
rules="$here/bench_rules.lua"
reference="$here/reference.sql"
as_of="2026-01-01T00:00:00Z"

# Targets (see the summary).
target_import_ratio=1.0   # sqlite3 .import time / salesengine --import time
target_report_s=0.5       # salesengine report, whole process, best of 3
target_sql_ratio=20       # reference SQL time / salesengine report time
target_mem_mb=200         # peak RSS of the salesengine processes

usage() {
	echo "usage: $0 [--strict] [--keep] BUILD_DIR [DEALS]" >&2
	exit 2
}

strict=0
keep=0
args=()
for a in "$@"; do
	case "$a" in
	--strict) strict=1 ;;
	--keep) keep=1 ;;
	-h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "$0: unknown option $a" >&2; usage ;;
	*) args+=("$a") ;;
	esac
done
if [ "${#args[@]}" -lt 1 ] || [ "${#args[@]}" -gt 2 ]; then
	usage
fi
build=$(cd "${args[0]}" 2>/dev/null && pwd) || { echo "$0: no directory ${args[0]}" >&2; exit 2; }
deals=${args[1]:-1000000}
case "$deals" in
'' | *[!0-9]* | 0) echo "$0: DEALS must be a positive integer, got '$deals'" >&2; exit 2 ;;
esac

engine="$build/salesengine"
gen="$build/gen_events"
for exe in "$gen" "$engine"; do
	if [ ! -x "$exe" ]; then
		echo "$0: $exe is missing (build the 'bench' target first)" >&2
		exit 2
	fi
done
command -v sqlite3 >/dev/null || { echo "$0: sqlite3 is not installed" >&2; exit 2; }
if ! sqlite3 :memory: "SELECT unixepoch('$as_of')" >/dev/null 2>&1; then
	echo "$0: sqlite3 $(sqlite3 --version | cut -d' ' -f1) is too old (needs unixepoch(), 3.38+)" >&2
	exit 2
fi
timecmd=""
if [ -x /usr/bin/time ] && /usr/bin/time -f %M -o /dev/null true 2>/dev/null; then
	timecmd=/usr/bin/time
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/se_bench.XXXXXX")
if [ "$keep" = 1 ]; then
	trap 'echo "work directory kept: $work"' EXIT
else
	trap 'rm -rf "$work"' EXIT
fi
cd "$work"

# ---- helpers ------------------------------------------------------------

# Wall-clock seconds with microseconds (bash 5), else from date(1).
now() {
	if [ -n "${EPOCHREALTIME:-}" ]; then
		printf '%s\n' "$EPOCHREALTIME"
	else
		date +%s.%N
	fi
}
# calc EXPR VARS...: floating-point arithmetic through awk.
calc() {
	local expr=$1
	shift
	awk "$@" "BEGIN { printf \"%s\", $expr }"
}
# Runs "$@" with stdout to $out and stderr to $err; sets $took (seconds).
# With $memfile set and /usr/bin/time present, also records the peak RSS.
run_timed() {
	local t0 t1 status=0
	t0=$(now)
	if [ -n "${memfile:-}" ] && [ -n "$timecmd" ]; then
		"$timecmd" -f %M -o "$memfile" "$@" >"$out" 2>"$err" || status=$?
	else
		"$@" >"$out" 2>"$err" || status=$?
	fi
	t1=$(now)
	took=$(calc 'b - a' -v a="$t0" -v b="$t1")
	if [ "$status" -ne 0 ]; then
		echo "FAILED ($status): $*" >&2
		tail -n 20 "$err" >&2
		exit 1
	fi
}
fmt3() { calc 'sprintf("%.3f", x)' -v x="$1"; }
# verdict VALUE OP TARGET -> PASS or FAIL
verdict() {
	if awk -v v="$1" -v t="$3" "BEGIN { exit !(v $2 t) }"; then
		echo PASS
	else
		echo FAIL
	fi
}
# add_row FIGURE VALUE [TARGET RESULT]: one line of the summary; a FAIL
# against a target is counted for --strict.
failed_targets=0
summary=()
add_row() {
	local row
	row=$(printf '%-36s %-30s %-12s %s' "$1" "$2" "${3:-}" "${4:-}")
	summary+=("${row%"${row##*[! ]}"}")
	if [ -n "${3:-}" ] && [ "${4:-}" = FAIL ]; then
		failed_targets=$((failed_targets + 1))
	fi
}

# ---- 1. data --------------------------------------------------------------

echo "== generating $deals deals"
out=events.csv.log err=gen.err memfile=""
run_timed "$gen" --deals "$deals" --out events.csv
gen_s=$took
size=$(wc -c <events.csv)
rows=$(($(wc -l <events.csv) - 1))
size_mb=$(calc 'sprintf("%.1f", s / 1048576)' -v s="$size")
echo "gen_events: $(fmt3 "$gen_s") s, ${size_mb} MiB, $rows events"
add_row "generate ($deals deals)" "$(fmt3 "$gen_s") s"
add_row "events CSV" "$size_mb MiB, $rows rows"

# ---- 2. import --------------------------------------------------------------

echo "== import (best of 3 each, alternating, each into a new database)"
# The machine's speed drifts by 10% and more between runs: alternating the
# two and taking each one's best keeps the ratio from measuring the drift.
sqlite_import_s="" se_import_s=""
for round in 1 2 3; do
	rm -f raw.db raw.db-wal raw.db-shm se.db se.db-wal se.db-shm
	out=sqlite_import.out err=sqlite_import.err memfile=""
	run_timed sqlite3 raw.db ".import --csv events.csv events"
	sq=$took
	out=se_import.out err=se_import.err memfile=mem_import
	run_timed "$engine" --db se.db --import events.csv
	se=$took
	memfile=""
	echo "  round $round: sqlite3 .import $(fmt3 "$sq") s, salesengine --import $(fmt3 "$se") s"
	if [ -z "$sqlite_import_s" ] || awk -v a="$sq" -v b="$sqlite_import_s" 'BEGIN { exit !(a < b) }'; then
		sqlite_import_s=$sq
	fi
	if [ -z "$se_import_s" ] || awk -v a="$se" -v b="$se_import_s" 'BEGIN { exit !(a < b) }'; then
		se_import_s=$se
	fi
done
echo "sqlite3 .import:       $(fmt3 "$sqlite_import_s") s"
echo "salesengine --import:  $(fmt3 "$se_import_s") s"
import_ratio=$(calc 'sprintf("%.2f", a / b)' -v a="$sqlite_import_s" -v b="$se_import_s")
echo "ratio sqlite3/salesengine: $import_ratio (target >= $target_import_ratio)"
add_row "sqlite3 .import" "$(fmt3 "$sqlite_import_s") s"
add_row "salesengine --import" "$(fmt3 "$se_import_s") s"
add_row "import ratio sqlite3/salesengine" "$import_ratio" ">= $target_import_ratio" \
	"$(verdict "$import_ratio" '>=' "$target_import_ratio")"

# ---- 3. reports, 4. agreement ----------------------------------------------

disagree=0
report_mem_kb=0
for mode in reached touched; do
	echo "== reports, mode $mode"
	cmd=("$engine" --db se.db --format csv --period month --as-of "$as_of"
	     --mode "$mode" "$rules")

	# The warm-up run's output is the one compared; its peak RSS is recorded.
	out="engine_$mode.csv" err="engine_$mode.err" memfile="mem_report_$mode"
	run_timed "${cmd[@]}"
	memfile=""
	best=""
	for i in 1 2 3; do
		out="engine_$mode.run$i" err="engine_$mode.err"
		run_timed "${cmd[@]}"
		if [ -z "$best" ] || awk -v a="$took" -v b="$best" 'BEGIN { exit !(a < b) }'; then
			best=$took
		fi
	done
	echo "salesengine report: best of 3 $(fmt3 "$best") s"

	# The alternative: the reference SQL over the sqlite3 import, temp
	# tables and indexes included.
	out="ref_$mode.csv" err="ref_$mode.err"
	run_timed sqlite3 -bail \
		-cmd "CREATE TEMP TABLE bench_args AS SELECT '$mode' AS mode, '$as_of' AS as_of" \
		raw.db <"$reference"
	sql_s=$took
	sql_ratio=$(calc 'sprintf("%.1f", a / b)' -v a="$sql_s" -v b="$best")
	echo "reference SQL:      $(fmt3 "$sql_s") s  (ratio SQL/salesengine $sql_ratio)"

	add_row "report $mode: salesengine" "$(fmt3 "$best") s" "< $target_report_s s" \
		"$(verdict "$best" '<' "$target_report_s")"
	add_row "report $mode: reference SQL" "$(fmt3 "$sql_s") s"
	add_row "ratio SQL/salesengine ($mode)" "$sql_ratio" ">= $target_sql_ratio" \
		"$(verdict "$sql_ratio" '>=' "$target_sql_ratio")"

	# Agreement: the same lines, empty lines (block separators) aside.
	grep -v '^$' "engine_$mode.csv" | sort >"engine_$mode.sorted" || true
	grep -v '^$' "ref_$mode.csv" | sort >"ref_$mode.sorted" || true
	lines=$(wc -l <"ref_$mode.sorted")
	if cmp -s "engine_$mode.sorted" "ref_$mode.sorted"; then
		if cmp -s "engine_$mode.csv" "ref_$mode.csv"; then
			how="agree, $lines lines, same order"
		else
			how="agree, $lines lines"
		fi
		echo "$mode: $how"
		add_row "agreement ($mode)" "$how" "" PASS
	else
		disagree=1
		echo "$mode: DISAGREE (< salesengine only, > reference SQL only; first 20):"
		diff "engine_$mode.sorted" "ref_$mode.sorted" | grep '^[<>]' | head -n 20 || true
		add_row "agreement ($mode)" "DIFFERENT" "" FAIL
	fi

	if [ -s "mem_report_$mode" ]; then
		kb=$(tail -n 1 "mem_report_$mode")
		[ "$kb" -gt "$report_mem_kb" ] && report_mem_kb=$kb
	fi
done

# ---- 3b. every report kind ----------------------------------------------------
# --report all adds the diagnostic reports (handling, diagnostics, velocity,
# forecast, backtest, channels, compare) to the five above.  Their numbers
# are checked against SQL by tests/insight on a smaller store; here only the
# time and memory of the whole process count.
echo "== reports, all kinds (mode reached)"
cmd=("$engine" --db se.db --format csv --period month --as-of "$as_of" --report all "$rules")
out=engine_all.csv err=engine_all.err memfile=mem_report_all
run_timed "${cmd[@]}"
memfile=""
best=""
for i in 1 2 3; do
	out="engine_all.run$i" err="engine_all.err"
	run_timed "${cmd[@]}"
	if [ -z "$best" ] || awk -v a="$took" -v b="$best" 'BEGIN { exit !(a < b) }'; then
		best=$took
	fi
done
echo "salesengine --report all: best of 3 $(fmt3 "$best") s, $(grep -c . engine_all.csv) lines"
add_row "report all kinds: salesengine" "$(fmt3 "$best") s" "< $target_report_s s" \
	"$(verdict "$best" '<' "$target_report_s")"
if [ -s mem_report_all ]; then
	kb=$(tail -n 1 mem_report_all)
	[ "$kb" -gt "$report_mem_kb" ] && report_mem_kb=$kb
fi

# ---- 5. memory --------------------------------------------------------------

if [ -n "$timecmd" ] && [ -s mem_import ]; then
	import_mb=$(calc 'sprintf("%.1f", k / 1024)' -v k="$(tail -n 1 mem_import)")
	report_mb=$(calc 'sprintf("%.1f", k / 1024)' -v k="$report_mem_kb")
	echo "peak memory: import $import_mb MiB, report $report_mb MiB"
	add_row "peak memory salesengine --import" "$import_mb MiB" "< $target_mem_mb MiB" \
		"$(verdict "$import_mb" '<' "$target_mem_mb")"
	add_row "peak memory salesengine report" "$report_mb MiB" "< $target_mem_mb MiB" \
		"$(verdict "$report_mb" '<' "$target_mem_mb")"
else
	echo "peak memory: n/a (install the 'time' package)"
	add_row "peak memory" "n/a (install 'time')"
fi

# ---- 6. summary -------------------------------------------------------------

echo
echo "== summary ($deals deals, as of $as_of)"
printf '%-36s %-30s %-12s %s\n' figure value target result
for row in "${summary[@]}"; do
	printf '%s\n' "$row"
done

if [ "$disagree" -ne 0 ]; then
	echo "FAIL: salesengine and the reference SQL disagree"
	exit 1
fi
if [ "$failed_targets" -ne 0 ]; then
	echo "$failed_targets target(s) missed"
	[ "$strict" -eq 1 ] && exit 1
fi
exit 0
