/*
 * import.c: readers -> event store.
 *
 * Owns: mapping a file's columns (CSV header, by canonical name or as the
 * script's columns{} says: colmap.h) or keys (JSON Lines) onto the
 * canonical event fields, the identity of events in a file without
 * event_id (their content), checking each row (required fields, UTF-8,
 * timestamp, amount), and feeding good rows to the store in batched
 * transactions.  A bad row is reported as "file:line: column: reason" and
 * counted; it never stops the rows after it.
 *
 * Never: calls Lua (the canonical import is per-row C all the way), or holds
 * more than a few slabs of rows (see the reader thread below) and one
 * batch's worth of state, so memory stays flat whatever the file size.
 */
#include "encoding.h"
#include "import_int.h"
#include "utf8.h"
#include "vec.h"

#include <errno.h>
#include <pthread.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* hold_last past this many rows is ignored: a held refresh is one
 * transaction, and the refresh's own window (store/cache.c) is 1M rows. */
#define HOLD_MAX_ROWS 1000000

/* Before the import's last commit: with hold_last, that commit, the
 * refresh and what the caller writes next are one (se_store_release). */
static void hold_if_asked(importer *im)
{
	if (im->opts->hold_last && im->stats->read <= HOLD_MAX_ROWS)
		se_store_hold(im->st);
}

/* ---- CSV ------------------------------------------------------------------ */

/* The reader reuses its field memory for every record; the header's names
 * are needed later for messages, so they get a copy of their own. */
int se_csv_copy_header(const se_csv_record *src, se_csv_record *dst,
                       se_csv_field **fields, char **text)
{
	size_t bytes = 0, off = 0;

	for (size_t i = 0; i < src->nfields; i++)
		bytes += src->fields[i].len + 1;
	*fields = calloc(src->nfields ? src->nfields : 1, sizeof **fields);
	*text = malloc(bytes ? bytes : 1);
	if (*fields == NULL || *text == NULL)
		return SE_ENOMEM;
	for (size_t i = 0; i < src->nfields; i++) {
		(*fields)[i] = src->fields[i];
		memcpy(*text + off, src->fields[i].ptr, src->fields[i].len);
		(*text)[off + src->fields[i].len] = '\0';
		(*fields)[i].ptr = *text + off;
		off += src->fields[i].len + 1;
	}
	*dst = *src;
	dst->fields = *fields;
	return SE_OK;
}

typedef struct csv_columns {
	int field_of[256];   /* file column -> canonical field, -1 = ignored */
	/* ... and back: canonical field -> its file column (the last one
	 * mapped to it), -1 = none.  A record's row is filled field by field
	 * from it, with no clearing first. */
	int column_of[F_COUNT];
	size_t ncols;
	/* columns{} values for every row (fixed[f] NULL: none) */
	const char *fixed[F_COUNT];
	size_t fixed_len[F_COUNT];
	int n_fixed;
} csv_columns;

/* A header that is not UTF-8 cannot name a column columns{} or the
 * canonical import knows: say why, with the likely fix. */
static int header_not_utf8(importer *im, const se_csv_record *hdr, se_error *err)
{
	for (size_t i = 0; i < hdr->nfields; i++) {
		size_t bad;

		if (!se_utf8_valid(hdr->fields[i].ptr, hdr->fields[i].len, &bad))
			return se_error_set(err, SE_EINPUT,
			                    "%s:%ld: header is not valid UTF-8 (column %zu, byte %zu)%s", im->name,
			                    hdr->line, i + 1, bad + 1,
			                    se_encoding_is_utf8(im->opts->encoding)
			                        ? "; if it is a Windows export, try --encoding cp1251" : "");
	}
	return SE_OK;
}

/* columns{}: the declared columns first, then canonical names for the
 * fields the declaration leaves alone; fixed values noted for every row. */
static int map_declared(importer *im, const se_csv_record *hdr, csv_columns *cols, int *seen,
                        se_error *err)
{
	const se_colmap *map = im->opts->columns;
	int rc;

	if ((rc = header_not_utf8(im, hdr, err)) != SE_OK)
		return rc;
	if ((rc = se_colmap_bind(map, hdr->fields, hdr->nfields, cols->field_of, im_field_names, err)) != SE_OK) {
		se_error_prefix(err, "%s:%ld", im->name, hdr->line);
		return rc;
	}
	for (int f = 0; f < F_COUNT; f++) {
		if ((cols->fixed[f] = se_colmap_value(map, f, &cols->fixed_len[f])) != NULL) {
			cols->n_fixed++;
			seen[f] = 1;
		}
	}
	for (size_t i = 0; i < hdr->nfields; i++) {
		int f = cols->field_of[i];

		if (f >= 0) {
			seen[f] = 1;
		} else if ((f = im_field_by_name(hdr->fields[i].ptr, hdr->fields[i].len)) >= 0 &&
		           !se_colmap_claims(map, f)) {
			if (seen[f]++)
				return se_error_set(err, SE_EINPUT, "%s:%ld: column '%s' appears twice in the header",
				                    im->name, hdr->line, im_field_names[f]);
			cols->field_of[i] = f;
		}
	}
	im->ts_layout = se_colmap_ts_layout(map);
	return SE_OK;
}

