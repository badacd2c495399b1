/*
 * import_row.c: one canonical row, checked and stored.
 *
 * Owns: finding a field by its canonical name, the checks every row passes
 * (required fields, valid UTF-8, no NUL, the time, the amount and its
 * maximum), the messages for a bad row ("file:line: column: reason"), and
 * the batched transactions good rows go into.  The readers of import.c
 * hand it rows; it never reads a file itself.
 */
#include "import_int.h"
#include "utf8.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

const char *const im_field_names[F_COUNT] = {
	"event_id", "deal_id", "ts", "stage", "manager", "source",
	"amount", "from_stage", "pipeline", "currency"
};

/* ---- helpers ------------------------------------------------------------ */

static inline void trim(const char **p, size_t *len)
{
	while (*len > 0 && ((*p)[0] == ' ' || (*p)[0] == '\t')) {
		(*p)++;
		(*len)--;
	}
	while (*len > 0 && ((*p)[*len - 1] == ' ' || (*p)[*len - 1] == '\t' || (*p)[*len - 1] == '\r'))
		(*len)--;
}

void im_trim(const char **p, size_t *len)
{
	trim(p, len);
}

int im_field_by_name(const char *name, size_t len)
{
	im_trim(&name, &len);
	for (int f = 0; f < F_COUNT; f++)
		if (strlen(im_field_names[f]) == len && strncasecmp(im_field_names[f], name, len) == 0)
			return f;
	return -1;
}

static void vreject(importer *im, long line, long col, const char *column, const char *fmt,
                    va_list ap)
{
	char reason[512], msg[1024];

	im->stats->rejected++;
	if (im->opts->on_reject == NULL)
		return;
	vsnprintf(reason, sizeof reason, fmt, ap);
	if (line < 0) /* not at a line: unit says where (an adapter's "finish") */
		snprintf(msg, sizeof msg, "%s:%s: %s: %s", im->name, im->unit, column, reason);
	else if (col > 0) /* the reader knows the byte: file:line:column */
		snprintf(msg, sizeof msg, "%s:%s%ld:%ld: %s: %s", im->name, im->unit, line, col, column,
		         reason);
	else
		snprintf(msg, sizeof msg, "%s:%s%ld: %s: %s", im->name, im->unit, line, column, reason);
	im->opts->on_reject(im->opts->ud, msg);
}


void im_reject(importer *im, long line, const char *column, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreject(im, line, 0, column, fmt, ap);
	va_end(ap);
}


void im_reject_at(importer *im, long line, long col, const char *column, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreject(im, line, col, column, fmt, ap);
	va_end(ap);
}

/* Shows a bad value in a message: at most 40 bytes, cut on a character
 * boundary so the message itself stays valid UTF-8. */
static void im_quote_value(const char *p, size_t len, char *buf, size_t size)
{
	size_t n = se_utf8_prefix(p, len, 40);

	snprintf(buf, size, "\"%.*s%s\"", (int)n, p, n < len ? "..." : "");
}

/* Decimal amounts as CRMs export them: "125000", "9990.50", "9 990,50"
 * (comma decimal and space, NBSP or narrow NBSP thousands separators, as in
 * Russian exports), optional sign, and an exponent ("1.5e3", as JSON
 * numbers may come).  No inf/nan. */
static int im_parse_amount(const char *p, size_t len, double *out)
{
	char buf[64];
	size_t n = 0;
	int digits = 0, seps = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c >= '0' && c <= '9') {
			digits++;
		} else if ((c == '-' || c == '+') && n == 0) {
		} else if (c == '.' || c == ',') {
			if (seps++ || digits == 0)
				return SE_EINPUT;
			c = '.';
		} else if ((c == 'e' || c == 'E') && digits > 0 && i + 1 < len) {
			/* An exponent, as JSON numbers may be written ("1.5e6"): the
			 * rest must be an optional sign and digits. */
			size_t j = i + 1;

			if (p[j] == '+' || p[j] == '-')
				j++;
			if (j >= len)
				return SE_EINPUT;
			for (size_t k = j; k < len; k++)
				if (p[k] < '0' || p[k] > '9')
					return SE_EINPUT;
			if (n + (len - i) + 1 >= sizeof buf)
				return SE_EINPUT;
			memcpy(buf + n, p + i, len - i);
			n += len - i;
			break;
		} else if (c == ' ' && digits > 0 && !seps) {
			continue;
		} else if (c == 0xC2 && i + 1 < len && (unsigned char)p[i + 1] == 0xA0 && digits > 0 && !seps) {
			i++;
			continue;
		} else if (c == 0xE2 && i + 2 < len && (unsigned char)p[i + 1] == 0x80 &&
		           (unsigned char)p[i + 2] == 0xAF && digits > 0 && !seps) {
			i += 2;
			continue;
		} else {
			return SE_EINPUT;
		}
		if (n + 1 >= sizeof buf)
			return SE_EINPUT;
		buf[n++] = (char)c;
	}
	if (digits == 0 || buf[n - 1] == '.' || buf[n - 1] == 'e' || buf[n - 1] == 'E')
		return SE_EINPUT;
	buf[n] = '\0';
	errno = 0;
	*out = strtod(buf, NULL);
	if (errno != 0 || !isfinite(*out))
		return SE_EINPUT;
	return SE_OK;
}

