/*
 * store/state.c: what adapters and alerts keep between runs.
 *
 * Never: touches events, deals or the history cache.
 */
#include "store_int.h"
#include "vec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- adapter state ------------------------------------------------------ */

/* Import adapters keep what they must remember between runs (BlueSales:
 * each customer's status in the last dump) in adapter_state, one namespace
 * per adapter.  It is written inside the import's own transactions, so
 * events and state commit together.  The table came after schema version 1
 * and is additive: it is created, and its statements prepared, the first
 * time an adapter uses state, so older stores need no migration. */
static int state_prepare(se_store *st, se_error *err)
{
	static const struct { enum stmt_id id; const char *sql; } state_sql[] = {
		{ ST_STATE_GET, "SELECT value FROM adapter_state WHERE adapter = ?1 AND key = ?2" },
		{ ST_STATE_SET, "INSERT OR REPLACE INTO adapter_state(adapter, key, value) VALUES(?1, ?2, ?3)" },
		{ ST_STATE_DEL, "DELETE FROM adapter_state WHERE adapter = ?1 AND key = ?2" },
		{ ST_STATE_KEYS,
		  "SELECT key FROM adapter_state WHERE adapter = ?1 AND substr(key, 1, length(?2)) = ?2"
		  " ORDER BY key" },
	};
	int rc;

	if (st->state_ready)
		return SE_OK;
	if ((rc = exec_sql(st, "CREATE TABLE IF NOT EXISTS adapter_state(adapter TEXT NOT NULL,"
	                       " key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY(adapter, key))"
	                       " WITHOUT ROWID", err)) != SE_OK)
		return rc;
	for (size_t i = 0; i < sizeof state_sql / sizeof state_sql[0]; i++)
		if ((rc = prepare(st, state_sql[i].id, state_sql[i].sql, err)) != SE_OK)
			return rc;
	st->state_ready = 1;
	return SE_OK;
}

int se_store_state_get(se_store *st, const char *ns, const char *key, size_t len,
                       const char **value, size_t *value_len, se_error *err)
{
	sqlite3_stmt *s;
	int rc;

	*value = NULL;
	*value_len = 0;
	if ((rc = state_prepare(st, err)) != SE_OK)
		return rc;
	s = st->stmt[ST_STATE_GET];
	sqlite3_bind_text(s, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, key, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(s, 0);
		const char *text = (const char *)sqlite3_column_text(s, 0);

		if (SE_VEC_RESERVE(st->state_buf, st->state_cap, n + 1, 64) != SE_OK) {
			sqlite3_reset(s);
			return se_error_set(err, SE_ENOMEM, "out of memory");
		}
		memcpy(st->state_buf, text ? text : "", n);
		st->state_buf[n] = '\0';
		*value = st->state_buf;
		*value_len = n;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_error(st, err, "reading adapter state");
	return SE_OK;
}

int se_store_state_set(se_store *st, const char *ns, const char *key, size_t len,
                       const char *value, size_t value_len, se_error *err)
{
	sqlite3_stmt *s;
	int rc;

	if ((rc = state_prepare(st, err)) != SE_OK)
		return rc;
	s = st->stmt[value != NULL ? ST_STATE_SET : ST_STATE_DEL];
	sqlite3_bind_text(s, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, key, (int)len, SQLITE_STATIC);
	if (value != NULL)
		sqlite3_bind_text(s, 3, value, (int)value_len, SQLITE_STATIC);
	return step_done(st, s, err, "writing adapter state");
}

int se_store_state_keys(se_store *st, const char *ns, const char *prefix, size_t len,
                        se_state_key_fn fn, void *ud, se_error *err)
{
	sqlite3_stmt *s;
	int rc, step;

	if ((rc = state_prepare(st, err)) != SE_OK)
		return rc;
	s = st->stmt[ST_STATE_KEYS];
	sqlite3_reset(s); /* fn may have left it mid-way by raising (a Lua error) */
	sqlite3_bind_text(s, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, prefix, (int)len, SQLITE_STATIC);
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		if ((rc = fn(ud, (const char *)sqlite3_column_text(s, 0),
		             (size_t)sqlite3_column_bytes(s, 0))) != SE_OK)
			break;
	}
	sqlite3_reset(s);
	if (rc == SE_OK && step != SQLITE_DONE)
		return db_error(st, err, "listing adapter state");
	return rc;
}

/* ---- alert state ------------------------------------------------------------ */

int se_store_alert_get(se_store *st, const char *rule, const char *scope, se_alert_state *out,
                       int *found, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_ALERT_GET];
	int rc;

	*found = 0;
	memset(out, 0, sizeof *out);
	sqlite3_bind_text(s, 1, rule, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, scope, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*found = 1;
		snprintf(out->state, sizeof out->state, "%s", (const char *)sqlite3_column_text(s, 0));
		out->since = sqlite3_column_int64(s, 1);
		out->changed = sqlite3_column_int64(s, 2);
		out->holds = sqlite3_column_int64(s, 3);
		out->value = sqlite3_column_type(s, 4) == SQLITE_NULL ? NAN : sqlite3_column_double(s, 4);
		out->notified = sqlite3_column_int64(s, 5);
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_error(st, err, "reading alert state");
	return SE_OK;
}

int se_store_alert_put(se_store *st, const char *rule, const char *scope, const se_alert_state *a,
                       se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_ALERT_PUT];

	sqlite3_bind_text(s, 1, rule, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, scope, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, a->state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, a->since);
	sqlite3_bind_int64(s, 5, a->changed);
	sqlite3_bind_int64(s, 6, a->holds);
	if (isnan(a->value))
		sqlite3_bind_null(s, 7);
	else
		sqlite3_bind_double(s, 7, a->value);
	sqlite3_bind_int64(s, 8, a->notified);
	return step_done(st, s, err, "saving alert state");
}

int se_store_alert_delete(se_store *st, const char *rule, const char *scope, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_ALERT_DELETE];

	sqlite3_bind_text(s, 1, rule, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, scope, -1, SQLITE_STATIC);
	return step_done(st, s, err, "removing alert state");
}

int se_store_alert_each_firing(se_store *st, se_alert_firing_fn fn, void *ud, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_ALERT_FIRING];
	int step = SQLITE_DONE, rc = SE_OK;

	while (rc == SE_OK && (step = sqlite3_step(s)) == SQLITE_ROW)
		rc = fn(ud, (const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1),
		        sqlite3_column_int64(s, 2),
		        sqlite3_column_type(s, 3) == SQLITE_NULL ? NAN : sqlite3_column_double(s, 3));
	if (rc == SE_OK && step != SQLITE_DONE)
		rc = db_error(st, err, "reading alert state");
	sqlite3_reset(s);
	return rc;
}