static int map_header(importer *im, const se_csv_record *hdr, csv_columns *cols, se_error *err)
{
	int seen[F_COUNT] = { 0 };
	int rc;

	if (hdr->nfields > sizeof cols->field_of / sizeof cols->field_of[0])
		return se_error_set(err, SE_EINPUT, "%s:%ld: header has %zu columns, at most 256 are supported",
		                    im->name, hdr->line, hdr->nfields);
	cols->ncols = hdr->nfields;
	if (im->opts->columns != NULL) {
		if ((rc = map_declared(im, hdr, cols, seen, err)) != SE_OK)
			return rc;
	} else {
		for (size_t i = 0; i < hdr->nfields; i++) {
			int f = im_field_by_name(hdr->fields[i].ptr, hdr->fields[i].len);

			cols->field_of[i] = f;
			if (f < 0)
				continue;
			if (seen[f]++)
				return se_error_set(err, SE_EINPUT, "%s:%ld: column '%s' appears twice in the header",
				                    im->name, hdr->line, im_field_names[f]);
		}
	}
	for (int f = F_DEAL_ID; f < N_REQUIRED; f++) {
		if (seen[f])
			continue;
		if ((rc = header_not_utf8(im, hdr, err)) != SE_OK)
			return rc;
		return se_error_set(err, SE_EINPUT,
		                    "%s:%ld: header lacks required column '%s' (need deal_id, ts, stage%s)",
		                    im->name, hdr->line, im_field_names[f],
		                    im->opts->columns != NULL ? ", or columns{} naming them" : "");
	}
	for (int f = 0; f < F_COUNT; f++)
		cols->column_of[f] = -1;
	for (size_t i = 0; i < hdr->nfields; i++)
		if (cols->field_of[i] >= 0)
			cols->column_of[cols->field_of[i]] = (int)i;
	/* No event ids: each event is known by its content (docs/SCHEMA.md). */
	im->content_key = !seen[F_EVENT_ID];
	return SE_OK;
}

static const char *csv_column_label(const csv_columns *cols, const se_csv_record *hdr,
                                    size_t i, char *buf, size_t size)
{
	if (i < cols->ncols && cols->field_of[i] >= 0)
		return im_field_names[cols->field_of[i]];
	if (i < hdr->nfields) {
		snprintf(buf, size, "%s", hdr->fields[i].ptr);
		return buf;
	}
	snprintf(buf, size, "column %zu", i + 1);
	return buf;
}

/* ---- reading and writing in parallel -------------------------------------- */

/*
 * Checking rows (CSV splitting, UTF-8, times, amounts) and storing them
 * (interning, SQLite) take comparable time and share nothing but the rows,
 * so a reader thread does the first while this thread does the second.
 * Rows travel in slabs: copies of the accepted rows' fields, handed over
 * under one mutex per slab (thousands of rows), never per row.  Rejected
 * rows are reported by the reader and never travel.  The reader also looks
 * deal keys up and numbers new deals, in a map the store lends it for the
 * duration (se_store_lend_deals).  Only SQLite work stays on the calling
 * thread, so the store needs no locking.
 */
#define SLAB_ROWS 4096
#define N_SLABS 3

typedef struct slab_row {
	long line;
	int64_t ts;
	int64_t deal;              /* numbered by the reader (lent numbers), 0 = not */
	double amount;
	int deal_is_new;
	uint32_t off[F_COUNT];
	uint32_t len[F_COUNT];
	uint16_t present;          /* bit f: field f has a value */
} slab_row;

typedef struct slab {
	slab_row rows[SLAB_ROWS];
	size_t n;
	char *bytes;
	size_t used, cap;
	struct slab *next;
} slab;

typedef struct pipeline {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	slab *free_slabs, *full_head, *full_tail;
	int reader_done;           /* no more full slabs will come */
	int stop;                  /* the writer failed: reader, stop */
	int reader_rc;
	se_error reader_err;
	importer *im;
	se_csv *csv;
	const csv_columns *cols;
	const se_csv_record *hdr;
} pipeline;

