"""The workbook's values (as LibreOffice exported each sheet to CSV) equal
the JSON report's, and its XML has what people need.

xlsx_vs_json.py CSV_DIR REPORT.json BOOK.xlsx BOOK_RU.xlsx GROWTH.xlsx

GROWTH.xlsx: a diagnostics workbook of data with a growth point, to see
its row highlighted.

Sheet columns are the CSV report's; their JSON keys are named below by
hand (percent columns are ratios in both, hours are seconds in JSON).
"""
import csv
import glob
import json
import os
import re
import sys
import zipfile

csv_dir, json_path, book, book_ru, book_growth = sys.argv[1:6]
report = json.load(open(json_path, encoding="utf-8"))
problems = []
passed = 0

JSON_KEY = {"conversion_pct": "rate", "win_rate_pct": "win_rate", "ci_low_pct": "ci_low",
            "ci_high_pct": "ci_high", "others_pct": "others_rate", "gap_low_pct": "gap_low",
            "gap_high_pct": "gap_high", "depth_pct": "depth", "probability_pct": "probability",
            "team_rate_pct": "team_rate", "shrunk_rate_pct": "shrunk_rate",
            "error_stage_pct": "error_stage_rate", "error_shrunk_pct": "error_shrunk_rate",
            "error_time_pct": "error_time_rate",
            "romi_pct": "romi", "change_pct": "change_rate"}
NOT_IDENTITY = {"funnel", "mode", "from_stage", "to_stage"}

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
                extra = ({"pair": f'{item["from"]} -> {item["to"]}' + (
                    f' within {item["window_days"]:g}d' if item["window_days"] else "")}
                         if name == "conversion" else {"metric": item["name"]})
                for row in item["rows"]:
                    add(name, f["name"], row, extra)
            else:
                add(name, f["name"], item, {})
for row in report.get("unknown") or []:
    add("unknown", None, row, {})

checked = 0
sheets = 0
for path in sorted(glob.glob(os.path.join(csv_dir, "*.csv"))):
    sheet = re.sub(r"^.*?-", "", os.path.basename(path))[:-4]
    rows = list(csv.DictReader(open(path, encoding="utf-8", newline="")))
    sheets += 1
    for r in rows:
        funnel = r.get("funnel")
        text, nums = {}, {}
        for k, v in r.items():
            if k in NOT_IDENTITY or v == "":
                continue
            try:
                nums[k] = float(v[:-1]) / 100 if v.endswith("%") else float(v)
            except ValueError:
                text[k] = v
        # numbers that are names (a manager called "2024") stay text: the
        # JSON has them as strings; a blank cell is no value
        for k in list(nums):
            if k in ("name", "period", "month", "cutoff", "deal", "status", "example_deal"):
                text[k] = r[k]
                del nums[k]
        key = (sheet, funnel, frozenset(text.items()))
        row = index.get(key)
        if row is None:
            problems.append(f"{sheet}: no JSON row for {text}")
            continue
        for k, v in nums.items():
            jk = JSON_KEY.get(k, k[:-2] + "_s" if k.endswith("_h") else k)
            want = row.get(jk)
            if isinstance(want, bool):
                want = float(want)
            if want is None:
                problems.append(f"{sheet} {text} {k}: workbook {v}, JSON null")
                continue
            if jk.endswith("_s"):
                v *= 3600
            if abs(v - float(want)) > 1e-6 * max(1.0, abs(float(want))):
                problems.append(f"{sheet} {text} {k}: workbook {v}, JSON {want}")
            checked += 1
        for k in [k for k, v in r.items() if v == "" and k not in NOT_IDENTITY]:
            jk = JSON_KEY.get(k, k[:-2] + "_s" if k.endswith("_h") else k)
            if jk in row and row[jk] is not None:
                problems.append(f"{sheet} {text} {k}: blank in the workbook, JSON {row[jk]}")
if checked < 1000:
    problems.append(f"only {checked} values checked")
print(("ok   " if not problems else "FAIL ") + f"values: {checked} cells of {sheets} sheets equal the JSON report's")
passed += not problems
for p in problems[:20]:
    print("    ", p)
failed = bool(problems)


def check(name, ok):
    global passed, failed
    print(("ok   " if ok else "FAIL ") + name)
    passed += ok
    failed += not ok


z = zipfile.ZipFile(book)
sheet_xml = [n for n in z.namelist() if re.match(r"xl/worksheets/sheet\d+\.xml$", n)]
check(f"frozen header on {len(sheet_xml)} sheets",
      all('state="frozen"' in z.read(n).decode() and 'ySplit="1"' in z.read(n).decode() for n in sheet_xml))
check("autofilter on every sheet", all("<autoFilter" in z.read(n).decode() for n in sheet_xml))
wb = z.read("xl/workbook.xml").decode()
names = re.findall(r'<sheet name="([^"]+)" sheetId="(\d+)"', wb)
zg = zipfile.ZipFile(book_growth)
styles = zg.read("xl/styles.xml").decode()
check("a highlight fill", "FFFDE2E2" in styles.upper())


def sheet_rows(zf, sheet_name):
    """(header, [(cells as {col: (style, value)})]) of a sheet, values of numbers only."""
    wbx = zf.read("xl/workbook.xml").decode()
    sid = [i for n, i in re.findall(r'<sheet name="([^"]+)" sheetId="(\d+)"', wbx) if n == sheet_name]
    xml = zf.read(f"xl/worksheets/sheet{sid[0]}.xml").decode()
    return re.findall(r"<row [^>]*>(.*?)</row>", xml)


diag = sheet_rows(zg, "diagnostics")
gp_styles, other_styles = set(), set()
# growth_point is the last column of the diagnostics sheet: its value 1 marks the row
for row in diag[1:]:
    cells = re.findall(r'<c r="([A-Z]+)\d+"(?: s="(\d+)")?(?: t="\w+")?>(?:<v>([^<]*)</v>)?', row)
    last = cells[-1]
    (gp_styles if last[2] == "1" else other_styles).add(cells[0][1])
check("growth point rows highlighted", gp_styles and not (gp_styles & other_styles))

zr = zipfile.ZipFile(book_ru)
wb_ru = zr.read("xl/workbook.xml").decode()
strings_ru = zr.read("xl/sharedStrings.xml").decode()
check("Russian sheet names and headers", 'name="лиды"' in wb_ru and "воронка" in strings_ru)
print(f"xlsx: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
