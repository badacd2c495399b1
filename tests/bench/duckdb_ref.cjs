// duckdb_ref.cjs: the benchmark's reference SQL in DuckDB, over a database
// file.
//
//   node duckdb_ref.cjs import DB CSV          load the events CSV into DB once
//   node duckdb_ref.cjs query DB SQL MODE AS_OF  run SQL (reference.sql as
//                                                reference_duckdb.sed spells
//                                                it), print one value a line
//
// Owns: talking to DuckDB through @duckdb/node-api, installed under the
// directory $SE_BENCH_DUCKDB (see run_bench.sh --help), and the few things SQLite has that
// DuckDB lacks, as macros: unixepoch() and integer division.  Never changes
// what the SQL computes; run_bench.sh compares the output with salesengine's.
'use strict';
const { readFileSync } = require('node:fs');
const { DuckDBInstance, StatementType } = require(require.resolve('@duckdb/node-api',
	{ paths: [process.env.SE_BENCH_DUCKDB || '.'] }));
const SELECT = StatementType.SELECT;

const [cmd, db, ...rest] = process.argv.slice(2);

async function importCsv(conn, csv) {
	// Every column as text, as sqlite3's .import makes them; an empty cell
	// reads as NULL here and '' there, which the SQL treats alike.
	await conn.run('DROP TABLE IF EXISTS events');
	await conn.run('CREATE TABLE events AS SELECT * FROM read_csv($1, header = true, all_varchar = true, quote = \'"\', escape = \'"\')', [csv]);
	await conn.run('CHECKPOINT');
}

async function query(conn, sqlFile, mode, asOf) {
	// SQLite's / of two integers is an integer; the SQL relies on it.
	await conn.run('SET integer_division = true');
	// Times are always "YYYY-MM-DDTHH:MM:SSZ" (reference.sql says so).
	await conn.run("CREATE TEMP MACRO unixepoch(x) AS CAST(epoch(strptime(x, '%Y-%m-%dT%H:%M:%SZ')) AS BIGINT)");
	await conn.run('CREATE TEMP TABLE bench_args AS SELECT $1 AS mode, $2 AS as_of', [mode, asOf]);
	const statements = await conn.extractStatements(readFileSync(sqlFile, 'utf8'));
	const out = [];
	for (let i = 0; i < statements.count; i++) {
		const prepared = await statements.prepare(i);
		const reader = await prepared.runAndReadAll();
		// CREATE ... AS and INSERT answer with a row count: not output
		if (prepared.statementType !== SELECT)
			continue;
		for (const row of reader.getRows())
			out.push(row[0] === null ? '' : String(row[0]));
	}
	process.stdout.write(out.length ? out.join('\n') + '\n' : '');
}

async function main() {
	if (!db || (cmd === 'import' && rest.length !== 1) ||
	    (cmd === 'query' && rest.length !== 3) || !['import', 'query'].includes(cmd)) {
		process.stderr.write('usage: duckdb_ref.cjs import DB CSV | query DB SQL MODE AS_OF\n');
		process.exit(2);
	}
	const instance = await DuckDBInstance.create(db);
	const conn = await instance.connect();
	if (cmd === 'import')
		await importCsv(conn, rest[0]);
	else
		await query(conn, ...rest);
	conn.closeSync();
}

main().catch((e) => {
	process.stderr.write(`duckdb_ref.cjs: ${e.message}\n`);
	process.exit(1);
});