/* Deal lookups are the store's costliest per-row work that needs no
 * SQLite: done here, on the reader's side, when the store lends them, for
 * a whole slab at once.  The map is large and each key a random place in
 * it, so the keys a few rows ahead are asked for early: the memory reads
 * overlap instead of waiting one after the other.  Numbers go to new deals
 * in row order, as one at a time would give them. */
#define DEAL_PREFETCH 12

static void number_deals(slab *sb, se_deal_numbers *deals)
{
	uint64_t hash[DEAL_PREFETCH];

	if (deals == NULL)
		return;
	/* hash[i % DEAL_PREFETCH]: row i's key, hashed when prefetched. */
	for (size_t i = 0; i < sb->n && i < DEAL_PREFETCH; i++)
		hash[i] = se_deal_numbers_prefetch(deals, sb->bytes + sb->rows[i].off[F_DEAL_ID],
		                                   sb->rows[i].len[F_DEAL_ID]);
	for (size_t i = 0; i < sb->n; i++) {
		slab_row *r = &sb->rows[i];
		uint64_t h = hash[i % DEAL_PREFETCH];

		if (i + DEAL_PREFETCH < sb->n)
			hash[i % DEAL_PREFETCH] =
				se_deal_numbers_prefetch(deals, sb->bytes + r[DEAL_PREFETCH].off[F_DEAL_ID],
				                         r[DEAL_PREFETCH].len[F_DEAL_ID]);
		if (se_deal_numbers_get(deals, sb->bytes + r->off[F_DEAL_ID], r->len[F_DEAL_ID], h, &r->deal,
		                        &r->deal_is_new) != SE_OK)
			r->deal = 0; /* out of memory: the store interns this one itself */
	}
}

/* Rows without an event_id: their keys, made for the whole slab at once
 * (two rows' hashes overlap) into the places their placeholders hold. */
#define KEY_CHUNK 256

static void make_content_keys(slab *sb)
{
	se_content_row k[KEY_CHUNK];

	for (size_t i = 0; i < sb->n; i += KEY_CHUNK) {
		size_t n = sb->n - i < KEY_CHUNK ? sb->n - i : KEY_CHUNK;

		for (size_t j = 0; j < n; j++) {
			const slab_row *r = &sb->rows[i + j];

			k[j].deal = sb->bytes + r->off[F_DEAL_ID];
			k[j].deal_len = r->len[F_DEAL_ID];
			k[j].ts = r->ts;
			k[j].stage = sb->bytes + r->off[F_STAGE];
			k[j].stage_len = r->len[F_STAGE];
			k[j].out = sb->bytes + r->off[F_EVENT_ID];
		}
		se_content_keys(k, n);
	}
}

/* A slab the reader has filled: what is done for all its rows at once. */
static void finish_slab(importer *im, slab *sb)
{
	if (im->defer_key)
		make_content_keys(sb);
	number_deals(sb, im->deals);
}

/* A row into the slab.  Fields within [block, block + block_len) (the
 * CSV record they came from) go in with the block, one copy; others (a
 * columns{} value) one by one.  A content key still to be made only gets
 * its room. */
static int slab_add(slab *sb, const row_text *row, const se_event_in *ev, const char *block,
                    size_t block_len, int key_later)
{
	size_t need = block_len, base;
	uintptr_t lo = (uintptr_t)block, hi = lo + block_len;
	slab_row *r = &sb->rows[sb->n];
	unsigned present = 0;

	for (int f = 0; f < F_COUNT; f++)
		if (row->ptr[f] != NULL)
			need += row->len[f];
	if (SE_VEC_RESERVE(sb->bytes, sb->cap, sb->used + need, 1 << 20) != SE_OK)
		return SE_ENOMEM;
	r->line = row->line;
	r->ts = ev->ts;
	r->amount = ev->amount;
	r->deal = 0;
	r->deal_is_new = 0;
	base = sb->used;
	if (block_len > 0)
		memcpy(sb->bytes + base, block, block_len);
	sb->used += block_len;
	for (int f = 0; f < F_COUNT; f++) {
		uintptr_t at = (uintptr_t)row->ptr[f];

		if (row->ptr[f] == NULL)
			continue;
		if (at >= lo && at + row->len[f] <= hi) {
			r->off[f] = (uint32_t)(base + (at - lo));
		} else {
			if (!(key_later && f == F_EVENT_ID))
				memcpy(sb->bytes + sb->used, row->ptr[f], row->len[f]);
			r->off[f] = (uint32_t)sb->used;
			sb->used += row->len[f];
		}
		r->len[f] = (uint32_t)row->len[f];
		present |= 1u << f;
	}
	r->present = (uint16_t)present; /* once: or-ing into the slab per field was a chain of stores */
	sb->n++;
	return SE_OK;
}

