/*
 * adapter.c: the C half of an import through a Lua adapter (adapter.h).
 *
 * Owns: finding the adapter, reading its input files (whole, as UTF-8:
 * encoding.c), splitting them into records (a JSON document's list, JSON
 * Lines, CSV rows), handing each record to the adapter, and taking what it
 * emits through the canonical import's checks and batches (import.h) and
 * what it remembers into the store's adapter_state (store.h), in the same
 * transactions.  Counts: records seen; events read = imported + duplicates
 * + rejected, where a record the adapter fails on is one rejected item.
 *
 * Never: touches Lua (core/lua/ does) or SQL (store.c does); commits in the
 * middle of a record, so an event and the state that goes with it are
 * stored together or not at all.
 */
#include "adapter.h"
#include "encoding.h"
#include "timeconv.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#ifndef SE_IMPORTERS_DIR
#define SE_IMPORTERS_DIR "scripts/importers"
#endif

typedef struct run {
	se_store *st;
	importer *rows;
	se_adapter *ad;
	const se_import_opts *opts;
	se_import_stats *stats;
	const char *file;          /* the input being read, for messages */
} run;

/* ---- host callbacks ------------------------------------------------------ */

static int host_emit(void *ud, row_text *row, int *accepted, se_error *err)
{
	run *r = ud;

	return se_rows_put(r->rows, row, accepted, err);
}

static int host_state_get(void *ud, const char *key, size_t len, const char **value,
                          size_t *value_len, se_error *err)
{
	run *r = ud;
	int rc = se_rows_begin(r->rows, err);

	if (rc != SE_OK)
		return rc;
	return se_store_state_get(r->st, se_adapter_name(r->ad), key, len, value, value_len, err);
}

static int host_state_set(void *ud, const char *key, size_t len, const char *value,
                          size_t value_len, se_error *err)
{
	run *r = ud;
	int rc = se_rows_begin(r->rows, err);

	if (rc != SE_OK)
		return rc;
	return se_store_state_set(r->st, se_adapter_name(r->ad), key, len, value, value_len, err);
}

static int host_state_keys(void *ud, const char *prefix, size_t len, se_state_key_fn fn,
                           void *fn_ud, se_error *err)
{
	run *r = ud;
	int rc = se_rows_begin(r->rows, err);

	if (rc != SE_OK)
		return rc;
	return se_store_state_keys(r->st, se_adapter_name(r->ad), prefix, len, fn, fn_ud, err);
}

/* ---- records --------------------------------------------------------------- */

static void report(run *r, const char *fmt, ...) SE_PRINTF(2, 3);

static void report(run *r, const char *fmt, ...)
{
	char msg[1400];
	va_list ap;

	if (r->opts->on_reject == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	r->opts->on_reject(r->opts->ud, msg);
}

/* A record the adapter (or the input) failed on: one rejected item. */
static void reject_record(run *r, const char *unit, long n, const char *why)
{
	r->stats->read++;
	r->stats->rejected++;
	if (n < 0)
		report(r, "%s:%s: %s", r->file, unit, why);
	else
		report(r, "%s:%s%ld: %s", r->file, unit, n, why);
}

/* After a call into the adapter: SE_ESCRIPT rejects the record, anything
 * else but success stops the import; between records, a full batch commits. */
static int after_call(run *r, int rc, const char *unit, long n, se_error *err)
{
	if (rc == SE_ESCRIPT) {
		reject_record(r, unit, n, err->msg);
		se_error_clear(err);
		rc = SE_OK;
	}
	if (rc != SE_OK)
		return rc;
	return se_rows_record_done(r->rows, err);
}

static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER:
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	default: return "an object";
	}
}

/* Adapters read records as tables of fields: anything but an object is
 * rejected here, with what it is, rather than as a Lua error inside the
 * adapter. */
static int json_record(run *r, long n, const json_t *rec, se_error *err)
{
	r->stats->records++;
	if (!json_is_object(rec))
		return after_call(r, se_error_set(err, SE_ESCRIPT, "%s, not a JSON object", json_kind(rec)),
		                  "record ", n, err);
	return after_call(r, se_adapter_json_record(r->ad, n, rec, err), "record ", n, err);
}

/* The records of one document (a whole file, or one JSON Lines line): the
 * list at the adapter's records path; a JSON Lines line without it is one
 * record itself (pages of an API call saved one body per line, or one
 * record per line, both read).  Records are numbered through the file. */
static int document_records(run *r, json_t *doc, int line_may_be_record, long *n, se_error *err)
{
	json_t *list = NULL;
	const char *path = se_adapter_records(r->ad);
	int rc = SE_OK;

	if (!line_may_be_record || path != NULL)
		rc = se_json_records(doc, path, &list, line_may_be_record ? NULL : err);
	if (list == NULL && line_may_be_record)
		return json_record(r, ++*n, doc, err);
	if (rc != SE_OK) {
		se_error_prefix(err, "%s", r->file);
		return rc;
	}
	for (size_t i = 0; i < json_array_size(list) && rc == SE_OK; i++)
		rc = json_record(r, ++*n, json_array_get(list, i), err);
	json_decref(list);
	return rc;
}

