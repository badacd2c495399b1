#!/bin/bash
# --report digest: at most 40 lines, and every number in it is the one the
# full reports print (CSV): leads of the last days from the leads report by
# day, unprocessed leads from the handling report, the most overdue deals
# from the stale list, the forecast from the forecast report.
# digest.sh BINARY SOURCE_DIR
set -uo pipefail
bin=$(realpath "$1")
src=$(realpath "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
asof=--as-of=2024-03-20T06:00:00Z
rules="$src/scripts/example.lua"
"$bin" --db s.db -q -i "$src/scripts/data/sample_events.csv" --report leads "$rules" >/dev/null
"$bin" --db s.db -q "$asof" --lang en --report digest "$rules" >digest.txt || { echo "FAIL run"; exit 1; }
"$bin" --db s.db -q "$asof" --lang ru --report digest "$rules" >digest_ru.txt || { echo "FAIL run ru"; exit 1; }
"$bin" --db s.db -q --lang en --report digest "$rules" >digest_now.txt || { echo "FAIL run now"; exit 1; }
"$bin" --db s.db -q "$asof" --period day --report leads --format csv "$rules" >leads.csv
"$bin" --db s.db -q "$asof" --report handling,velocity,forecast --format csv "$rules" >full.csv
/usr/bin/python3 - <<'PY'
import csv, io, re, sys
failed = passed = 0
def check(name, ok, detail=""):
    global failed, passed
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else ": " + detail))
    failed += not ok
    passed += bool(ok)
text = open("digest.txt", encoding="utf-8").read()
lines = text.splitlines()
for f in ("digest.txt", "digest_ru.txt", "digest_now.txt"):
    n = len(open(f, encoding="utf-8").read().splitlines())
    check(f"{f} fits 40 lines", 0 < n <= 40, f"{n} lines")
check("no tabs or trailing spaces", not re.search(r"\t| $", text, re.M))
ru = open("digest_ru.txt", encoding="utf-8").read()
check("Russian", "Лиды" in ru and "вчера" in ru and "\u00a0₽" in ru, ru[:200])

def blocks(path):
    out = {}
    for blk in open(path, encoding="utf-8").read().split("\n\n"):
        rows = list(csv.DictReader(io.StringIO(blk)))
        if rows:
            out.setdefault(rows[0]["report"], []).extend(rows)
    return out
leads = {r["period"]: int(r["leads"]) for r in blocks("leads.csv")["leads"] if r["dimension"] == "team"}
# as of 2024-03-20 09:00 Moscow: yesterday is 03-19, the day before 03-18,
# the last 7 days 03-13..03-19, the 7 before 03-06..03-12
day = lambda d: leads.get(f"2024-03-{d:02d}", 0)
want_day, want_prev = day(19), day(18)
want_week, want_prev_week = sum(day(d) for d in range(13, 20)), sum(day(d) for d in range(6, 13))
m = re.search(r"^yesterday: (\d+) \(the day before (\d+)", text, re.M)
check("leads yesterday", m and (int(m[1]), int(m[2])) == (want_day, want_prev), f"{m and m.groups()} vs {want_day, want_prev}")
m = re.search(r"^last 7 days: (\d+) \(the 7 before (\d+)", text, re.M)
check("leads last 7 days", m and (int(m[1]), int(m[2])) == (want_week, want_prev_week), f"{m and m.groups()} vs {want_week, want_prev_week}")
full = blocks("full.csv")
team = [r for r in full["handling"] if r["dimension"] == "team"][-1]
m = re.search(r"^Unprocessed leads: (\d+)", text, re.M)
check("unprocessed", m and int(m[1]) == int(team["unprocessed"]), f"{m and m[1]} vs {team['unprocessed']}")
stale = full["stale"][:5]
got = re.findall(r"^(D\d+), ([^,]+), ([^:]+): (\d+) days", text, re.M)
want = [(r["deal"], r["manager"], r["stage"], str(round(float(r["age_h"]) / 24))) for r in stale]
check("most overdue deals", got == want, f"{got} vs {want}")
fc = [r for r in full["forecast"] if r["dimension"] == "team" and r["stage"] == "*"][0]
money = lambda v: f"{float(v):,.2f}"
m = re.search(r"^(\d+) open pre-sale deals, amount ([\d,.]+); by stage probability ([\d,.]+), by win rate ([\d,.]+)", text, re.M)
check("forecast", m and m.groups() == (fc["deals"], money(fc["amount"]), money(fc["forecast_stage"]), money(fc["forecast_shrunk"])),
      f"{m and m.groups()} vs {fc}")
m = re.search(r"^won within (\d+) days, by time at the stage: ([\d,.]+)$", text, re.M)
check("forecast within the horizon", m and m.groups() == ("30", money(fc["forecast_time"])),
      f"{m and m.groups()} vs {fc.get('forecast_time')}")
print(f"digest: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