static void push_full(pipeline *pl, slab *sb)
{
	pthread_mutex_lock(&pl->mu);
	sb->next = NULL;
	if (pl->full_tail)
		pl->full_tail->next = sb;
	else
		pl->full_head = sb;
	pl->full_tail = sb;
	pthread_cond_broadcast(&pl->cv);
	pthread_mutex_unlock(&pl->mu);
}

/* A free slab, or NULL when the writer has asked to stop. */
static slab *take_free(pipeline *pl)
{
	slab *sb = NULL;

	pthread_mutex_lock(&pl->mu);
	while (!pl->stop && pl->free_slabs == NULL)
		pthread_cond_wait(&pl->cv, &pl->mu);
	if (!pl->stop) {
		sb = pl->free_slabs;
		pl->free_slabs = sb->next;
		sb->n = sb->used = 0;
	}
	pthread_mutex_unlock(&pl->mu);
	return sb;
}

static int record_is_clean(const se_csv_record *rec)
{
	const se_csv_field *first, *last;
	size_t nuls, bad;

	if (rec->nfields == 0)
		return 0;
	first = &rec->fields[0];
	last = &rec->fields[rec->nfields - 1];
	return se_utf8_valid_count_nul(first->ptr, (size_t)(last->ptr - first->ptr) + last->len, &bad, &nuls) &&
	       nuls == rec->nfields - 1;
}

/* One CSV record: a bad one is reported, a good one goes into the slab. */
static int read_one(pipeline *pl, const se_csv_record *rec, slab *sb)
{
	importer *im = pl->im;
	row_text row;
	se_event_in ev;
	unsigned clean = 0;
	const se_csv_field *last;
	size_t block_len, used_len = 0;

	if (rec->nfields != pl->cols->ncols) {
		im->stats->read++;
		im_reject(im, rec->line, "record", "%zu fields, the header has %zu", rec->nfields, pl->cols->ncols);
		return SE_OK;
	}
	row.line = rec->line;
	/* The whole record at once (csv.h: its fields are one block, one NUL
	 * after each): valid UTF-8 with no NUL but those, and no field needs
	 * the check again.  Else each field is checked alone, as it always
	 * was, and only the columns the import reads can reject the row. */
	if (record_is_clean(rec))
		clean = (1u << F_COUNT) - 1;
	/* Every field set, none cleared first: a memset of the row per record
	 * cost more than filling it. */
	for (int f = 0; f < F_COUNT; f++) {
		int c = pl->cols->column_of[f];

		row.ptr[f] = c >= 0 ? rec->fields[c].ptr : NULL;
		row.len[f] = c >= 0 ? rec->fields[c].len : 0;
	}
	for (int f = 0; pl->cols->n_fixed > 0 && f < F_COUNT; f++) {
		if (pl->cols->fixed[f] != NULL) {
			row.ptr[f] = pl->cols->fixed[f];
			row.len[f] = pl->cols->fixed_len[f];
			clean &= ~(1u << f);
		}
	}
	if (im_accept_row_clean(im, &row, &ev, clean) != SE_OK)
		return SE_OK;
	/* The record in one copy, unless columns the import ignores make up
	 * most of it (wide exports with long notes would fill the slabs). */
	last = &rec->fields[rec->nfields - 1];
	block_len = (size_t)(last->ptr - rec->fields[0].ptr) + last->len;
	for (int f = 0; f < F_COUNT; f++)
		used_len += row.len[f];
	if (block_len > 2 * used_len + 64)
		block_len = 0;
	return slab_add(sb, &row, &ev, rec->fields[0].ptr, block_len, im->defer_key);
}