void im_progress(importer *im, long long offset, int final)
{
	struct timespec ts;
	double now;
	double percent = -1;

	if (im->opts->on_progress == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	if (!final && now - im->last_progress < 0.25)
		return;
	im->last_progress = now;
	if (!final && im->size > 0)
		percent = 100.0 * (double)offset / (double)im->size;
	im->opts->on_progress(im->opts->ud, im->name, (long long)im->stats->read, percent, final);
}

/* ---- batches ------------------------------------------------------------ */

/* A row's fate (new or duplicate) is known once its batch is written.
 * Then the rows kept for the history cache may be folded into it (the
 * batch stays committed and counted whatever the fold does). */
int im_commit_batch(importer *im, se_error *err)
{
	int64_t inserted, ignored;
	int rc = se_store_commit(im->st, err);

	if (rc != SE_OK)
		return rc;
	se_store_tx_counts(im->st, &inserted, &ignored);
	im->stats->imported += inserted;
	im->stats->duplicates += ignored;
	if (se_store_holding(im->st)) { /* counted, but stored only with the release */
		im->held_imported += inserted;
		im->held_duplicates += ignored;
	}
	im->in_batch = 0;
	im->rows_in_batch = 0;
	return se_store_fold(im->st, err);
}

/* The open batch is lost: its rows were neither stored nor rejected, so
 * they leave the count of rows read and the summary still adds up. */
void im_abandon_batch(importer *im)
{
	se_store_rollback(im->st);
	im->stats->read -= im->rows_in_batch;
	im->in_batch = 0;
	im->rows_in_batch = 0;
}

static int im_batch_row_done(importer *im, se_error *err)
{
	if (++im->rows_in_batch < im->batch_rows || im->defer_commit)
		return SE_OK;
	return im_commit_batch(im, err);
}

int im_ensure_batch(importer *im, se_error *err)
{
	int rc;

	if (im->in_batch)
		return SE_OK;
	if ((rc = se_store_begin(im->st, err)) != SE_OK)
		return rc;
	im->in_batch = 1;
	return SE_OK;
}

/* ---- one row ------------------------------------------------------------- */

/* clean: bit f set when field f is known valid UTF-8 without a NUL (the
 * reader checked its whole record in one pass). */
static int im_check_row_text(importer *im, row_text *row, unsigned clean)
{
	for (int f = 0; f < F_COUNT; f++) {
		const char *raw = row->ptr[f];
		const char *nul;
		size_t bad;

		if (raw == NULL)
			continue;
		trim(&row->ptr[f], &row->len[f]);
		if (clean & (1u << f)) {
			if (row->len[f] == 0)
				row->ptr[f] = NULL;
			continue;
		}
		if (!se_utf8_valid(row->ptr[f], row->len[f], &bad)) {
			/* Counted in the value as written, leading spaces included. */
			im_reject(im, row->line, im_field_names[f], "invalid UTF-8 at byte %zu",
			       (size_t)(row->ptr[f] - raw) + bad + 1);
			im->stats->not_utf8++;
			return SE_EINPUT;
		}
		/* Names and keys go through C strings further on: a NUL would cut
		 * "An\0nie" to "An" without a word. */
		if ((nul = memchr(row->ptr[f], '\0', row->len[f])) != NULL) {
			im_reject(im, row->line, im_field_names[f], "NUL byte at byte %zu",
			       (size_t)(nul - raw) + 1);
			return SE_EINPUT;
		}
		if (row->len[f] == 0)
			row->ptr[f] = NULL;
	}
	for (int f = im->content_key ? F_DEAL_ID : F_EVENT_ID; f < N_REQUIRED; f++) {
		if (row->ptr[f] == NULL) {
			im_reject(im, row->line, im_field_names[f], "missing value");
			return SE_EINPUT;
		}
	}
	for (int f = F_EVENT_ID; f <= F_DEAL_ID; f++) {
		if (row->len[f] > MAX_KEY_BYTES) {
			im_reject(im, row->line, im_field_names[f], "longer than %d bytes", MAX_KEY_BYTES);
			return SE_EINPUT;
		}
	}
	return SE_OK;
}

static int im_parse_row_values(importer *im, const row_text *row, se_event_in *ev)
{
	char shown[64];
	const char *why = NULL;
	const char *ts = row->ptr[F_TS];
	size_t ts_len = row->len[F_TS];
	int rc = SE_OK;

	if (ts_len == im->last_ts_len && memcmp(ts, im->last_ts, ts_len) == 0) {
		ev->ts = im->last_ts_value;
	} else {
		rc = im->ts_layout != NULL
		         ? se_time_parse_layout(im->ts_layout, ts, ts_len, im->opts->zone, &ev->ts, &why)
		         : se_time_parse(ts, ts_len, im->opts->zone, &ev->ts, &why);
		if (rc == SE_OK && ts_len <= sizeof im->last_ts) {
			memcpy(im->last_ts, ts, ts_len);
			im->last_ts_len = ts_len;
			im->last_ts_value = ev->ts;
		}
	}
	if (rc != SE_OK) {
		im_quote_value(row->ptr[F_TS], row->len[F_TS], shown, sizeof shown);
		im_reject(im, row->line, im_field_names[F_TS], "cannot read time %s: %s", shown, why);
		return SE_EINPUT;
	}
	ev->amount = NAN;
	if (row->ptr[F_AMOUNT] != NULL &&
	    im_parse_amount(row->ptr[F_AMOUNT], row->len[F_AMOUNT], &ev->amount) != SE_OK) {
		im_quote_value(row->ptr[F_AMOUNT], row->len[F_AMOUNT], shown, sizeof shown);
		im_reject(im, row->line, im_field_names[F_AMOUNT], "not a number: %s", shown);
		return SE_EINPUT;
	}
	if (fabs(ev->amount) > SE_IMPORT_MAX_AMOUNT) {
		im_quote_value(row->ptr[F_AMOUNT], row->len[F_AMOUNT], shown, sizeof shown);
		im_reject(im, row->line, im_field_names[F_AMOUNT],
		       "%s is beyond the largest amount, 1000000000000000 (10^15) either way", shown);
		return SE_EINPUT;
	}
	return SE_OK;
}

static int intern_optional(importer *im, se_dict dict, const row_text *row, int f,
                           uint32_t *id, se_error *err)
{
	*id = 0;
	if (row->ptr[f] == NULL)
		return SE_OK;
	return se_store_intern(im->st, dict, row->ptr[f], row->len[f], id, err);
}

/* Checks and parses a row; a bad one is reported and counted here. */
int im_accept_row(importer *im, row_text *row, se_event_in *ev)
{
	return im_accept_row_clean(im, row, ev, 0);
}

int im_accept_row_clean(importer *im, row_text *row, se_event_in *ev, unsigned clean)
{
	im->stats->read++;
	if (im_check_row_text(im, row, clean) != SE_OK || im_parse_row_values(im, row, ev) != SE_OK)
		return SE_EINPUT;
	if (im->content_key) {
		if (!im->defer_key)
			se_content_key(row->ptr[F_DEAL_ID], row->len[F_DEAL_ID], ev->ts, row->ptr[F_STAGE],
			               row->len[F_STAGE], im->key);
		row->ptr[F_EVENT_ID] = im->key;
		row->len[F_EVENT_ID] = SE_CONTENT_KEY_LEN;
	}
	return SE_OK;
}

/* Hands an accepted row to the store (ev has ts and amount already; a
 * deal number from the reader in lent_deal, 0 if none). */
int im_write_row(importer *im, const row_text *row, se_event_in *ev, int64_t lent_deal,
                     int deal_is_new, se_error *err)
{
	int rc;

	if ((rc = im_ensure_batch(im, err)) != SE_OK)
		goto no_outcome;
	ev->key = row->ptr[F_EVENT_ID];
	ev->key_len = row->len[F_EVENT_ID];
	if ((rc = se_store_use_lent_deal(im->st, row->ptr[F_DEAL_ID], row->len[F_DEAL_ID], lent_deal,
	                                 deal_is_new, &ev->deal, err)) != SE_OK ||
	    (rc = se_store_intern(im->st, SE_DICT_STATUS, row->ptr[F_STAGE], row->len[F_STAGE], &ev->status, err)) != SE_OK ||
	    (rc = intern_optional(im, SE_DICT_STATUS, row, F_FROM_STAGE, &ev->from_status, err)) != SE_OK ||
	    (rc = intern_optional(im, SE_DICT_MANAGER, row, F_MANAGER, &ev->manager, err)) != SE_OK ||
	    (rc = intern_optional(im, SE_DICT_SOURCE, row, F_SOURCE, &ev->source, err)) != SE_OK ||
	    (rc = intern_optional(im, SE_DICT_PIPELINE, row, F_PIPELINE, &ev->pipeline, err)) != SE_OK ||
	    (rc = intern_optional(im, SE_DICT_CURRENCY, row, F_CURRENCY, &ev->currency, err)) != SE_OK ||
	    (rc = se_store_add_event(im->st, ev, err)) != SE_OK)
		goto no_outcome;
	return im_batch_row_done(im, err);
no_outcome:
	/* The store failed under this row: it was neither stored nor
	 * rejected, so it leaves the count and the summary still adds up. */
	im->lost++;
	return rc;
}

int im_store_row(importer *im, row_text *row, se_error *err)
{
	se_event_in ev;

	if (im_accept_row(im, row, &ev) != SE_OK)
		return SE_OK;
	return im_write_row(im, row, &ev, 0, 0, err);
}
