#!/usr/bin/env bash
# run.sh SALESENGINE [DEALS]: reports and alerts with as many managers and
# sources as deals (20,000 by default): every deal has its own manager and
# its own source, the shape that once needed a source x manager grid (51 GB
# here, 1.28 TB at 100,000 x 100,000).  Checks that --report all and
# --alerts complete and that their totals match what the generator wrote
# (computed here with awk, independently of the program); prints the times
# and peak memory, which are not asserted (the machine may be busy).
set -uo pipefail

se=$1
deals=${2:-20000}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/scale.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() {
	echo "scale: FAIL: $*" >&2
	exit 1
}

# Deal i: manager m<i>, source s<i>; it goes through stages 1..last of the
# benchmark funnel (last = 1 + (i * 7919) % 7; 7 means lost after the lead)
# three days apart, with amount 1000 + (i % 97) * 10.
awk -v deals="$deals" '
BEGIN {
	print "event_id,deal_id,ts,stage,manager,source,amount"
	split("Новый лид,Квалификация,Презентация,КП отправлено,Счёт выставлен,Оплачено,Отказ", st, ",")
	for (i = 0; i < deals; i++) {
		ts = 1735689600 + (i * 37) % (300 * 86400)
		last = 1 + (i * 7919) % 7
		for (k = 1; k <= (last == 7 ? 2 : last); k++)
			printf "e%d-%d,d%d,%s,%s,m%d,s%d,%d\n", i, k, i,
			       strftime("%Y-%m-%dT%H:%M:%SZ", ts + (k - 1) * 259200, 1),
			       (last == 7 && k == 2) ? st[7] : st[k], i, i, 1000 + (i % 97) * 10
	}
}' > "$tmp/events.csv" || fail "generating events"
# Pre-sale deals open now: those that stopped at "КП отправлено" (4) or
# "Счёт выставлен" (5); their count and amount.
read -r want_presale want_amount < <(awk -v deals="$deals" 'BEGIN {
	for (i = 0; i < deals; i++) { last = 1 + (i * 7919) % 7; if (last == 4 || last == 5) { n++; a += 1000 + (i % 97) * 10 } }
	printf "%d %d\n", n, a }')

{
	cat "$here/../bench/bench_rules.lua"
	cat <<'LUA'
rule {
  name = "no_qualification", scope = "manager",
  metric = "conversion", from = "Новый лид", to = "Квалификация",
  op = "<", threshold = 0.5, min_sample = 1, severity = "info",
  message = "{manager}: {value}",
}
rule {
  name = "presale_by_source", scope = "source",
  when = function(s) local deals, amount = s:presale(); return amount > 0, amount, deals end,
  severity = "info", message = "{source}: {value}",
}
LUA
} > "$tmp/rules.lua"

measure() { # measure NAME CMD...: runs CMD, prints its time and peak memory
	local name=$1
	shift
	if command -v /usr/bin/time > /dev/null 2>&1; then
		/usr/bin/time -f "scale: $name: %e s wall, %U s user, %S s system, %M KiB peak" "$@"
	else
		"$@"
	fi
}

"$se" -q --db "$tmp/se.db" --import "$tmp/events.csv" || fail "import"
measure "report all, $deals managers x $deals sources" \
	"$se" --db "$tmp/se.db" --format csv --as-of 2026-01-01T00:00:00Z --report all "$tmp/rules.lua" \
	> "$tmp/all.csv" || fail "--report all"

team_leads=$(awk -F, '$1 == "leads" && $4 == "team" { n += $6 } END { print n + 0 }' "$tmp/all.csv")
manager_rows=$(awk -F, '$1 == "leads" && $4 == "manager" && $6 == 1 { n++ } END { print n + 0 }' "$tmp/all.csv")
[ "$team_leads" -eq "$deals" ] || fail "team leads $team_leads, expected $deals"
[ "$manager_rows" -eq "$deals" ] || fail "$manager_rows managers with one lead, expected $deals"
presale=$(awk -F, '$1 == "presale" && $3 == "*" && $4 == "team" { print $6, $7 }' "$tmp/all.csv")
[ "$presale" = "$want_presale $want_amount.00" ] ||
	fail "pre-sale deals and amount '$presale', expected '$want_presale $want_amount.00'"
channel_leads=$(awk -F, '$1 == "channels" && $4 == "source" { n += $6 } END { print n + 0 }' "$tmp/all.csv")
[ "$channel_leads" -eq "$deals" ] || fail "leads by source $channel_leads, expected $deals"

measure "alerts, $deals managers x $deals sources" \
	"$se" --db "$tmp/se.db" --alerts=all --as-of 2026-01-01T00:00:00Z "$tmp/rules.lua" > "$tmp/alerts.txt"
status=$?
[ "$status" -eq 4 ] || fail "--alerts exit status $status, expected 4 (firing)"
by_source=$(grep -c '^FIRING .*presale_by_source' "$tmp/alerts.txt")
[ "$by_source" -eq "$want_presale" ] || fail "$by_source sources with pre-sale money firing, expected $want_presale"
echo "scale: $deals managers and sources: totals agree ($want_presale pre-sale deals, $want_amount.00)"