static void *reader_main(void *arg)
{
	pipeline *pl = arg;
	importer *im = pl->im;
	slab *sb = take_free(pl);
	se_csv_record rec;
	unsigned records = 0;
	int rc = SE_OK;

	while (sb != NULL) {
		char label[128];

		rc = se_csv_next(pl->csv, &rec, &pl->reader_err);
		if (rc == 0)
			break;
		if (rc == SE_EINPUT) {
			im->stats->read++;
			im_reject_at(im, rec.error_line, rec.error_col,
			          csv_column_label(pl->cols, pl->hdr, rec.error_field, label, sizeof label),
			       "%s", pl->reader_err.msg);
			se_error_clear(&pl->reader_err);
			rc = SE_OK;
			continue;
		}
		if (rc < 0)
			break;
		if ((rc = read_one(pl, &rec, sb)) != SE_OK) {
			se_error_set(&pl->reader_err, rc, "out of memory reading rows");
			break;
		}
		/* The clock is read every 256 records, not every one: a line
		 * goes out at most every quarter second anyway. */
		if ((++records & 255) == 0)
			im_progress(im, se_csv_offset(pl->csv), 0);
		if (sb->n == SLAB_ROWS) {
			finish_slab(im, sb);
			push_full(pl, sb);
			sb = take_free(pl);
		}
	}
	if (sb != NULL) {
		finish_slab(im, sb);
		push_full(pl, sb); /* the last, partial slab (or an empty one) */
	}
	pthread_mutex_lock(&pl->mu);
	pl->reader_rc = rc < 0 ? rc : SE_OK;
	pl->reader_done = 1;
	pthread_cond_broadcast(&pl->cv);
	pthread_mutex_unlock(&pl->mu);
	return NULL;
}

/* The next full slab, or NULL when the reader is done and all are taken. */
static slab *take_full(pipeline *pl)
{
	slab *sb = NULL;

	pthread_mutex_lock(&pl->mu);
	while (pl->full_head == NULL && !pl->reader_done)
		pthread_cond_wait(&pl->cv, &pl->mu);
	if (pl->full_head != NULL) {
		sb = pl->full_head;
		pl->full_head = sb->next;
		if (pl->full_head == NULL)
			pl->full_tail = NULL;
	}
	pthread_mutex_unlock(&pl->mu);
	return sb;
}

static void give_back(pipeline *pl, slab *sb, int stop)
{
	pthread_mutex_lock(&pl->mu);
	sb->next = pl->free_slabs;
	pl->free_slabs = sb;
	if (stop)
		pl->stop = 1;
	pthread_cond_broadcast(&pl->cv);
	pthread_mutex_unlock(&pl->mu);
}

static int write_slab(importer *im, slab *sb, se_error *err)
{
	for (size_t i = 0; i < sb->n; i++) {
		const slab_row *r = &sb->rows[i];
		row_text row;
		se_event_in ev;
		int rc;

		/* Every field and value set, none cleared first (as in read_one). */
		row.line = r->line;
		for (int f = 0; f < F_COUNT; f++) {
			int has = (r->present >> f) & 1;

			row.ptr[f] = has ? sb->bytes + r->off[f] : NULL;
			row.len[f] = has ? r->len[f] : 0;
		}
		ev = (se_event_in){ .ts = r->ts, .amount = r->amount };
		if ((rc = im_write_row(im, &row, &ev, r->deal, r->deal_is_new, err)) != SE_OK)
			return rc;
	}
	return SE_OK;
}

static void free_slabs(slab *sb)
{
	while (sb != NULL) {
		slab *next = sb->next;

		free(sb->bytes);
		free(sb);
		sb = next;
	}
}

static int read_records(importer *im, se_csv *csv, const csv_columns *cols,
                        const se_csv_record *hdr, se_error *err)
{
	pipeline pl;
	pthread_t reader;
	slab *sb;
	int rc = SE_OK;

	memset(&pl, 0, sizeof pl);
	pl.im = im;
	pl.csv = csv;
	pl.cols = cols;
	pl.hdr = hdr;
	for (int i = 0; i < N_SLABS; i++) {
		slab *n = calloc(1, sizeof *n);

		if (n == NULL) {
			free_slabs(pl.free_slabs);
			return se_error_set(err, SE_ENOMEM, "out of memory");
		}
		n->next = pl.free_slabs;
		pl.free_slabs = n;
	}
	pthread_mutex_init(&pl.mu, NULL);
	pthread_cond_init(&pl.cv, NULL);
	if ((rc = se_store_lend_deals(im->st, &im->deals, err)) != SE_OK)
		goto out;
	im->defer_key = im->content_key;
	if (pthread_create(&reader, NULL, reader_main, &pl) != 0) {
		rc = se_error_set(err, SE_ERR, "cannot start the reader thread");
		goto out;
	}
	while ((sb = take_full(&pl)) != NULL) {
		if (rc == SE_OK)
			rc = write_slab(im, sb, err);
		give_back(&pl, sb, rc != SE_OK);
	}
	pthread_join(reader, NULL);
	if (rc == SE_OK && pl.reader_rc != SE_OK) {
		*err = pl.reader_err;
		rc = pl.reader_rc;
	}
	/* Before the last commit: queued deals then go in with their rows. */
	if (rc == SE_OK)
		hold_if_asked(im);
	if (rc == SE_OK && im->in_batch)
		rc = im_commit_batch(im, err);
out:
	im->defer_key = 0;
	se_store_return_deals(im->st, im->deals);
	im->deals = NULL;
	free_slabs(pl.free_slabs);
	free_slabs(pl.full_head);
	pthread_cond_destroy(&pl.cv);
	pthread_mutex_destroy(&pl.mu);
	return rc;
}

