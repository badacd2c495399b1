/*
 * adapter.h: the two halves of an import adapter run.
 *
 * An adapter is a Lua module (scripts/importers/<crm>.lua) that turns a
 * CRM's own records into canonical events.  Its Lua half lives in core/lua/adapter_host.c
 * (the only file that touches Lua): loading the module in the sandbox,
 * calling its start/record/finish functions, and the emit() and ctx.state_*
 * functions it calls back.  Its C half lives in adapter.c: reading the input
 * files (encoding.c, json.c, csv.c), checking and storing what is emitted
 * (import.h) and keeping state (store.h).  The host callbacks below are the
 * only way from the first half to the second.
 */
#ifndef SE_ADAPTER_H
#define SE_ADAPTER_H

#include "csv.h"
#include "error.h"
#include "import.h"
#include "json.h"
#include "store.h"

#include <stdint.h>

#define SE_NO_SNAPSHOT INT64_MIN

typedef struct se_adapter_host {
	void *ud;
	/* One emitted event.  A bad one is reported and counted (*accepted 0);
	 * an error return is fatal (the store failed). */
	int (*emit)(void *ud, row_text *row, int *accepted, se_error *err);
	int (*state_get)(void *ud, const char *key, size_t len, const char **value, size_t *value_len,
	                 se_error *err);
	/* value NULL deletes the key. */
	int (*state_set)(void *ud, const char *key, size_t len, const char *value, size_t value_len,
	                 se_error *err);
	int (*state_keys)(void *ud, const char *prefix, size_t len, se_state_key_fn fn, void *fn_ud,
	                  se_error *err);
} se_adapter_host;

typedef struct se_adapter se_adapter;

/* Loads the module at path in the sandbox; it must return a table with a
 * function record(rec, emit, ctx).  Errors read "path:LINE: message". */
int se_adapter_load(se_adapter **out, const char *path, const se_script_limits *limits,
                    const se_adapter_host *host, se_error *err);
void se_adapter_free(se_adapter *a);

/* What the module declares: name (its state namespace; default the file's
 * base name), records (the JSON path of its records, or NULL) and timezone
 * (of the CRM's naive times, or NULL). */
const char *se_adapter_name(const se_adapter *a);
const char *se_adapter_records(const se_adapter *a);
const char *se_adapter_timezone(const se_adapter *a);

/* The input file the next calls are about: ctx.file, ctx.input (1-based)
 * of ctx.inputs, ctx.snapshot_time (SE_NO_SNAPSHOT: nil). */
int se_adapter_set_file(se_adapter *a, const char *file, int input, int inputs, int64_t snapshot,
                        se_error *err);

/* Calls the module's functions.  SE_ESCRIPT: the call failed (message
 * "adapter.lua:LINE: ..."), the caller rejects the record and goes on; any
 * other error is fatal (a sandbox limit, the store). */
int se_adapter_start(se_adapter *a, se_error *err);
int se_adapter_json_record(se_adapter *a, long n, const json_t *rec, se_error *err);
int se_adapter_csv_record(se_adapter *a, long line, const se_csv_field *names,
                          const se_csv_field *values, size_t n, se_error *err);
int se_adapter_finish(se_adapter *a, se_error *err);

#endif
