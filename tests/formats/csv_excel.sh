#!/bin/bash
# --format csv --excel: a UTF-8 BOM, CRLF line ends; with --lang ru ';'
# separators and decimal commas; --delimiter sets the output separator.
# Each variant, read back with Python's csv module, holds the same fields
# as the plain CSV (decimal marks aside).
# csv_excel.sh BINARY SOURCE_DIR
set -uo pipefail
bin=$(realpath "$1")
src=$(realpath "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
asof=--as-of=2024-04-01T00:00:00Z
run() { "$bin" --db s.db -q "$asof" --period month --report all "$src/scripts/example.lua" "$@"; }
"$bin" --db s.db -q -i "$src/scripts/data/sample_events.csv" --report leads "$src/scripts/example.lua" >/dev/null
run --format csv >plain.csv
run --format csv --excel --lang ru >excel_ru.csv
run --format csv --excel --lang en >excel_en.csv
run --format csv --delimiter tab >tab.csv
/usr/bin/python3 - <<'PY'
import csv, io, sys
def rows(path, sep, excel):
    raw = open(path, "rb").read()
    problems = []
    if excel:
        if not raw.startswith(b"\xef\xbb\xbf"):
            problems.append("no BOM")
        body = raw[3:]
        if body.count(b"\n") != body.count(b"\r\n"):
            problems.append("a line without CR")
    elif b"\r" in raw or raw.startswith(b"\xef\xbb\xbf"):
        problems.append("CR or BOM in plain CSV")
    text = raw.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=sep)), problems
plain, _ = rows("plain.csv", ",", False)
failed = 0
for name, sep, excel, comma in (("excel_ru.csv", ";", True, True), ("excel_en.csv", ",", True, False),
                                ("tab.csv", "\t", False, False)):
    got, problems = rows(name, sep, excel)
    if len(got) != len(plain):
        problems.append(f"{len(got)} rows, plain has {len(plain)}")
    commas = 0
    for a, b in zip(plain, got):
        if len(a) != len(b):
            problems.append(f"row {a[:2]}: {len(b)} fields, plain has {len(a)}")
            break
        for x, y in zip(a, b):
            if comma and x.replace(".", ",", 1) == y and x != y:
                try:
                    float(x)
                    commas += 1
                    continue
                except ValueError:
                    pass
            if x != y:
                problems.append(f"{x!r} became {y!r}")
                break
    if comma and commas < 100:
        problems.append(f"only {commas} decimal commas")
    print(("ok   " if not problems else "FAIL ") + name + ("" if not problems else ": " + "; ".join(problems[:5])))
    failed += bool(problems)
print(f"csv_excel: {3 - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
