#!/usr/bin/env bash
# run_bench.sh: the salesengine benchmark, and its agreement check.
#
# usage: run_bench.sh [OPTION]... BUILD_DIR [DEALS]
#
# Generates DEALS synthetic deals (default 1000000) with BUILD_DIR/gen_events
# and measures, side by side with the sqlite3 CLI (and DuckDB when installed):
#   1. import, best of 3, wall and CPU (user+sys): `sqlite3 .import --csv`
#      vs `salesengine --import`, on the benchmark CSV and on the narrow one
#      (gen_events --narrow: 7 unquoted columns, minute timestamps); also the
#      import's peak memory and the peak size of its WAL file;
#   2. the default report (modes reached and touched) against
#      tests/bench/reference.sql in sqlite3 (and in DuckDB), whose output must
#      agree with salesengine's line for line: the agreement check;
#   3. every report kind (--report K) and --report all with bench_rules.lua
#      (`metrics` with tests/bench/bench_alerts.lua, which declares three),
#      and --alerts with bench_alerts.lua, each best of 3 after a warm-up,
#      with peak memory;
#   4. incremental: all events but the last 10,000 imported, --alerts run
#      once, then the last 10,000 imported and --alerts timed (best of 3,
#      each from a copy of the same store); and, from another copy, the
#      last 10,000 imported given bench_rules.lua (the daily command: it
#      keeps the counts reports read), then --report all timed there, which
#      must equal a --recount;
# and prints a summary: one figure a line, its target and PASS or FAIL.
# Times are whole processes; CPU is user+sys from /usr/bin/time (the `time`
# package; without it CPU and memory are n/a).  Targets are for 1,000,000
# deals on a 2-core machine.
#
# Options:
#   --strict       exit 1 when a target is missed (else only FAIL is printed)
#   --keep         leave the work directory in place (its path is printed)
#   --scale        only what grows with size: one import round of the
#                  benchmark CSV each, the default report and --report all,
#                  memory and WAL (no agreement, no narrow CSV, no
#                  incremental, no DuckDB); tests/bench/scale.sh runs it at
#                  1M, 3M and 10M deals
#   --rounds N     import rounds (default 3; --scale: 1)
#   --quick        one round and one timed run of everything: to check
#                  that the benchmark runs and agrees (ctest bench_smoke),
#                  not to measure
#   --figures FILE also write the summary as tab-separated key/value lines
#   --no-duckdb    skip DuckDB even when it is installed
#
# DuckDB: the reference SQL (rewritten by reference_duckdb.sed) runs over a
# DuckDB database file through @duckdb/node-api, looked for under
# $SE_BENCH_DUCKDB (default ~/.cache/salesengine-bench/duckdb).  Install it
# once, from the npm registry only (prebuilt, nothing compiled):
#   npm install --prefix ~/.cache/salesengine-bench/duckdb @duckdb/node-api@1.5.6-r.1
#
# Exit status: 0 done; 1 a step failed or an output disagrees with the
# reference (or, with --strict, a target was missed); 2 bad usage.  Builds
# nothing: CMake's `bench` target builds salesengine and gen_events first.
# Needs bash, sqlite3 >= 3.38 (unixepoch) and coreutils; no network.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
rules="$here/bench_rules.lua"
alerts_script="$here/bench_alerts.lua"
reference="$here/reference.sql"
as_of="2026-01-01T00:00:00Z"
report_kinds="leads conversion presale sources unknown handling diagnostics velocity forecast backtest channels compare metrics"

# Targets (issue 14; see the summary).
target_import_ratio=2.0   # sqlite3 .import / salesengine --import, wall and CPU
target_report_s=0.25      # every report and --alerts, whole process, best of 3
target_report_mb=150      # peak RSS of a report or --alerts at 1M deals
target_sql_ratio=20       # reference SQL time / salesengine report time
target_incr_s=0.1         # --alerts after importing 10,000 new events
target_import_mb=200      # peak RSS of the import, any size
target_report_big_mb=1024 # peak RSS of a report at any size (10M deals)