/* A read that failed on a byte the declared encoding does not have says
 * so, instead of the C library's words for EILSEQ. */
static int not_in_encoding(importer *im, long long bad_byte, int rc, se_error *err)
{
	if (rc == SE_OK || bad_byte < 0)
		return rc;
	return se_error_set(err, SE_EINPUT, "%s: byte %lld is not valid %s (is --encoding right?)",
	                    im->name, bad_byte + 1, im->opts->encoding);
}

static int import_csv(importer *im, const char *path, se_error *err)
{
	se_csv *csv = NULL;
	se_csv_record rec, hdr_copy;
	se_csv_field *hdr_fields = NULL;
	char *hdr_text = NULL;
	csv_columns cols = { .ncols = 0 };
	FILE *converted = NULL;
	long long bad_byte = -1;
	int rc;

	if (se_encoding_is_utf8(im->opts->encoding))
		rc = se_csv_open(&csv, path, im->opts->delimiter, err);
	else if ((rc = se_utf8_stream_open(path, im->opts->encoding, &converted, &bad_byte, err)) == SE_OK)
		rc = se_csv_open_stream(&csv, converted, im->name, im->opts->delimiter, err);
	if (rc != SE_OK) {
		if (converted != NULL)
			fclose(converted);
		return not_in_encoding(im, bad_byte, rc, err);
	}
	im->size = se_csv_size(csv);
	/* A CSV event row takes some 60 bytes or more: an upper bound on the
	 * rows to come, for the store's deal lookups.  Unknown size (a pipe):
	 * assume a large import. */
	se_store_expect_rows(im->st, im->size > 0 ? im->size / 60 : INT64_MAX);
	rc = se_csv_next(csv, &rec, err);
	if (rc == 0) {
		rc = SE_OK; /* an empty file imports nothing */
		goto out;
	}
	if (rc < 0) {
		if (rc == SE_EINPUT)
			se_error_prefix(err, "%s:%ld: header", im->name, rec.error_line);
		goto out;
	}
	if ((rc = map_header(im, &rec, &cols, err)) != SE_OK)
		goto out;
	/* Keep the header's names for messages about ignored columns. */
	if ((rc = se_csv_copy_header(&rec, &hdr_copy, &hdr_fields, &hdr_text)) != SE_OK) {
		rc = se_error_set(err, SE_ENOMEM, "out of memory");
		goto out;
	}
	se_csv_expect_fields(csv, cols.ncols);
	rc = read_records(im, csv, &cols, &hdr_copy, err);
	if (rc != SE_OK)
		goto out;
	rc = SE_OK;
out:
	free(hdr_fields);
	free(hdr_text);
	se_csv_close(csv);
	if (converted != NULL && fclose(converted) != 0 && rc == SE_OK)
		rc = se_error_set(err, SE_EIO, "reading %s: %s", im->name, strerror(errno));
	return not_in_encoding(im, bad_byte, rc, err);
}

/* ---- JSON Lines ----------------------------------------------------------- */

typedef struct json_row {
	importer *im;
	row_text row;
	size_t off[F_COUNT];  /* values are copied: SQLite's text dies at the next step */
	char *buf;
	size_t used, cap;
	long line;
	int bad;
	int nomem;
} json_row;

static int keep_json_value(json_row *jr, int f, const char *text, size_t len)
{
	if (SE_VEC_RESERVE(jr->buf, jr->cap, jr->used + len + 1, 1024) != SE_OK)
		return SE_ENOMEM;
	memcpy(jr->buf + jr->used, text, len);
	jr->buf[jr->used + len] = '\0';
	jr->off[f] = jr->used;
	jr->row.len[f] = len;
	jr->row.ptr[f] = "";  /* marks the field present; pointed at buf later */
	jr->used += len + 1;
	return SE_OK;
}

