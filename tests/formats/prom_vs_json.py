"""The Prometheus output says what the JSON report says.

prom_vs_json.py REPORT.prom REPORT.json

Independently of the writer, each number of every JSON row is looked up as
the sample salesengine_<report>_<key> (a _ratio suffix for percentages,
_s keys as _seconds) with the labels the row's text implies; it must be
there with the same value, no series may repeat, and the .prom file may
hold nothing else besides the three store-wide gauges.
"""
import json
import re
import sys

prom_text = open(sys.argv[1], encoding="utf-8").read()
report = json.load(open(sys.argv[2], encoding="utf-8"))

sample_re = re.compile(r'^([a-z_][a-z0-9_]*)(\{(.*)\})? (\S+)$')
label_re = re.compile(r'([a-z_]+)="((?:[^"\\]|\\.)*)"')
samples = {}
problems = []
for line in prom_text.splitlines():
    if line.startswith("#") or not line:
        continue
    m = sample_re.match(line)
    if not m:
        problems.append(f"cannot read {line!r}")
        continue
    labels = tuple(sorted((k, re.sub(r'\\(.)', lambda e: "\n" if e.group(1) == "n" else e.group(1), v))
                          for k, v in label_re.findall(m.group(3) or "")))
    key = (m.group(1), labels)
    if key in samples:
        problems.append(f"repeated series {line!r}")
    samples[key] = float(m.group(4))

found = set()


def check(report_name, row, extra):
    labels = dict(extra)
    dim = row.get("dimension")
    for k, v in row.items():
        if isinstance(v, str):
            if k == "dimension":
                continue
            if k == "name":
                if dim in ("manager", "source"):
                    labels[dim] = v
                continue
            labels["step" if k == "pair" else k] = v
    lab = tuple(sorted(labels.items()))
    for k, v in row.items():
        if isinstance(v, str) or v is None:
            continue
        base = f"salesengine_{report_name}_" + (k[:-2] + "_seconds" if k.endswith("_s") else k)
        hits = [n for n in (base, base + "_ratio") if (n, lab) in samples]
        if len(hits) != 1:
            problems.append(f"{report_name} {k} {labels}: {len(hits)} samples")
            continue
        got = samples[(hits[0], lab)]
        want = float(v)
        if abs(got - want) > 1e-9 * max(1.0, abs(want)):
            problems.append(f"{report_name} {k} {labels}: {got} != {want}")
        found.add((hits[0], lab))


for f in report["funnels"]:
    base = {"funnel": f["name"]}
    for name, v in f.items():
        if not isinstance(v, list) or not v or not isinstance(v[0], dict):
            continue
        for item in v:
            if "rows" in item:       # a conversion pair or a metric: a head, then rows
                extra = dict(base)
                if name == "conversion":
                    extra["step"] = f'{item["from"]} -> {item["to"]}' + (
                        f' within {item["window_days"]:g}d' if item["window_days"] else "")
                else:
                    extra["metric"] = item["name"]
                for row in item["rows"]:
                    check(name, row, extra)
            else:
                check(name, item, base)
for row in report.get("unknown") or []:
    check("unknown", row, {})

store_wide = {"salesengine_report_as_of_timestamp_seconds", "salesengine_store_deals",
              "salesengine_store_events"}
extra = [k for k in samples if k not in found and k[0] not in store_wide]
for k in extra[:10]:
    problems.append(f"not in the JSON: {k}")
for p in problems[:30]:
    print("FAIL", p)
print(f"prometheus: {len(found)} samples equal the JSON report's, {len(problems)} problems")
sys.exit(1 if problems or len(found) < 100 else 0)