usage() {
	echo "usage: $0 [--strict] [--keep] [--scale] [--quick] [--rounds N] [--figures FILE] [--no-duckdb] BUILD_DIR [DEALS]" >&2
	exit 2
}

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
# cpu_text SECONDS: "1.20 s", or n/a without /usr/bin/time.
cpu_text() { if [ -n "$1" ]; then echo "$(fmt2 "$1") s"; else echo n/a; fi; }
fmt3() { calc 'sprintf("%.3f", x)' -v x="$1"; }
fmt2() { calc 'sprintf("%.2f", x)' -v x="$1"; }
mib() { calc 'sprintf("%.1f", k / 1024)' -v k="$1"; }
# lower A B: true when A < B (A empty counts as "no value yet": true).
lower() { [ -z "$2" ] || awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

# run_timed OUT ERR CMD...: runs CMD with stdout to OUT, stderr to ERR and
# sets took (wall s), cpu (user+sys s) and rss_kb (peak); the last two are
# empty without /usr/bin/time.  An exit status other than 0 (or one listed
# in $ok_status) ends the benchmark.
ok_status=0
run_timed() {
	local out=$1 err=$2 t0 t1 status=0 u s m
	shift 2
	t0=$(now)
	if [ -n "$timecmd" ]; then
		"$timecmd" -f '%U %S %M' -o time.stats "$@" >"$out" 2>"$err" || status=$?
	else
		"$@" >"$out" 2>"$err" || status=$?
	fi
	t1=$(now)
	took=$(calc 'b - a' -v a="$t0" -v b="$t1")
	case " $ok_status " in
	*" $status "*) ;;
	*)
		echo "FAILED ($status): $*" >&2
		tail -n 20 "$err" >&2
		exit 1
		;;
	esac
	cpu="" rss_kb=""
	if [ -n "$timecmd" ]; then
		read -r u s m < <(tail -n 1 time.stats)
		cpu=$(calc 'u + s' -v u="$u" -v s="$s")
		rss_kb=$m
	fi
}

# measure OUT RUNS CMD...: one warm-up run (its output in OUT), then RUNS
# timed runs; sets best_s and best_cpu (the least of each) and peak_kb (the
# most of all runs, warm-up included).
measure() {
	local out=$1 runs=$2 i
	shift 2
	best_s="" best_cpu="" peak_kb=0
	run_timed "$out" "$out.err" "$@"
	peak_kb=${rss_kb:-0}
	for ((i = 1; i <= runs; i++)); do
		run_timed "$out.run" "$out.err" "$@"
		if lower "$took" "$best_s"; then best_s=$took; fi
		if [ -n "$cpu" ] && lower "$cpu" "$best_cpu"; then best_cpu=$cpu; fi
		if [ -n "$rss_kb" ] && [ "$rss_kb" -gt "$peak_kb" ]; then peak_kb=$rss_kb; fi
	done
}

# verdict VALUE OP TARGET -> PASS or FAIL
verdict() {
	if awk -v v="$1" -v t="$3" "BEGIN { exit !(v $2 t) }"; then
		echo PASS
	else
		echo FAIL
	fi
}