static int on_json_member(void *ud, const char *key, size_t key_len, int type,
                          const char *text, size_t len)
{
	json_row *jr = ud;
	int f = im_field_by_name(key, key_len);

	if (f < 0 || jr->bad)
		return SE_OK;
	if (type == SE_JSON_NULL)
		return SE_OK;
	if (type != SE_JSON_STRING && type != SE_JSON_NUMBER) {
		im_reject(jr->im, jr->line, im_field_names[f], "expected a string or a number");
		jr->bad = 1;
		return SE_OK;
	}
	/* SQLite gives back a JSON number as it holds it: 1736937000.0 for a
	 * real with no fraction.  Unix seconds are whole: drop the ".0". */
	if (type == SE_JSON_NUMBER && f == F_TS && len > 2 && memcmp(text + len - 2, ".0", 2) == 0)
		len -= 2;
	return keep_json_value(jr, f, text, len);
}

/* The 1-based byte of the first NUL in a JSON line, raw or as the escape
 * \u0000 (SQLite's JSON functions end a string there), or 0.  An escape is
 * one when an odd number of backslashes leads to it. */
static size_t json_nul_at(const char *p, size_t len)
{
	const char *nul = memchr(p, '\0', len);
	size_t limit = nul != NULL ? (size_t)(nul - p) : len;

	for (size_t i = 0; i + 6 <= limit; i++) {
		size_t slashes = 0;

		if (p[i] != '\\' || memcmp(p + i + 1, "u0000", 5) != 0)
			continue;
		while (slashes < i && p[i - 1 - slashes] == '\\')
			slashes++;
		if (slashes % 2 == 0)
			return i + 1;
	}
	return nul != NULL ? limit + 1 : 0;
}