static int read_json(run *r, char *text, size_t len, int lines, se_error *err)
{
	json_t *doc = NULL;
	long n = 0, lineno = 0;
	char *p = text, *end = text + len;
	int rc = SE_OK;

	se_rows_where(r->rows, r->file, "record ");
	if (!lines) {
		if ((rc = se_json_parse(text, len, 1, &doc, err)) != SE_OK) {
			se_error_prefix(err, "%s", r->file);
			return rc;
		}
		rc = document_records(r, doc, 0, &n, err);
		json_decref(doc);
		return rc;
	}
	/* JSON Lines: a malformed line is one rejected record. */
	while (rc == SE_OK && p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t line_len = nl ? (size_t)(nl - p) : (size_t)(end - p);

		lineno++;
		if (strspn(p, " \t\r") < line_len) {
			if (se_json_parse(p, line_len, lineno, &doc, err) == SE_OK) {
				rc = document_records(r, doc, 1, &n, err);
				json_decref(doc);
			} else {
				r->stats->records++;
				reject_record(r, "record ", ++n, err->msg);
				se_error_clear(err);
			}
		}
		p += line_len + 1;
	}
	return rc;
}

static int read_csv(run *r, char *text, size_t len, se_error *err)
{
	FILE *fp = fmemopen(text, len ? len : 1, "r");
	se_csv *csv = NULL;
	se_csv_record rec, hdr;
	se_csv_field *hdr_fields = NULL;
	char *hdr_text = NULL;
	int rc;

	if (fp == NULL)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	se_rows_where(r->rows, r->file, "");
	if ((rc = se_csv_open_stream(&csv, fp, r->file, r->opts->delimiter, err)) != SE_OK)
		goto out;
	if ((rc = se_csv_next(csv, &rec, err)) <= 0) {
		if (rc == SE_EINPUT)
			se_error_prefix(err, "%s:%ld: header", r->file, rec.error_line);
		goto out; /* 0: an empty file has no records */
	}
	if ((rc = se_csv_copy_header(&rec, &hdr, &hdr_fields, &hdr_text)) != SE_OK) {
		rc = se_error_set(err, SE_ENOMEM, "out of memory");
		goto out;
	}
	while ((rc = se_csv_next(csv, &rec, err)) != 0) {
		char why[128];

		if (rc == SE_EINPUT) {
			r->stats->records++;
			reject_record(r, "", rec.error_line, err->msg);
			se_error_clear(err);
			continue;
		}
		if (rc < 0)
			goto out;
		r->stats->records++;
		if (rec.nfields != hdr.nfields) {
			snprintf(why, sizeof why, "record: %zu fields, the header has %zu", rec.nfields, hdr.nfields);
			reject_record(r, "", rec.line, why);
			continue;
		}
		rc = se_adapter_csv_record(r->ad, rec.line, hdr.fields, rec.fields, rec.nfields, err);
		if ((rc = after_call(r, rc, "", rec.line, err)) != SE_OK)
			goto out;
	}
	rc = SE_OK;
out:
	free(hdr_fields);
	free(hdr_text);
	se_csv_close(csv);
	fclose(fp);
	return rc;
}

/* ---- files ------------------------------------------------------------------- */

enum kind { K_CSV, K_JSON, K_JSONL };

static enum kind kind_of(const char *path, se_input_format fmt)
{
	const char *dot = strrchr(path, '.');

	if (fmt == SE_INPUT_CSV)
		return K_CSV;
	if (fmt == SE_INPUT_JSONL || (dot && (strcasecmp(dot, ".jsonl") == 0 || strcasecmp(dot, ".ndjson") == 0)))
		return K_JSONL;
	if (dot && strcasecmp(dot, ".json") == 0)
		return K_JSON;
	return K_CSV;
}

/* The snapshot time of an input: --snapshot-time, else the first date in
 * the file's name (YYYY-MM-DD or DD.MM.YYYY: midnight in the input zone). */
static int snapshot_of(const char *path, const se_import_opts *opts, int64_t *out, se_error *err)
{
	const char *base = strrchr(path, '/'), *why = NULL;

	*out = SE_NO_SNAPSHOT;
	if (opts->snapshot_time != NULL) {
		if (se_time_parse(opts->snapshot_time, strlen(opts->snapshot_time), opts->zone, out, &why) != SE_OK)
			return se_error_set(err, SE_EUSAGE, "--snapshot-time: cannot read time '%s': %s",
			                    opts->snapshot_time, why);
		return SE_OK;
	}
	base = base ? base + 1 : path;
	for (const char *p = base; *p; p++) {
		static const char *const shapes[] = { "dddd-dd-dd", "dd.dd.dddd" };

		for (int s = 0; s < 2; s++) {
			size_t i;
			int64_t t;

			for (i = 0; shapes[s][i] && p[i]; i++)
				if (shapes[s][i] == 'd' ? !(p[i] >= '0' && p[i] <= '9') : p[i] != shapes[s][i])
					break;
			if (shapes[s][i] == '\0' && se_time_parse(p, i, opts->zone, &t, &why) == SE_OK) {
				*out = t;
				return SE_OK;
			}
		}
	}
	return SE_OK;
}

