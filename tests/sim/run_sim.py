#!/usr/bin/env python3
"""run_sim.py SALESENGINE [SEEDS]: false claims and power of the report's tests.

Generates histories in which every manager and every source has exactly the
same rates at every step (10 managers x 300 leads, 5 sources, one year),
runs the real binary (--report diagnostics,channels --period month, JSON)
on each, and counts the reports that name any growth point or weak source:
all of those are false.  Then the same with one manager at half the others'
rate on one step: the report should name that step as his growth point.
Both with the report's rule (p-values, Benjamini-Hochberg at 5%, a minimum
sample) and, for comparison, the rule it replaced (each test at 5% on its
own: Newcombe's interval, CMH z < -1.96), read from the same JSON.

Targets (docs/METRICS.md 5): at most 1 report in 10 with a false claim;
the real gap found in at least 9 of 10.  Exit 0 when both hold, 1 if not.
The histories are a pure function of the seed, so the result is too.
"""
import json
import os
import random
import subprocess
import sys
import tempfile

STAGES = ['Lead', 'Qualified', 'Meeting', 'Invoice', 'Won']
RATES = [0.6, 0.5, 0.6, 0.7]          # each step's conversion, for everyone
MANAGERS = ['M%02d' % i for i in range(10)]
SOURCES = ['S%d' % i for i in range(5)]
LEADS = 300                           # per manager
START = 1735689600                    # 2025-01-01T00:00:00Z
YEAR = 365 * 86400
AS_OF = '2026-03-01T00:00:00Z'


def history(seed, weak=None):
    """CSV text of one generated history; weak = (manager, step): that
    manager converts at half the rate on that step."""
    rnd = random.Random(seed)
    lines = ['event_id,deal_id,ts,stage,manager,source,amount']
    deal = 0
    for m in MANAGERS:
        for _ in range(LEADS):
            deal += 1
            src = rnd.choice(SOURCES)
            t = START + rnd.randrange(YEAR)
            ev = 0
            lines.append('e%d-%d,D%d,%d,Lead,%s,%s,%d' % (deal, ev, deal, t, m, src, 1000 * rnd.randint(5, 50)))
            for step, rate in enumerate(RATES):
                if weak is not None and weak == (m, step):
                    rate /= 2
                t += rnd.randint(3600, 10 * 86400)
                ev += 1
                if rnd.random() < rate:
                    lines.append('e%d-%d,D%d,%d,%s,%s,,' % (deal, ev, deal, t, STAGES[step + 1], m))
                else:
                    lines.append('e%d-%d,D%d,%d,Lost,%s,,' % (deal, ev, deal, t, m))
                    break
    return '\n'.join(lines) + '\n'


def report(se, rules, csv_text, tmp):
    path = os.path.join(tmp, 'events.csv')
    db = os.path.join(tmp, 'sim.db')
    with open(path, 'w') as f:
        f.write(csv_text)
    if os.path.exists(db):
        os.remove(db)
    subprocess.run([se, '-q', '--db', db, '--import', path], check=True)
    out = subprocess.run([se, '--db', db, '--format', 'json', '--period', 'month', '--as-of', AS_OF,
                          '--report', 'diagnostics,channels', rules], check=True, capture_output=True).stdout
    return json.loads(out)['funnels'][0]


def claims(fun):
    """Growth points and weak sources the report names, by the new rule and
    by the old one (the same rows: each test at 5% alone)."""
    new_growth, old_growth, new_weak, old_weak = {}, {}, 0, 0
    steps = ['%s -> %s' % (STAGES[i], STAGES[i + 1]) for i in range(len(RATES))]
    old_best = {}
    for r in fun['diagnostics']:
        if r['dimension'] != 'manager' or r['step'] not in steps:
            continue
        if r['growth_point']:
            new_growth[r['name']] = r['step']
        gap_hi = r['gap_high']
        if gap_hi is not None and gap_hi < 0 and r['missed'] > old_best.get(r['name'], (0, None))[0]:
            old_best[r['name']] = (r['missed'], r['step'])
    for name, (_, step) in old_best.items():
        old_growth[name] = step
    for r in fun['channels']:
        if r['dimension'] != 'source':
            continue
        new_weak += bool(r['weak'])
        z = r['within_manager_z']
        old_weak += z is not None and z < -1.959963984540054
    return new_growth, old_growth, new_weak, old_weak


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    se = sys.argv[1]
    seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    rules = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'sim_rules.lua')
    false_new = false_old = claims_new = claims_old = 0
    found_new = found_old = extra_new = 0
    weak = ('M03', 1)
    weak_step = '%s -> %s' % (STAGES[1], STAGES[2])
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(seeds):
            g_new, g_old, w_new, w_old = claims(report(se, rules, history(1000 + seed), tmp))
            claims_new += len(g_new) + w_new
            claims_old += len(g_old) + w_old
            false_new += bool(g_new or w_new)
            false_old += bool(g_old or w_old)
            g_new, g_old, w_new, w_old = claims(report(se, rules, history(5000 + seed, weak), tmp))
            found_new += g_new.get(weak[0]) == weak_step
            found_old += g_old.get(weak[0]) == weak_step
            extra_new += len([m for m in g_new if m != weak[0]]) + w_new
    print('equal managers and sources, %d reports (10 managers x %d leads, 5 sources, by month):' % (seeds, LEADS))
    print('  now: %d reports name a growth point or weak source (%.2f per report; %d claims)'
          % (false_new, false_new / seeds, claims_new))
    print('  each test at 5%% alone (before): %d reports (%.2f per report; %d claims)'
          % (false_old, false_old / seeds, claims_old))
    print('one manager at half the rate on %s (%d leads):' % (weak_step, LEADS))
    print('  now: found as his growth point in %d of %d (other claims: %d)' % (found_new, seeds, extra_new))
    print('  before: %d of %d' % (found_old, seeds))
    ok = false_new * 10 <= seeds and found_new * 10 >= 9 * seeds
    print('targets (false reports <= 1 in 10, power >= 9 in 10): %s' % ('met' if ok else 'NOT met'))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