static int import_jsonl(importer *im, const char *path, se_error *err)
{
	FILE *fp = NULL;
	long long bad_byte = -1;
	char *line = NULL;
	char *values = NULL;
	size_t cap = 0, values_cap = 0;
	ssize_t n;
	long lineno = 0;
	int rc = SE_OK;

	if (!se_encoding_is_utf8(im->opts->encoding)) {
		if ((rc = se_utf8_stream_open(path, im->opts->encoding, &fp, &bad_byte, err)) != SE_OK)
			return rc;
	} else if ((fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb")) == NULL) {
		return se_error_set(err, SE_EIO, "cannot open %s: %s", path, strerror(errno));
	}
	while ((n = getline(&line, &cap, fp)) >= 0) {
		json_row jr;
		const char *why = NULL;
		size_t len = (size_t)n;
		size_t nul_at;
		const char *p = line;

		lineno++;
		if (lineno == 1 && len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
			p += 3;
			len -= 3;
		}
		im_trim(&p, &len);
		if (len > 0 && p[len - 1] == '\n')
			len--;
		im_trim(&p, &len);
		if (len == 0)
			continue;
		if ((nul_at = json_nul_at(p, len)) > 0) {
			im->stats->read++;
			im_reject_at(im, lineno, (long)(p - line) + (long)nul_at, "record",
			          "NUL character in JSON text");
			continue;
		}
		memset(&jr, 0, sizeof jr);
		jr.im = im;
		jr.line = jr.row.line = lineno;
		jr.buf = values;
		jr.cap = values_cap;
		rc = se_store_json_object(im->st, p, len, on_json_member, &jr, &why, err);
		values = jr.buf;
		values_cap = jr.cap;
		if (rc == SE_ENOMEM)
			break;
		for (int f = 0; f < F_COUNT; f++)
			if (jr.row.ptr[f] != NULL)
				jr.row.ptr[f] = jr.buf + jr.off[f];
		if (rc == SE_EINPUT) {
			im->stats->read++;
			im_reject(im, lineno, "record", "%s", why);
			rc = SE_OK;
			continue;
		}
		if (rc != SE_OK)
			break;
		if (jr.bad) {
			im->stats->read++;
			continue;
		}
		if ((rc = im_store_row(im, &jr.row, err)) != SE_OK)
			break;
		if (fp != stdin)
			im_progress(im, (long long)ftello(fp), 0);
	}
	if (rc == SE_OK && ferror(fp))
		rc = se_error_set(err, SE_EIO, "reading %s: %s", path, strerror(errno));
	free(line);
	free(values);
	if (fp != stdin)
		fclose(fp);
	return not_in_encoding(im, bad_byte, rc, err);
}

/* ---- entry point ------------------------------------------------------------- */

static se_input_format guess_format(const char *path)
{
	const char *dot = strrchr(path, '.');

	if (dot != NULL && (strcasecmp(dot, ".jsonl") == 0 || strcasecmp(dot, ".ndjson") == 0 ||
	                    strcasecmp(dot, ".json") == 0))
		return SE_INPUT_JSONL;
	return SE_INPUT_CSV;
}

/* The refresh after a held commit failed and took that commit's rows with
 * it: they were counted as imported (or duplicates), and are not stored.
 * They leave the counts, as an abandoned batch's do, so the summary still
 * adds up and says what is stored; the message says what became of them,
 * and a run on the same file stores them (its refresh folds in the rest). */
static void uncount_held(importer *im, se_error *err)
{
	int64_t lost = im->held_imported + im->held_duplicates;

	im->stats->imported -= im->held_imported;
	im->stats->duplicates -= im->held_duplicates;
	im->stats->read -= lost;
	im->held_imported = im->held_duplicates = 0;
	se_error_prefix(err, "the last %lld row%s rolled back, not imported (import the file again)",
	                (long long)lost, lost == 1 ? " was" : "s were");
}

/* Ends an import: the last commit (or, after a failure, the open batch
 * abandoned), counts that add up, and the history cache brought up to date.
 * hold_last: the last commit and the refresh stay open for the caller
 * (se_store_release), when they fit one refresh window. */
static int finish_import(importer *im, int rc, se_error *err)
{
	se_import_stats *stats = im->stats;

	im_progress(im, 0, 1);
	if (rc == SE_OK)
		hold_if_asked(im);
	if (rc == SE_OK && im->in_batch)
		rc = im_commit_batch(im, err);
	stats->read -= im->lost;
	im->lost = 0;
	if (rc != SE_OK) {
		if (im->in_batch)
			im_abandon_batch(im);
		/* Rows read ahead but never stored have no outcome either. */
		stats->read = stats->imported + stats->duplicates + stats->rejected;
		return rc;
	}
	rc = se_store_refresh(im->st, err);
	if (rc != SE_OK && im->held_imported + im->held_duplicates > 0 && !se_store_holding(im->st))
		uncount_held(im, err);
	if (rc == SE_OK && se_store_holding(im->st))
		stats->held = im->held_imported + im->held_duplicates;
	return rc;
}

static void importer_init(importer *im, se_store *st, const se_import_opts *opts,
                          se_import_stats *stats, const char *path)
{
	static const se_import_opts defaults;

	memset(stats, 0, sizeof *stats);
	memset(im, 0, sizeof *im);
	im->st = st;
	im->opts = opts ? opts : &defaults;
	im->stats = stats;
	im->name = path != NULL && strcmp(path, "-") == 0 ? "<stdin>" : path;
	im->unit = "";
	im->batch_rows = im->opts->batch_rows > 0 ? im->opts->batch_rows : DEFAULT_BATCH;
}

int se_import_file(se_store *st, const char *path, const se_import_opts *opts,
                   se_import_stats *stats, se_error *err)
{
	importer im;
	se_input_format fmt;
	int rc;

	importer_init(&im, st, opts, stats, path);
	fmt = im.opts->format != SE_INPUT_AUTO ? im.opts->format : guess_format(path);
	rc = fmt == SE_INPUT_JSONL ? import_jsonl(&im, path, err) : import_csv(&im, path, err);
	return finish_import(&im, rc, err);
}

/* ---- rows from adapters ------------------------------------------------------ */

int se_rows_open(importer **out, se_store *st, const se_import_opts *opts,
                 se_import_stats *stats, se_error *err)
{
	importer *im = malloc(sizeof *im);

	*out = NULL;
	if (im == NULL)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	importer_init(im, st, opts, stats, NULL);
	im->name = "";
	im->defer_commit = 1;
	*out = im;
	return SE_OK;
}

void se_rows_where(importer *im, const char *name, const char *unit)
{
	im->name = name;
	im->unit = unit;
}

int se_rows_field(const char *name, size_t len)
{
	return im_field_by_name(name, len);
}

const char *se_rows_field_name(int f)
{
	return f >= 0 && f < F_COUNT ? im_field_names[f] : "?";
}

int se_rows_put(importer *im, row_text *row, int *accepted, se_error *err)
{
	se_event_in ev;

	*accepted = 0;
	if (im_accept_row(im, row, &ev) != SE_OK)
		return SE_OK;
	*accepted = 1;
	return im_write_row(im, row, &ev, 0, 0, err);
}

int se_rows_begin(importer *im, se_error *err)
{
	return im_ensure_batch(im, err);
}

int se_rows_record_done(importer *im, se_error *err)
{
	if (im->in_batch && im->rows_in_batch >= im->batch_rows)
		return im_commit_batch(im, err);
	return SE_OK;
}

int se_rows_commit(importer *im, se_error *err)
{
	if (im->in_batch)
		return im_commit_batch(im, err);
	return SE_OK;
}

int se_rows_close(importer *im, int rc, se_error *err)
{
	if (im == NULL)
		return rc;
	rc = finish_import(im, rc, err);
	free(im);
	return rc;
}
