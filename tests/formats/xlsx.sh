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
# a manager far behind the others on the first step: a growth point (the
# sample has none that survives the false discovery rate) to see highlighted
awk 'BEGIN { print "event_id,deal_id,ts,stage,manager,source,amount"; split("Анна|Борис|Вера", m, "|")
	for (k = 1; k <= 3; k++) for (i = 0; i < 150; i++) { n++; d = sprintf("G%05d", n)
		t = sprintf("2024-%02d-%02d", 1 + int(i / 50), 1 + i % 28)
		printf "e%da,%s,%s 10:00,Новый лид,%s,Avito,1000\n", n, d, t, m[k]
		if ((k < 3 && i % 10 < 7) || (k == 3 && i % 20 < 3))
			printf "e%db,%s,%s 15:00,Квалификация,%s,Avito,1000\n", n, d, t, m[k] } }' >growth.csv
"$bin" --db g.db -q -i growth.csv "$asof" --period month --report diagnostics --format xlsx \
	-o growth.xlsx "$rules" || { echo "FAIL growth run"; exit 1; }
# every sheet as CSV, values not as shown (token 9 false), all sheets (-1)
timeout 300 soffice --headless -env:UserInstallation="file://$work/lo-profile" \
	--convert-to 'csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1' \
	--outdir "$work/csv" report.xlsx >lo.log 2>&1
ls csv/*.csv >/dev/null 2>&1 || { echo "FAIL LibreOffice converted nothing"; cat lo.log; exit 1; }
/usr/bin/python3 "$src/tests/formats/xlsx_vs_json.py" csv report.json report.xlsx report_ru.xlsx growth.xlsx
