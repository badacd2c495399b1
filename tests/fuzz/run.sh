#!/bin/bash
# Runs each libFuzzer target for SECONDS, one after another (never two at
# once), under ASan and UBSan, from a seed corpus made of tests/fixtures and
# the inputs kept in tests/fuzz/corpus/TARGET (past findings).
#
#   CC=clang cmake -S . -B build-fuzz -DSE_FUZZ=ON && cmake --build build-fuzz -j2
#   tests/fuzz/run.sh 20                 # CI's smoke run: 20 s per target
#   nice -n 10 tests/fuzz/run.sh 3600    # a longer run: an hour per target
#
# Optional: BUILD=dir (default build-fuzz), TARGETS="fuzz_csv ..." (a subset),
# MAX_LEN=bytes (default 4096: the fuzz build's CSV buffer is 4 KiB, so
# longer inputs add refills but mostly cost executions).
# New interesting inputs go to BUILD/corpus/TARGET, so a longer run goes on
# where the last one stopped; a crash leaves its input in BUILD/findings/ and
# the script fails.  Each target's final statistics are printed
# (stat::number_of_executed_units is its count of executions).
set -uo pipefail

seconds=${1:?usage: run.sh SECONDS}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=$(realpath "${BUILD:-$src/build-fuzz}")
targets=${TARGETS:-fuzz_csv fuzz_import_csv fuzz_import_jsonl fuzz_adapter fuzz_script}
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT

# Seeds from the fixtures.
mkdir -p "$seeds/fuzz_csv" "$seeds/fuzz_import_csv" "$seeds/fuzz_import_jsonl" \
	"$seeds/fuzz_adapter" "$seeds/fuzz_script"
for f in "$src"/tests/fixtures/import/*.csv "$src"/tests/e2e/fixtures/*.csv \
	"$src"/tests/fixtures/importers/*/*.csv; do
	cp "$f" "$seeds/fuzz_csv/$(basename "$(dirname "$f")")_$(basename "$f")"
	cp "$f" "$seeds/fuzz_import_csv/$(basename "$(dirname "$f")")_$(basename "$f")"
done
for f in "$src"/tests/fixtures/import/*.jsonl "$src"/tests/e2e/fixtures/*.jsonl \
	"$src"/tests/fixtures/importers/*/*.jsonl; do
	cp "$f" "$seeds/fuzz_import_jsonl/$(basename "$f")"
done
for f in "$src"/tests/fixtures/scripts/*.lua "$src"/tests/e2e/fixtures/*.lua "$src"/scripts/*.lua; do
	cp "$f" "$seeds/fuzz_script/$(basename "$f")"
done
# fuzz_adapter: the first byte picks the adapter (its index in the target's
# table) and the file: byte = index + 8 * file.
adapter_seed() { # INDEX FILE_NUMBER DIR FILE
	local out="$seeds/fuzz_adapter/$3_$4"
	printf "\\$(printf '%03o' $(($1 + 8 * $2)))" >"$out"
	cat "$src/tests/fixtures/importers/$3/$4" >>"$out"
}
i=0
for spec in "amocrm pipelines.json users.json leads.json events.json" \
	"bitrix24 statuses.json users.json deals.json stagehistory.json" \
	"bluesales customers_2026-11-26.json" "hubspot owners.json deals.json" \
	"hubspot deals_export.csv" "pipedrive stages.json deals.json flow.jsonl" \
	"two_table leads.csv won_deals.csv" "wide sales_pipeline.csv"; do
	set -- $spec
	dir=$1
	shift
	n=0
	for file in "$@"; do
		adapter_seed $i $n "$dir" "$file"
		n=$((n + 1))
	done
	i=$((i + 1))
done

status=0
for t in $targets; do
	bin="$build/tests/fuzz/$t"
	[ -x "$bin" ] || { echo "run.sh: $bin not built (see the top of this file)" >&2; exit 2; }
	mkdir -p "$build/corpus/$t" "$build/findings" "$here/corpus/$t"
	echo "== $t: $seconds s"
	"$bin" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -max_len="${MAX_LEN:-4096}" \
		-print_final_stats=1 -artifact_prefix="$build/findings/$t-" \
		"$build/corpus/$t" "$seeds/$t" "$here/corpus/$t" >"$build/$t.log" 2>&1
	rc=$?
	grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^(==[0-9]+==ERROR|SUMMARY|Done)' "$build/$t.log"
	if [ $rc -ne 0 ]; then
		echo "FAIL $t (exit $rc): see $build/$t.log and $build/findings/" >&2
		tail -30 "$build/$t.log" >&2
		status=1
	fi
done
exit $status
