# shellcheck shell=bash
# common.sh: sourced by the tests of the kept partial counts (run.sh,
# damaged.sh).

# enter_work NAME SALESENGINE GEN_EVENTS SOURCE_DIR: sets engine, gen and
# src; skips the test (77) without sqlite3, which reads alert_state and
# chunk_partial; makes a work directory (removed on exit) and enters it;
# sets fail and checks to 0.
# shellcheck disable=SC2034 # all of them are the sourcing test's
enter_work() {
	engine=$(realpath "$2")
	gen=$(realpath "$3")
	src=$(realpath "$4")
	command -v sqlite3 >/dev/null || { echo "sqlite3 not installed: skipped"; exit 77; }
	work=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	cd "$work" || exit 1
	fail=0
	checks=0
}

# two_rules_files ONE TWO: writes two rules files into the work directory.
# ONE is the bench funnel with its alert rules; TWO counts another pair
# and an alias more, so what every partial was counted with (its
# fingerprint, and the shape of the partial) changes between them.
two_rules_files() {
	cp "$src/tests/bench/bench_rules.lua" "$src/tests/bench/bench_alerts.lua" .
	sed -e 's/require "bench_rules"/require "bench_rules_b"/' bench_alerts.lua > "$2"
	sed -e 's/"Новая заявка", "New lead"/"Новая заявка", "New lead", "Лид"/' \
	    -e 's/{ "Презентация", "Оплачено", window = "30d" },/{ "Презентация", "Оплачено", window = "30d" },\n    { "Квалификация", "Счёт выставлен", window = "7d" },/' \
	    bench_rules.lua > bench_rules_b.lua
	cp bench_alerts.lua "$1"
	if cmp -s bench_rules.lua bench_rules_b.lua; then
		echo "FAIL: the second rules file is the same as the first"
		exit 1
	fi
}

# same WHAT A B: counts a check; fails the test, showing the first lines
# of the difference, when the kept partials' output A is not the
# recount's B, byte for byte.
same() {
	checks=$((checks + 1))
	if ! cmp -s "$2" "$3"; then
		echo "FAIL: $1 differs (kept partial counts vs a recount):"
		diff "$2" "$3" | head -n 10
		fail=1
	fi
}