static int import_one(run *r, const char *path, int input, int inputs, se_error *err)
{
	char *text = NULL;
	size_t len = 0;
	int64_t snapshot;
	int rc;

	r->file = strcmp(path, "-") == 0 ? "<stdin>" : path;
	if ((rc = snapshot_of(path, r->opts, &snapshot, err)) != SE_OK ||
	    (rc = se_read_utf8_file(path, r->opts->encoding, &text, &len, err)) != SE_OK ||
	    (rc = se_adapter_set_file(r->ad, r->file, input, inputs, snapshot, err)) != SE_OK)
		goto out;
	/* start() sees and sets state: inside the batch's transaction. */
	if ((rc = se_rows_begin(r->rows, err)) != SE_OK)
		goto out;
	se_rows_where(r->rows, r->file, "start");
	if ((rc = se_adapter_start(r->ad, err)) != SE_OK) {
		se_error_prefix(err, "%s", r->file);
		goto out;
	}
	switch (kind_of(path, r->opts->format)) {
	case K_JSON: rc = read_json(r, text, len, 0, err); break;
	case K_JSONL: rc = read_json(r, text, len, 1, err); break;
	default: rc = read_csv(r, text, len, err); break;
	}
	if (rc != SE_OK)
		goto out;
	se_rows_where(r->rows, r->file, "finish");
	rc = after_call(r, se_adapter_finish(r->ad, err), "finish", -1, err);
out:
	free(text);
	return rc;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A name is a bundled adapter; anything with a slash or ending in .lua is
 * a path (a team's edited copy). */
static int find_adapter(const char *name, char *path, size_t size, se_error *err)
{
	struct stat sb;
	size_t len = strlen(name);
	DIR *d;
	struct dirent *e;
	char known[512] = "";
	size_t used = 0;

	if (strchr(name, '/') != NULL || (len > 4 && strcmp(name + len - 4, ".lua") == 0)) {
		snprintf(path, size, "%s", name);
		if (stat(path, &sb) != 0)
			return se_error_set(err, SE_EIO, "adapter %s: no such file", name);
		return SE_OK;
	}
	snprintf(path, size, "%s/%s.lua", SE_IMPORTERS_DIR, name);
	if (stat(path, &sb) == 0)
		return SE_OK;
	if ((d = opendir(SE_IMPORTERS_DIR)) != NULL) {
		char *names[64];
		int n = 0;

		while ((e = readdir(d)) != NULL && n < 64) {
			size_t l = strlen(e->d_name);

			if (l > 4 && strcmp(e->d_name + l - 4, ".lua") == 0 && (names[n] = strndup(e->d_name, l - 4)) != NULL)
				n++;
		}
		closedir(d);
		qsort(names, (size_t)n, sizeof names[0], compare_names);
		for (int i = 0; i < n; i++) {
			if (used + strlen(names[i]) + 3 < sizeof known)
				used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "", names[i]);
			free(names[i]);
		}
	}
	return se_error_set(err, SE_EUSAGE, "unknown adapter '%s' (bundled: %s; or give the path of a .lua file)",
	                    name, known[0] ? known : "none found");
}

/* ---- entry point --------------------------------------------------------------- */

int se_import_with(se_store *st, const char *adapter, const char *const *files, int n_files,
                   const se_import_opts *opts, const se_script_limits *limits,
                   se_import_stats *stats, se_error *err)
{
	static const se_import_opts defaults;
	se_import_opts o = opts ? *opts : defaults;
	char path[4096];
	se_tz *zone = NULL;
	run r;
	se_adapter_host host = { &r, host_emit, host_state_get, host_state_set, host_state_keys };
	int rc;

	memset(stats, 0, sizeof *stats);
	memset(&r, 0, sizeof r);
	r.st = st;
	r.opts = &o;
	r.stats = stats;
	if ((rc = find_adapter(adapter, path, sizeof path, err)) != SE_OK ||
	    (rc = se_adapter_load(&r.ad, path, limits, &host, err)) != SE_OK)
		return rc;
	/* Naive times: the user's zone (--input-tz or the rules' input_timezone)
	 * if given, else the one the adapter knows its CRM writes. */
	if (o.zone == NULL && se_adapter_timezone(r.ad) != NULL) {
		if ((rc = se_tz_open(&zone, se_adapter_timezone(r.ad), err)) != SE_OK) {
			se_error_prefix(err, "%s: timezone", path);
			goto out;
		}
		o.zone = zone;
	}
	if ((rc = se_rows_open(&r.rows, st, &o, stats, err)) != SE_OK)
		goto out;
	for (int i = 0; i < n_files && rc == SE_OK; i++)
		rc = import_one(&r, files[i], i + 1, n_files, err);
	rc = se_rows_close(r.rows, rc, err);
out:
	se_adapter_free(r.ad);
	se_tz_free(zone);
	return rc;
}
