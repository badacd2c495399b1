#!/bin/bash
# --format html in headless Chromium, on the sample data and on 20,000
# generated deals: no console message (errors, CSP refusals), no request
# from the page (Chromium's net log holds only file:// and Chromium's own
# service hosts, which a host-resolver rule keeps off the network), the
# numbers in the rendered page equal the JSON report's (html_vs_json.py),
# the page is under 2 MB, and screenshots at 1280 and 390 px.
# html.sh BINARY SOURCE_DIR GEN_EVENTS [SHOTS_DIR]
set -uo pipefail
bin=$(realpath "$1")
src=$(realpath "$2")
gen=$(realpath "$3")
shots=${4:-}
command -v chromium >/dev/null || { echo "skipped: chromium is missing"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
[ -n "$shots" ] && mkdir -p "$shots"
passed=0 failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1"; failed=$((failed + 1)); }

chrome() { # PROFILE ARGS...: headless, no network, a fresh profile
	local prof=$work/profile-$1
	shift
	rm -rf "$prof"
	mkdir -p "$prof"
	timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--host-resolver-rules='MAP * ~NOTFOUND' --user-data-dir="$prof" "$@"
}

reports=leads,conversion,presale,sources,handling,diagnostics,velocity,forecast,channels,metrics
# page NAME DB ASOF RULES LANG: the page, the JSON, and every check
page() {
	local name=$1 db=$2 asof=$3 rules=$4 lang=$5
	"$bin" --db "$db" -q --as-of "$asof" --lang "$lang" --format html -o "$name.html" "$rules" ||
		{ bad "$name: salesengine failed"; return; }
	"$bin" --db "$db" -q --as-of "$asof" --report "$reports" --format json "$rules" >"$name.json"
	local size
	size=$(stat -c %s "$name.html")
	[ "$size" -lt 2000000 ] && ok "$name: $size bytes" || bad "$name: $size bytes, over 2 MB"
	chrome "$name" --enable-logging=stderr --v=0 --log-net-log="$work/$name.net.json" \
		--dump-dom "file://$work/$name.html" >"$name.dom.html" 2>"$name.chrome.log"
	if grep -q 'CONSOLE' "$name.chrome.log"; then
		bad "$name: console messages"; grep CONSOLE "$name.chrome.log" | head -5
	else
		ok "$name: no console messages"
	fi
	local urls
	urls=$(grep -o '"url":"[^"]*"' "$name.net.json" | sort -u |
		grep -v -E '"url":"(file://|https?://([a-z0-9-]+\.)*(google\.com|googleapis\.com|gstatic\.com)[/:])' || true)
	if [ -z "$urls" ] && grep -q "\"events\"" "$name.net.json"; then
		ok "$name: no requests from the page"
	else
		bad "$name: requests: $urls"
	fi
	if /usr/bin/python3 "$src/tests/formats/html_vs_json.py" "$name.dom.html" "$name.json" >"$name.cmp"; then
		ok "$name: $(tail -1 "$name.cmp")"
	else
		bad "$name: numbers"; head -10 "$name.cmp"
	fi
	for w in 1280 390; do
		chrome "$name-$w" --hide-scrollbars --window-size="$w,2000" --screenshot="$work/$name-$w.png" \
			"file://$work/$name.html" >/dev/null 2>&1
		if [ -s "$name-$w.png" ]; then
			ok "$name: screenshot at $w px"
			[ -n "$shots" ] && cp "$name-$w.png" "$shots/"
		else
			bad "$name: no screenshot at $w px"
		fi
	done
}

"$bin" --db sample.db -q -i "$src/scripts/data/sample_events.csv" --report leads "$src/scripts/example.lua" >/dev/null
page sample sample.db 2024-03-20T06:00:00Z "$src/scripts/example.lua" en
page sample_ru sample.db 2024-03-20T06:00:00Z "$src/scripts/example.lua" ru
"$gen" --deals 20000 --out gen.csv >/dev/null 2>&1 || bad "gen_events"
"$bin" --db gen.db -q -i gen.csv --report leads "$src/tests/bench/bench_rules.lua" >/dev/null
page generated gen.db 2025-12-20T06:00:00Z "$src/tests/bench/bench_rules.lua" en

echo "html: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
