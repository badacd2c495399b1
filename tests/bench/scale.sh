#!/usr/bin/env bash
# scale.sh: how the benchmark's figures grow with the number of deals.
#
# usage: scale.sh [--strict] BUILD_DIR [DEALS...]
#
# Runs run_bench.sh --scale at each size (default 1000000 3000000 10000000),
# one after the other; each run deletes its files before the next starts,
# so the disk holds one size at a time (10M deals: about 9 GB at the peak,
# CSV, sqlite3's database and salesengine's with its WAL).  Then prints each
# figure at every size with its ratio to the first size's, and judges:
#   - import CPU time per deal, relative to the first size: <= 1.25
#     (linear; CPU rather than wall time, which other load on the machine
#     skews; the wall-time figure is printed beside it);
#   - the import's peak WAL file, relative to the first size's: <= 1.5
#     (bounded, not growing with the data);
# besides the targets each run judges itself (the import 2x sqlite3's pace
# in wall and CPU time, import memory < 200 MiB, report memory < 1 GiB).
# Takes long: at 10M deals an import round is minutes.
#
# Exit status: 0 done, 1 a run failed (or, with --strict, a target missed).
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
target_linear=1.25
target_wal_growth=1.5

usage() {
	echo "usage: $0 [--strict] BUILD_DIR [DEALS...]" >&2
	exit 2
}

strict=() sizes=()
build=""
for a in "$@"; do
	case "$a" in
	--strict) strict=(--strict) ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "$0: unknown option $a" >&2; usage ;;
	*) if [ -z "$build" ]; then build=$a; else sizes+=("$a"); fi ;;
	esac
done
[ -n "$build" ] || usage
[ "${#sizes[@]}" -gt 0 ] || sizes=(1000000 3000000 10000000)

figs=$(mktemp -d "${TMPDIR:-/tmp}/se_scale.XXXXXX")
trap 'rm -rf "$figs"' EXIT

# run_sizes: one run_bench.sh --scale per size; its figures in $figs/N.
run_sizes() {
	local n
	for n in "${sizes[@]}"; do
		echo "==== $n deals"
		bash "$here/run_bench.sh" --scale "${strict[@]}" --figures "$figs/$n" "$build" "$n"
	done
}

# value N KEY: the number a figure of size N starts with ("" if none).
value() {
	awk -F '\t' -v k="$2" '$1 == k { split($2, w, " "); print w[1]; exit }' "$figs/$1"
}

# print_growth: every figure at every size, with the ratio to the first.
print_growth() {
	local key first n v f
	local keys="import_bench_sqlite3_s import_bench_s import_bench_ratio import_bench_sqlite3_cpu
import_bench_cpu import_bench_cpu_ratio import_bench_mb import_bench_wal_mb import_bench_db_mb
report_default_reached report_default_reached_mb report_all report_all_mb"
	first=${sizes[0]}
	echo
	echo "== growth (ratio to $first deals in parentheses)"
	printf '%-26s' figure
	for n in "${sizes[@]}"; do printf ' %-22s' "$n"; done
	printf '\n'
	for key in $keys; do
		f=$(value "$first" "$key")
		[ -n "$f" ] || continue
		printf '%-26s' "$key"
		for n in "${sizes[@]}"; do
			v=$(value "$n" "$key")
			if [ "$n" = "$first" ] || [ -z "$v" ]; then
				printf ' %-22s' "${v:-n/a}"
			else
				printf ' %-22s' "$v ($(awk -v a="$v" -v b="$f" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')x)"
			fi
		done
		printf '\n'
	done
}

# per_deal N KEY: figure KEY of size N per deal, relative to the first size.
per_deal() {
	awk -v t="$(value "$1" "$2")" -v t0="$(value "${sizes[0]}" "$2")" -v n="$1" -v n0="${sizes[0]}" \
		'BEGIN { if (t == "" || t0 <= 0) print "n/a"; else printf "%.2f", (t / t0) / (n / n0) }'
}

# judge: linear import time and a bounded WAL, per size after the first.
judge() {
	local first=${sizes[0]} n w0 w per growth r failed=0
	w0=$(value "$first" import_bench_wal_mb)
	echo
	for n in "${sizes[@]:1}"; do
		printf '%-52s %s\n' "import wall time per deal, $n vs $first" "$(per_deal "$n" import_bench_s)"
		per=$(per_deal "$n" import_bench_cpu)
		r=$(awk -v v="$per" -v x="$target_linear" 'BEGIN { print (v != "n/a" && v <= x) ? "PASS" : "FAIL" }')
		printf '%-52s %-8s <= %-6s %s\n' "import CPU time per deal, $n vs $first" "$per" "$target_linear" "$r"
		[ "$r" = PASS ] || failed=1
		w=$(value "$n" import_bench_wal_mb)
		growth=$(awk -v w="$w" -v w0="$w0" 'BEGIN { printf "%.2f", (w0 > 0 ? w / w0 : (w > 0 ? 999 : 1)) }')
		r=$(awk -v v="$growth" -v x="$target_wal_growth" 'BEGIN { print v <= x ? "PASS" : "FAIL" }')
		printf '%-52s %-8s <= %-6s %s\n' "peak WAL file, $n vs $first" "$growth" "$target_wal_growth" "$r"
		[ "$r" = PASS ] || failed=1
	done
	if [ "$failed" = 1 ] && [ "${#strict[@]}" -gt 0 ]; then
		exit 1
	fi
}

run_sizes
print_growth
judge
