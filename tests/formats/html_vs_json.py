"""The HTML page (as Chromium rendered it) shows the JSON report's numbers.

html_vs_json.py PAGE.html REPORT.json

Every element with data-key and data-value belongs to a row (data-report,
data-funnel, data-id "key=value;...", and for heatmap cells data-step);
the JSON row with the same report, funnel and text fields must hold the
same value under that key.  Also: nothing on the page is loaded from
outside (no src/href/url() to anything, no <link>, no @import).
"""
import json
import re
import sys
from html.parser import HTMLParser

page_path, json_path = sys.argv[1], sys.argv[2]
report = json.load(open(json_path, encoding="utf-8"))
html = open(page_path, encoding="utf-8").read()
problems = []

# index the JSON rows: (report, funnel, frozenset of text fields) -> row
index = {}


def add(name, funnel, row, extra):
    fields = dict(extra)
    fields.update({k: v for k, v in row.items() if isinstance(v, str)})
    index[(name, funnel, frozenset(fields.items()))] = row


for f in report["funnels"]:
    for name, v in f.items():
        if not isinstance(v, list) or not v or not isinstance(v[0], dict):
            continue
        for item in v:
            if "rows" in item:
                extra = ({"step": f'{item["from"]} -> {item["to"]}' + (
                    f' within {item["window_days"]:g}d' if item["window_days"] else "")}
                         if name == "conversion" else {"metric": item["name"]})
                for row in item["rows"]:
                    add(name, f["name"], row, extra)
            else:
                add(name, f["name"], item, {})


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.row = None
        self.checked = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("link", "img", "iframe", "object", "embed") or (tag == "script" and "src" in a):
            problems.append(f"external resource tag <{tag}>")
        for k in ("src", "href"):
            if k in a and not a[k].startswith("#"):
                problems.append(f"{tag} {k}={a[k]}")
        if tag == "tr" and "data-report" in a:
            self.row = a
        if "data-key" in a and "data-value" in a:
            self.check(a)

    def check(self, a):
        r = self.row
        if r is None:
            problems.append(f"a number outside a row: {a}")
            return
        fields = dict(kv.split("=", 1) for kv in r["data-id"].split(";") if kv)
        if "data-step" in a:
            fields["step"] = a["data-step"]
        row = index.get((r["data-report"], r["data-funnel"], frozenset(fields.items())))
        if row is None:
            problems.append(f"no JSON row for {r['data-report']} {fields}")
            return
        want = row.get(a["data-key"])
        got = a["data-value"]
        if isinstance(want, bool):
            ok = got == ("true" if want else "false")
        elif want is None:
            ok = False
        else:
            ok = abs(float(got) - float(want)) <= 1e-9 * max(1.0, abs(float(want)))
        if not ok:
            problems.append(f"{r['data-report']} {fields} {a['data-key']}: page {got}, JSON {want}")
        self.checked += 1


p = Page()
p.feed(html)
if re.search(r"url\(|@import|https?://", html):
    problems.append("a url(), @import or http(s):// on the page")
for x in problems[:20]:
    print("FAIL", x)
print(f"html: {p.checked} numbers equal the JSON report's, {len(problems)} problems")
sys.exit(1 if problems or p.checked < 50 else 0)