# add_row KEY FIGURE VALUE [TARGET RESULT]: one line of the summary (KEY
# names it in --figures); a FAIL is counted for --strict.
failed_targets=0
summary=()
figures=()
add_row() {
	local row
	row=$(printf '%-44s %-32s %-12s %s' "$2" "$3" "${4:-}" "${5:-}")
	summary+=("${row%"${row##*[! ]}"}")
	figures+=("$1	$3	${5:-}")
	if [ "${5:-}" = FAIL ]; then
		failed_targets=$((failed_targets + 1))
	fi
}
# check_row KEY FIGURE VALUE OP TARGET UNIT: a row judged against a target.
check_row() {
	add_row "$1" "$2" "$3${6:+ $6}" "$4 $5${6:+ $6}" "$(verdict "$3" "$4" "$5")"
}
# mem_row KEY FIGURE KB TARGET_MB: a peak-memory row (n/a without time).
mem_row() {
	if [ -n "$timecmd" ] && [ "$3" -gt 0 ]; then
		check_row "$1" "$2" "$(mib "$3")" '<' "$4" MiB
	else
		add_row "$1" "$2" "n/a (install 'time')"
	fi
}

# WAL watch: a background loop records the largest size the WAL file of
# the running import reaches (sampled every 0.1 s) in wal.max, replaced
# whole (a rename) so that it is never read half written.
wal_watch_start() {
	local file=$1
	echo 0 >wal.max
	(
		max=0
		while :; do
			size=$(stat -c %s "$file" 2>/dev/null || echo 0)
			if [ "$size" -gt "$max" ]; then
				max=$size
				echo "$max" >wal.new && mv -f wal.new wal.max
			fi
			sleep 0.1
		done
	) &
	wal_pid=$!
}
wal_watch_stop() {
	kill "$wal_pid" 2>/dev/null || true
	wait "$wal_pid" 2>/dev/null || true
	wal_max=$(cat wal.max)
}

# ---- arguments and tools --------------------------------------------------

parse_args() {
	local a
	strict=0 keep=0 scale=0 quick=0 rounds="" figures_file="" use_duckdb=1
	args=()
	while [ $# -gt 0 ]; do
		a=$1
		shift
		case "$a" in
		--strict) strict=1 ;;
		--keep) keep=1 ;;
		--scale) scale=1 ;;
		--quick) quick=1 ;;
		--no-duckdb) use_duckdb=0 ;;
		--rounds | --figures)
			[ $# -gt 0 ] || usage
			if [ "$a" = --rounds ]; then rounds=$1; else figures_file=$1; fi
			shift
			;;
		-h | --help)
			sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
			exit 0
			;;
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
	[ -n "$rounds" ] || rounds=$((scale || quick ? 1 : 3))
	runs=$((quick ? 1 : 3))
	case "$rounds" in
	'' | *[!0-9]* | 0) echo "$0: --rounds must be a positive integer, got '$rounds'" >&2; exit 2 ;;
	esac
	if [ -n "$figures_file" ]; then
		case "$figures_file" in /*) ;; *) figures_file="$PWD/$figures_file" ;; esac
	fi
}

check_tools() {
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
	duckdb_dir=${SE_BENCH_DUCKDB:-$HOME/.cache/salesengine-bench/duckdb}
	export SE_BENCH_DUCKDB="$duckdb_dir"
	duckdb_missing=""
	if ! command -v node >/dev/null; then
		duckdb_missing="no node (apt-get install nodejs npm)"
	elif [ ! -d "$duckdb_dir/node_modules/@duckdb/node-api" ]; then
		duckdb_missing="npm install --prefix $duckdb_dir @duckdb/node-api@1.5.6-r.1"
	fi
}

# ---- 1. data --------------------------------------------------------------

step_generate() {
	local size
	echo "== generating $deals deals"
	run_timed events.gen.log gen.err "$gen" --deals "$deals" --out events.csv
	size=$(wc -c <events.csv)
	rows=$(($(wc -l <events.csv) - 1))
	echo "gen_events: $(fmt3 "$took") s, $(mib $((size / 1024))) MiB, $rows events"
	add_row gen_s "generate ($deals deals)" "$(fmt3 "$took") s"
	add_row events_csv "events CSV" "$(mib $((size / 1024))) MiB, $rows rows, $((size / rows)) B/row"
	if [ "$scale" = 0 ]; then
		run_timed narrow.gen.log gen.err "$gen" --deals "$deals" --narrow --out narrow.csv
		size=$(wc -c <narrow.csv)
		add_row narrow_csv "narrow CSV" "$(mib $((size / 1024))) MiB, $rows rows, $((size / rows)) B/row"
	fi
}

# ---- 2. import --------------------------------------------------------------

# step_import CSV NAME SEDB RAWDB: best of $rounds, sqlite3 and salesengine
# alternating, each into a new database (the machine's speed drifts by 10%
# and more between runs: alternating keeps the ratio from measuring it).
# Leaves SEDB and RAWDB in place.
step_import() {
	local csv=$1 name=$2 sedb=$3 rawdb=$4 round
	local sq_s="" sq_cpu="" se_s="" se_cpu="" peak_kb=0 wal_peak=0
	echo "== import of the $name CSV (best of $rounds each, alternating)"
	for ((round = 1; round <= rounds; round++)); do
		rm -f "$rawdb" "$rawdb-wal" "$rawdb-shm" "$sedb" "$sedb-wal" "$sedb-shm"
		run_timed sqlite_import.out sqlite_import.err sqlite3 "$rawdb" ".import --csv $csv events"
		echo "  round $round: sqlite3 .import $(fmt3 "$took") s (CPU ${cpu:-n/a} s)"
		if lower "$took" "$sq_s"; then sq_s=$took; fi
		if [ -n "$cpu" ] && lower "$cpu" "$sq_cpu"; then sq_cpu=$cpu; fi

		wal_watch_start "$sedb-wal"
		run_timed se_import.out se_import.err "$engine" --quiet --db "$sedb" --import "$csv"
		wal_watch_stop
		echo "           salesengine --import $(fmt3 "$took") s (CPU ${cpu:-n/a} s, peak ${rss_kb:-n/a} KiB, WAL peak $wal_max B)"
		if lower "$took" "$se_s"; then se_s=$took; fi
		if [ -n "$cpu" ] && lower "$cpu" "$se_cpu"; then se_cpu=$cpu; fi
		if [ -n "$rss_kb" ] && [ "$rss_kb" -gt "$peak_kb" ]; then peak_kb=$rss_kb; fi
		if [ "$wal_max" -gt "$wal_peak" ]; then wal_peak=$wal_max; fi
	done
	add_row "import_${name}_sqlite3_s" "import $name: sqlite3 .import" "$(fmt3 "$sq_s") s"
	add_row "import_${name}_s" "import $name: salesengine" "$(fmt3 "$se_s") s"
	check_row "import_${name}_ratio" "import $name: ratio wall" \
		"$(fmt2 "$(calc 'a / b' -v a="$sq_s" -v b="$se_s")")" '>=' "$target_import_ratio"
	if [ -n "$se_cpu" ]; then
		add_row "import_${name}_sqlite3_cpu" "import $name: sqlite3 CPU" "$(fmt2 "$sq_cpu") s"
		add_row "import_${name}_cpu" "import $name: salesengine CPU" "$(fmt2 "$se_cpu") s"
		check_row "import_${name}_cpu_ratio" "import $name: ratio CPU" \
			"$(fmt2 "$(calc 'a / b' -v a="$sq_cpu" -v b="$se_cpu")")" '>=' "$target_import_ratio"
	fi
	mem_row "import_${name}_mb" "import $name: peak memory" "$peak_kb" "$target_import_mb"
	add_row "import_${name}_wal_mb" "import $name: peak WAL file" "$(mib $((wal_peak / 1024))) MiB"
	add_row "import_${name}_db_mb" "import $name: database file" \
		"$(mib $(($(stat -c %s "$sedb") / 1024))) MiB"
}

# ---- 3. the default report and the agreement check -----------------------

# compare_outputs WHO MODE ENGINE_OUT OTHER_OUT: the same lines, empty lines
# (block separators) aside; a difference fails the benchmark.
compare_outputs() {
	local who=$1 mode=$2 mine=$3 theirs=$4 lines how
	grep -v '^$' "$mine" | sort >"$mine.sorted" || true
	grep -v '^$' "$theirs" | sort >"$theirs.sorted" || true
	lines=$(wc -l <"$theirs.sorted")
	if cmp -s "$mine.sorted" "$theirs.sorted"; then
		how="agree, $lines lines"
		if cmp -s "$mine" "$theirs"; then how="$how, same order"; fi
		echo "$mode: salesengine and $who $how"
		add_row "agree_${who}_$mode" "agreement with $who ($mode)" "$how" "" PASS
	else
		disagree=1
		echo "$mode: salesengine and $who DISAGREE (< salesengine only, > $who only; first 20):"
		diff "$mine.sorted" "$theirs.sorted" | grep '^[<>]' | head -n 20 || true
		add_row "agree_${who}_$mode" "agreement with $who ($mode)" "DIFFERENT" "" FAIL
	fi
}

step_default_report() {
	local mode modes="reached touched" sql_s
	[ "$scale" = 1 ] && modes=reached
	for mode in $modes; do
		echo "== default report, mode $mode"
		measure "engine_$mode.csv" "$runs" "$engine" --db se.db --format csv --period month \
			--as-of "$as_of" --mode "$mode" "$rules"
		echo "salesengine: best of $runs $(fmt3 "$best_s") s, peak $(mib "$peak_kb") MiB"
		report_time_row "report_default_$mode" "report default ($mode)"
		mem_row "report_default_${mode}_mb" "report default ($mode): memory" "$peak_kb" \
			"$([ "$scale" = 1 ] && echo "$target_report_big_mb" || echo "$target_report_mb")"
		[ "$scale" = 1 ] && continue

		# The alternative: the reference SQL over the sqlite3 import, temp
		# tables and indexes included.
		run_timed "ref_$mode.csv" "ref_$mode.err" sqlite3 -bail \
			-cmd "CREATE TEMP TABLE bench_args AS SELECT '$mode' AS mode, '$as_of' AS as_of" \
			raw.db <"$reference"
		sql_s=$took
		echo "reference SQL in sqlite3: $(fmt3 "$sql_s") s"
		add_row "report_default_${mode}_sqlite3" "report default ($mode): sqlite3 SQL" "$(fmt3 "$sql_s") s"
		check_row "report_default_${mode}_sqlite3_ratio" "ratio sqlite3 SQL/salesengine ($mode)" \
			"$(calc 'sprintf("%.1f", a / b)' -v a="$sql_s" -v b="$best_s")" '>=' "$target_sql_ratio"
		compare_outputs sqlite3 "$mode" "engine_$mode.csv" "ref_$mode.csv"
		step_duckdb_query "$mode" "$best_s"
	done
}

# ---- 4. DuckDB --------------------------------------------------------------

# The events CSV into a DuckDB database file, once; the query is timed per
# mode by step_duckdb_query.
step_duckdb_import() {
	if [ "$use_duckdb" = 0 ]; then
		add_row duckdb "DuckDB" "skipped (--no-duckdb)"
		return
	fi
	if [ -n "$duckdb_missing" ]; then
		echo "DuckDB: not installed ($duckdb_missing)"
		add_row duckdb "DuckDB" "not installed ($duckdb_missing)"
		use_duckdb=0
		return
	fi
	echo "== DuckDB: import once"
	sed -f "$here/reference_duckdb.sed" "$reference" >reference_duckdb.sql
	run_timed duck_import.out duck_import.err \
		node "$here/duckdb_ref.cjs" import bench.duckdb events.csv
	echo "DuckDB import: $(fmt3 "$took") s"
	add_row duckdb_import_s "import bench: DuckDB (once)" "$(fmt3 "$took") s"
}

# step_duckdb_query MODE ENGINE_S: the reference SQL in DuckDB, timed as a
# whole process like sqlite3's, compared like it.
step_duckdb_query() {
	local mode=$1 engine_s=$2
	[ "$use_duckdb" = 1 ] || return 0
	run_timed "duck_$mode.csv" "duck_$mode.err" \
		node "$here/duckdb_ref.cjs" query bench.duckdb reference_duckdb.sql "$mode" "$as_of"
	echo "reference SQL in DuckDB: $(fmt3 "$took") s"
	add_row "report_default_${mode}_duckdb" "report default ($mode): DuckDB SQL" "$(fmt3 "$took") s"
	add_row "report_default_${mode}_duckdb_ratio" "ratio DuckDB SQL/salesengine ($mode)" \
		"$(calc 'sprintf("%.1f", a / b)' -v a="$took" -v b="$engine_s")"
	compare_outputs DuckDB "$mode" "engine_$mode.csv" "duck_$mode.csv"
}

# ---- 5. every report kind, --report all, --alerts --------------------------

# report_time_row KEY FIGURE: best_s against the 1M target, best_cpu beside
# it (the wall time of a busy machine says less); with --scale the time is
# only printed (scale.sh shows how it grows).
report_time_row() {
	if [ "$scale" = 1 ]; then
		add_row "$1" "$2" "$(fmt3 "$best_s") s"
	else
		add_row "$1" "$2" "$(fmt3 "$best_s") s (CPU $(cpu_text "$best_cpu"))" \
			"< $target_report_s s" "$(verdict "$best_s" '<' "$target_report_s")"
	fi
}

# report_row KEY FIGURE: the rows of one measured report (time, memory).
report_row() {
	echo "$2: best of $runs $(fmt3 "$best_s") s, peak $(mib "$peak_kb") MiB"
	report_time_row "$1" "$2"
	mem_row "${1}_mb" "$2: memory" "$peak_kb" \
		"$([ "$scale" = 1 ] && echo "$target_report_big_mb" || echo "$target_report_mb")"
}

# The kinds run with bench_rules.lua, as the default report does, except
# `metrics`: it runs with bench_alerts.lua (the same funnel plus the three
# metrics of --alerts), which is what gives it something to compute.  The
# numbers are checked against SQL by tests/insight on a smaller store; here
# time and memory count.
step_report_kinds() {
	local kind kinds="$report_kinds" script label
	[ "$scale" = 1 ] && kinds=""
	echo "== every report kind"
	for kind in $kinds all; do
		script=$rules label="report $kind"
		if [ "$kind" = metrics ]; then
			script=$alerts_script label="report metrics (bench_alerts.lua)"
		fi
		measure "kind_$kind.csv" "$runs" "$engine" --db se.db --format csv --period month \
			--as-of "$as_of" --report "$kind" "$script"
		report_row "report_$kind" "$label"
	done
}

step_alerts() {
	echo "== --alerts (3 metrics, 2 rules)"
	# 4 (an alert is firing) is a result, not a failure
	ok_status="0 4"
	measure alerts.out "$runs" "$engine" --db se.db --as-of "$as_of" --alerts "$alerts_script"
	ok_status=0
	report_row alerts "alerts (full store)"
}

# ---- 6. incremental ---------------------------------------------------------

# All events but the last N into a store, --alerts once (the cron job's
# previous run), a snapshot; then per round: the snapshot, the last N events
# imported (header kept) with the rules, so the import brings the kept
# partial counts up to date (docs/HACKING.md), --alerts timed.  The first
# --alerts after the import is the one a cron job pays, so each round
# starts from the snapshot.
step_incremental() {
	local n=10000 round best="" best_cpu="" best_import="" peak=0
	[ "$rows" -lt $((2 * n)) ] && n=$((rows / 2))
	echo "== incremental: $n new events, then --alerts"
	head -n $((rows + 1 - n)) events.csv >old.csv
	{ head -n 1 events.csv; tail -n "$n" events.csv; } >new.csv
	rm -f inc.db inc.db-wal inc.db-shm
	run_timed inc_import.out inc_import.err "$engine" --quiet --db inc.db --import old.csv
	ok_status="0 4"
	run_timed inc_alerts.out inc_alerts.err "$engine" --db inc.db --as-of "$as_of" --alerts "$alerts_script"
	ok_status=0
	[ ! -s inc.db-wal ] || { echo "inc.db-wal left behind" >&2; exit 1; }
	mv inc.db snapshot.db
	rm -f inc.db-wal inc.db-shm
	for ((round = 1; round <= runs; round++)); do
		cp snapshot.db inc.db
		run_timed inc_import.out inc_import.err "$engine" --quiet --db inc.db --as-of "$as_of" \
			--import new.csv "$alerts_script"
		if lower "$took" "$best_import"; then best_import=$took; fi
		ok_status="0 4"
		run_timed inc_alerts.out inc_alerts.err "$engine" --db inc.db --as-of "$as_of" --alerts "$alerts_script"
		ok_status=0
		echo "  round $round: --alerts $(fmt3 "$took") s"
		if lower "$took" "$best"; then best=$took; fi
		if [ -n "$cpu" ] && lower "$cpu" "$best_cpu"; then best_cpu=$cpu; fi
		if [ -n "$rss_kb" ] && [ "$rss_kb" -gt "$peak" ]; then peak=$rss_kb; fi
		rm -f inc.db inc.db-wal inc.db-shm
	done
	add_row incr_import_s "import of $n new events" "$(fmt3 "$best_import") s"
	add_row incr_alerts_s "alerts after $n new events" "$(fmt3 "$best") s (CPU $(cpu_text "$best_cpu"))" \
		"< $target_incr_s s" "$(verdict "$best" '<' "$target_incr_s")"
	mem_row incr_alerts_mb "alerts after $n new events: memory" "$peak" "$target_report_mb"
	# (measure sets best_s and best_cpu: the rows above are written first)
	# The head of sales' morning: the night's events imported given the
	# rules (the README's daily command), which keeps the counts the
	# reports read (docs/HACKING.md), then every report at once.  It must
	# equal a recount.
	cp snapshot.db kept.db
	run_timed kept_import.out kept_import.err "$engine" --quiet --db kept.db --as-of "$as_of" \
		--import new.csv "$rules"
	measure kept_all.csv "$runs" "$engine" --db kept.db --format csv --period month \
		--as-of "$as_of" --report all "$rules"
	run_timed kept_recount.csv kept_recount.err "$engine" --db kept.db --format csv --period month \
		--as-of "$as_of" --report all --recount "$rules"
	if ! cmp -s kept_all.csv kept_recount.csv; then
		echo "FAIL: --report all on the kept counts differs from a recount" >&2
		disagree=1
	fi
	rm -f snapshot.db old.csv new.csv kept.db kept.db-wal kept.db-shm
	report_row report_all_kept "report all after a daily import"
}

# ---- summary ------------------------------------------------------------------

print_summary() {
	local row
	echo
	echo "== summary ($deals deals, as of $as_of)"
	printf '%-44s %-32s %-12s %s\n' figure value target result
	for row in "${summary[@]}"; do
		printf '%s\n' "$row"
	done
	if [ -n "$figures_file" ]; then
		printf '%s\n' "deals	$deals	" "${figures[@]}" >"$figures_file"
	fi
}

main() {
	parse_args "$@"
	check_tools
	work=$(mktemp -d "${TMPDIR:-/tmp}/se_bench.XXXXXX")
	if [ "$keep" = 1 ]; then
		trap 'echo "work directory kept: $work"' EXIT
	else
		trap 'rm -rf "$work"' EXIT
	fi
	cd "$work"
	disagree=0

	step_generate
	step_import events.csv bench se.db raw.db
	if [ "$scale" = 0 ]; then
		step_import narrow.csv narrow narrow.db narrow_raw.db
		rm -f narrow.db* narrow_raw.db* narrow.csv
		step_duckdb_import
	fi
	step_default_report
	step_report_kinds
	if [ "$scale" = 0 ]; then
		step_alerts
		step_incremental
	fi
	print_summary

	if [ "$disagree" -ne 0 ]; then
		echo "FAIL: an output disagrees with its reference (above)"
		exit 1
	fi
	if [ "$failed_targets" -ne 0 ]; then
		echo "$failed_targets target(s) missed"
		[ "$strict" -eq 1 ] && exit 1
	fi
	return 0
}

# One compound command: bash has read all of it before it runs, so an edit
# of this file during a run cannot feed the running shell a half line.
{ main "$@"; exit; }
