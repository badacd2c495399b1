/*
 * store/json_members.c: one JSON object split into its members by SQLite's
 * own JSON functions (see se_store_json_object in store.h).
 *
 * Never: keeps anything between calls.
 */
#include "store_int.h"

#include <string.h>

/* ---- JSON objects -------------------------------------------------------- */

static int json_type_of(const char *t)
{
	if (t == NULL || strcmp(t, "null") == 0)
		return SE_JSON_NULL;
	if (strcmp(t, "text") == 0)
		return SE_JSON_STRING;
	if (strcmp(t, "integer") == 0 || strcmp(t, "real") == 0)
		return SE_JSON_NUMBER;
	return SE_JSON_OTHER;
}

int se_store_json_object(se_store *st, const char *json, size_t len, se_json_member_fn fn,
                         void *ud, const char **why, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_JSON_MEMBERS];
	int rc = SE_OK, step;

	sqlite3_bind_text(s, 1, json, (int)len, SQLITE_STATIC);
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		const char *top = (const char *)sqlite3_column_text(s, 0);
		int type = json_type_of((const char *)sqlite3_column_text(s, 2));
		const char *key, *text = NULL;
		size_t key_len, text_len = 0;

		if (top == NULL || strcmp(top, "object") != 0) {
			*why = "not a JSON object";
			rc = SE_EINPUT;
			break;
		}
		if (sqlite3_column_type(s, 1) == SQLITE_NULL)
			continue; /* {}: no members */
		key = (const char *)sqlite3_column_text(s, 1);
		key_len = (size_t)sqlite3_column_bytes(s, 1);
		if (type == SE_JSON_STRING || type == SE_JSON_NUMBER) {
			text = (const char *)sqlite3_column_text(s, 3);
			text_len = (size_t)sqlite3_column_bytes(s, 3);
		}
		if ((rc = fn(ud, key ? key : "", key_len, type, text ? text : "", text_len)) != SE_OK)
			break;
	}
	if (rc == SE_OK && step != SQLITE_DONE) {
		if (step == SQLITE_NOMEM)
			rc = se_error_set(err, SE_ENOMEM, "out of memory");
		else {
			*why = "malformed JSON";
			rc = SE_EINPUT;
		}
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}
