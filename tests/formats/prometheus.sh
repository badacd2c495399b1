#!/bin/bash
# --format prometheus: promtool accepts it, it says what the JSON report
# says (prom_vs_json.py), and label values with quotes, backslashes and
# line feeds are escaped.
# prometheus.sh BINARY SOURCE_DIR
set -uo pipefail
bin=$(realpath "$1")
src=$(realpath "$2")
command -v promtool >/dev/null || { echo "skipped: promtool (Debian prometheus) is missing"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
passed=0 failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1"; failed=$((failed + 1)); }
asof=--as-of=2024-04-01T00:00:00Z

"$bin" --db s.db -q -i "$src/scripts/data/sample_events.csv" "$asof" --period month --report all \
	--format prometheus "$src/scripts/example.lua" >all.prom || bad "run"
"$bin" --db s.db -q "$asof" --period month --report all --format json "$src/scripts/example.lua" >all.json
if promtool check metrics <all.prom >lint 2>&1; then ok promtool_sample; else bad promtool_sample; head lint; fi
if /usr/bin/python3 "$src/tests/formats/prom_vs_json.py" all.prom all.json >cmp; then
	ok "same_as_json ($(tail -1 cmp))"
else
	bad same_as_json; head -20 cmp
fi

# hostile names: a manager with a quote and a backslash, a source with a line feed
printf 'event_id,deal_id,ts,stage,manager,source,amount\n' >odd.csv
printf 'e1,X1,2024-03-01 10:00,Новый лид,"Иван ""Босс"" \\ Петров","Реклама\nвторая строка",1000\n' >>odd.csv
printf 'e2,X1,2024-03-02 10:00,Квалификация,"Иван ""Босс"" \\ Петров",,\n' >>odd.csv
"$bin" --db o.db -q -i odd.csv "$asof" --report leads,sources --format prometheus \
	"$src/scripts/example.lua" >odd.prom || bad "odd run"
if promtool check metrics <odd.prom >lint 2>&1 &&
	grep -qF 'manager="Иван \"Босс\" \\ Петров"' odd.prom &&
	grep -qF 'source="Реклама\nвторая строка"' odd.prom; then
	ok escaped_labels
else
	bad escaped_labels; cat lint; grep -a 'Иван\|Реклама' odd.prom | head -5
fi
echo "prometheus: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
