#!/usr/bin/env python3
"""expected.py EXPORT.csv PERIOD: the leads and conversion reports of
tests/columns/rules.lua computed straight from the raw cp1251 export, for
comparison with what salesengine prints (docs/METRICS.md sections 2, 4a,
4b; reached mode, report zone Moscow, which is UTC+3 all year).  Shares no
code with salesengine: its own CSV reading, dates, dedup and counting."""
import csv
import datetime
import io
import sys
from fractions import Fraction

STAGES = ["Новая заявка", "Квалификация", "Счёт выставлен", "Успешно реализовано"]
MSK = datetime.timezone(datetime.timedelta(hours=3))

def bucket(t, period):
    if period == "total":
        return "all"
    if period == "week":
        y, w, _ = t.isocalendar()
        return f"{y}-W{w:02d}"
    if period == "month":
        return f"{t.year}-{t.month:02d}"
    return t.strftime("%Y-%m-%d")

def pct(num, den):
    tenths = (Fraction(1000 * num, den) + Fraction(1, 2)) // 1
    return f"{tenths // 10}.{tenths % 10}"

def main(path, period):
    with open(path, encoding="cp1251", newline="") as f:
        rows = list(csv.reader(io.StringIO(f.read()), delimiter=";"))
    head, body = rows[0], rows[1:]
    col = {name: i for i, name in enumerate(head)}
    seen = set()
    deals = {}
    for r in body:
        t = datetime.datetime.strptime(r[col["Дата изменения"]], "%d.%m.%Y %H:%M").replace(tzinfo=MSK)
        key = (r[col["Сделка"]], t, r[col["Новый статус"]])
        if key in seen:  # the same deal, time and status: one event
            continue
        seen.add(key)
        deals.setdefault(key[0], []).append((t, key[2], r[col["Ответственный"]], r[col["Источник"]]))
    out = []
    leads = {}
    conv = {}
    for events in deals.values():
        events.sort()
        manager, source = events[-1][2], events[0][3]
        def reached(s):
            times = [t for t, st, _, _ in events if st in STAGES and STAGES.index(st) >= s]
            if s == 0:
                times.append(events[0][0])
            return min(times) if times else None
        groups = [("team", "*"), ("manager", manager), ("source", source)]
        b = bucket(reached(0), period)
        for dim, name in groups:
            leads[(b, dim, name)] = leads.get((b, dim, name), 0) + 1
        for a in range(len(STAGES) - 1):
            ra = reached(a)
            if ra is None:
                continue
            b = bucket(ra, period)
            for dim, name in groups[:2]:
                k = (a, b, dim, name)
                got = conv.get(k, [0, 0])
                got[0] += 1
                got[1] += reached(a + 1) is not None
                conv[k] = got
    out.append("report,funnel,period,dimension,name,leads")
    for (b, dim, name), n in leads.items():
        out.append(f"leads,Продажи,{b},{dim},{name},{n}")
    out.append("")
    out.append("report,funnel,pair,mode,period,dimension,name,from_stage,to_stage,reached_from,"
               "reached_to,conversion_pct,window_open")
    for (a, b, dim, name), (n_from, n_to) in conv.items():
        pair = f"{STAGES[a]} -> {STAGES[a + 1]}"
        out.append(f"conversion,Продажи,{pair},reached,{b},{dim},{name},{STAGES[a]},{STAGES[a + 1]},"
                   f"{n_from},{n_to},{pct(n_to, n_from)},0")
    print("\n".join(out))

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
