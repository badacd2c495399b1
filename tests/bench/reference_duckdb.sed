# reference_duckdb.sed: reference.sql as DuckDB reads it.
#
# Owns: the spelling differences between SQLite and DuckDB for the
# statements of reference.sql, one rule each, so the benchmark can run the
# same SQL in DuckDB without a second copy to keep in step.  run_bench.sh
# compares DuckDB's output with salesengine's like sqlite3's, so a rule that
# goes wrong shows as a disagreement, not as a quietly different number.
# Never changes what is computed.

# sqlite3 dot commands: DuckDB's runner prints one value a line anyway
/^\./d
# comments: the rules below are for code only
/^[[:space:]]*--/d
# no rowid tables, and no index names qualified by a schema
s/[[:space:]]*WITHOUT ROWID//
/^CREATE UNIQUE INDEX temp\./d
# REAL is 4 bytes in DuckDB: amounts need the 8 of SQLite's REAL
s/AS REAL)/AS DOUBLE)/g
# char(N) is chr(N)
s/char(\([0-9]*\))/chr(\1)/g
# min() of several values is least()
s/nullif(min(coalesce/nullif(least(coalesce/g
# WINDOW is a keyword
s/\([ .]\)window\([ ,)]\)/\1"window"\2/g
# a truth value joined to text reads true/false: window_open wants 1/0
s/|| (p\.window_s IS NOT NULL/|| CAST(p.window_s IS NOT NULL/
s/> unixepoch(a\.as_of))$/> unixepoch(a.as_of) AS INTEGER)/
