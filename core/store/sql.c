/*
 * store/sql.c: the calls every file of core/store/ makes on a statement:
 * prepare one into the store's array, step one that returns no rows, run a
 * script, ask whether the schema has an object, and turn SQLite's last
 * error into an se_error; and the names of
 * the dictionary tables, which opening and interning both need.
 *
 * They sit below the other files of the folder (open.c, deals.c, events.c,
 * cache.c, state.c all use them) so that none of those has to call back
 * into the file that opens the store.
 */
#include "store_int.h"

const char *const dict_tables[SE_DICT_COUNT] = {
	"manager", "source", "status", "pipeline", "currency"
};

int db_error(se_store *st, se_error *err, const char *what)
{
	return se_error_set(err, SE_EDB, "%s: %s", what, sqlite3_errmsg(st->db));
}

int exec_sql(se_store *st, const char *sql, se_error *err)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		se_error_set(err, SE_EDB, "database: %s", msg ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		return SE_EDB;
	}
	return SE_OK;
}

int prepare(se_store *st, enum stmt_id id, const char *sql, se_error *err)
{
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->stmt[id], NULL) != SQLITE_OK)
		return db_error(st, err, "preparing a statement");
	return SE_OK;
}

int step_done(se_store *st, sqlite3_stmt *s, se_error *err, const char *what)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return db_error(st, err, what);
	return SE_OK;
}

int schema_has(se_store *st, const char *type, const char *name, int *yes, const char *doing, se_error *err)
{
	sqlite3_stmt *s = NULL;
	int rc;

	*yes = 0;
	if (sqlite3_prepare_v2(st->db, "SELECT 1 FROM sqlite_master WHERE type = ?1 AND name = ?2", -1, &s,
	                       NULL) != SQLITE_OK)
		return db_error(st, err, doing);
	sqlite3_bind_text(s, 1, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	*yes = rc == SQLITE_ROW;
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_error(st, err, doing);
	return SE_OK;
}
