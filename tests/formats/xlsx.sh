#!/bin/bash
# --format xlsx: LibreOffice (headless) opens the workbook and converts
# every sheet to CSV with the cells' values; each value equals the JSON
# report's (xlsx_vs_json.py).  The workbook's XML has a frozen header row
# and an autofilter on every sheet, growth points and weak sources in a
# highlighted style, and Russian sheet names and headers with --lang ru.
# xlsx.sh BINARY SOURCE_DIR
set -uo pipefail
bin=$(realpath "$1")
src=$(realpath "$2")
command -v soffice >/dev/null || { echo "skipped: soffice (libreoffice-calc-nogui) is missing"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
asof=--as-of=2024-04-01T00:00:00Z
rules="$src/scripts/example.lua"
"$bin" --db s.db -q -i "$src/scripts/data/sample_events.csv" "$asof" --period month --report all \
	--format xlsx --lang en -o report.xlsx "$rules" || { echo "FAIL run"; exit 1; }
"$bin" --db s.db -q "$asof" --period month --report all --format xlsx --lang ru -o report_ru.xlsx "$rules"
"$bin" --db s.db -q "$asof" --period month --report all --format json "$rules" >report.json
# every sheet as CSV, values not as shown (token 9 false), all sheets (-1)
timeout 300 soffice --headless -env:UserInstallation="file://$work/lo-profile" \
	--convert-to 'csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1' \
	--outdir "$work/csv" report.xlsx >lo.log 2>&1
ls csv/*.csv >/dev/null 2>&1 || { echo "FAIL LibreOffice converted nothing"; cat lo.log; exit 1; }
/usr/bin/python3 "$src/tests/formats/xlsx_vs_json.py" csv report.json report.xlsx report_ru.xlsx
