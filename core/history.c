/*
 * history.c: packing one chunk of deal histories.
 *
 * The builder collects the chunk's event rows (a few thousand deals, so a
 * few tens of thousands of rows: old ones unpacked from the chunk's blobs,
 * new ones from the store), sorts them into the documented order (deal, ts,
 * event_id byte-wise) and writes the packed layout of history.h.  Event ids
 * only matter for timestamp ties, so they are fetched for tied events only
 * and live in a scratch arena, never in the blobs.
 */
#include "history.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NO_KEY ((size_t)-1)

typedef struct held_row {
	se_history_row row;
	size_t key_off;    /* offset of the key in the arena, NO_KEY: not known yet */
} held_row;

struct se_history_builder {
	held_row *rows;
	size_t n_rows, cap_rows;
	char *arena;
	size_t arena_len, arena_cap;
	unsigned char *blob, *detail;
	size_t blob_cap, detail_cap, detail_size;
	se_key_fetch_fn key_fetch;
	void *key_fetch_ud;
};

int se_history_builder_new(se_history_builder **out, se_error *err)
{
	se_history_builder *b = calloc(1, sizeof *b);

	if (b == NULL)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	*out = b;
	return SE_OK;
}

void se_history_builder_free(se_history_builder *b)
{
	if (b == NULL)
		return;
	free(b->rows);
	free(b->arena);
	free(b->blob);
	free(b->detail);
	free(b);
}

void se_history_builder_reset(se_history_builder *b)
{
	b->n_rows = 0;
	b->arena_len = 0;
}

void se_history_builder_key_fetch(se_history_builder *b, se_key_fetch_fn fn, void *ud)
{
	b->key_fetch = fn;
	b->key_fetch_ud = ud;
}

static int grow(void **ptr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap : 1024;
	void *p;

	if (need <= *cap)
		return SE_OK;
	while (ncap < need)
		ncap *= 2;
	p = realloc(*ptr, ncap * elem);
	if (p == NULL)
		return SE_ENOMEM;
	*ptr = p;
	*cap = ncap;
	return SE_OK;
}

static int keep_key(se_history_builder *b, const char *key, size_t len, size_t *off)
{
	if (grow((void **)&b->arena, &b->arena_cap, b->arena_len + len + 1, 1) != SE_OK)
		return SE_ENOMEM;
	*off = b->arena_len;
	memcpy(b->arena + b->arena_len, key, len);
	b->arena[b->arena_len + len] = '\0';
	b->arena_len += len + 1;
	return SE_OK;
}

int se_history_builder_add(se_history_builder *b, const se_history_row *row, se_error *err)
{
	held_row *h;

	if (grow((void **)&b->rows, &b->cap_rows, b->n_rows + 1, sizeof *b->rows) != SE_OK)
		return se_error_set(err, SE_ENOMEM, "out of memory packing deal histories");
	h = &b->rows[b->n_rows];
	h->row = *row;
	h->row.key = NULL;
	h->key_off = NO_KEY;
	if (row->key != NULL && keep_key(b, row->key, row->key_len, &h->key_off) != SE_OK)
		return se_error_set(err, SE_ENOMEM, "out of memory packing deal histories");
	b->n_rows++;
	return SE_OK;
}

/* ---- ordering --------------------------------------------------------- */

/* First by deal and time; equal times keep the store's row order for now,
 * and only those runs are then ordered by event_id (see order_ties). */
static int compare_deal_ts(const void *pa, const void *pb)
{
	const se_history_row *a = &((const held_row *)pa)->row;
	const se_history_row *b = &((const held_row *)pb)->row;

	if (a->deal != b->deal)
		return a->deal < b->deal ? -1 : 1;
	if (a->ts != b->ts)
		return a->ts < b->ts ? -1 : 1;
	return (a->rowid > b->rowid) - (a->rowid < b->rowid);
}

/* Byte-wise comparison of event ids, a shorter prefix first: the order
 * docs/METRICS.md promises for timestamp ties. */
static int compare_keys(const void *pa, const void *pb, void *ud)
{
	const se_history_builder *b = ud;
	const held_row *x = pa, *y = pb;
	const char *kx = b->arena + x->key_off, *ky = b->arena + y->key_off;
	size_t lx = x->row.key_len, ly = y->row.key_len;
	size_t n = lx < ly ? lx : ly;
	int c = memcmp(kx, ky, n);

	if (c != 0)
		return c;
	return (lx > ly) - (lx < ly);
}

static int fetch_key(se_history_builder *b, held_row *h, se_error *err)
{
	const char *key = NULL;
	size_t len = 0;
	int rc;

	if (h->key_off != NO_KEY)
		return SE_OK;
	if (b->key_fetch == NULL)
		return se_error_set(err, SE_EDB, "event id needed to order a tie, and none known");
	if ((rc = b->key_fetch(b->key_fetch_ud, h->row.rowid, &key, &len, err)) != SE_OK)
		return rc;
	if (keep_key(b, key, len, &h->key_off) != SE_OK)
		return se_error_set(err, SE_ENOMEM, "out of memory packing deal histories");
	h->row.key_len = len;
	return SE_OK;
}

/* Runs of events of one deal at the same second are put in event_id order,
 * fetching the ids they lack first.  Ties are rare, so this costs little. */
static int order_ties(se_history_builder *b, se_error *err)
{
	size_t i = 0;

	while (i < b->n_rows) {
		size_t j = i + 1;
		int rc;

		while (j < b->n_rows && b->rows[j].row.deal == b->rows[i].row.deal &&
		       b->rows[j].row.ts == b->rows[i].row.ts)
			j++;
		if (j - i > 1) {
			for (size_t k = i; k < j; k++)
				if ((rc = fetch_key(b, &b->rows[k], err)) != SE_OK)
					return rc;
			qsort_r(b->rows + i, j - i, sizeof *b->rows, compare_keys, b);
		}
		i = j;
	}
	return SE_OK;
}

/* ---- packing ---------------------------------------------------------- */

static size_t count_deals(const held_row *rows, size_t n)
{
	size_t deals = 0;

	for (size_t i = 0; i < n; i++)
		if (i == 0 || rows[i].row.deal != rows[i - 1].row.deal)
			deals++;
	return deals;
}

/* Resolves one deal's attributes from its sorted rows [first, end). */
static void pack_deal(const held_row *rows, size_t first, size_t end, se_chunk_deal *d,
                      se_chunk_event *ev, se_detail_event *det)
{
	d->deal = (uint32_t)rows[first].row.deal;
	d->n_events = (uint32_t)(end - first);
	d->manager = 0;
	d->source = 0;
	d->amount = NAN;
	for (size_t i = first; i < end; i++) {
		const se_history_row *r = &rows[i].row;

		if (r->manager != 0)
			d->manager = r->manager;
		if (d->source == 0)
			d->source = r->source;
		if (!isnan(r->amount))
			d->amount = r->amount;
		ev[i - first].ts = r->ts;
		ev[i - first].status = r->status;
		ev[i - first].pipeline = r->pipeline;
		det[i - first].rowid = r->rowid;
		det[i - first].manager = r->manager;
		det[i - first].source = r->source;
		det[i - first].amount = r->amount;
	}
}

int se_history_builder_pack(se_history_builder *b, const void **blob, size_t *size, se_error *err)
{
	size_t n_deals, bytes, detail_bytes;
	se_chunk_header *hdr;
	se_chunk_deal *deals;
	se_chunk_event *events;
	se_detail_header *dhdr;
	se_detail_event *det;
	size_t first = 0, d = 0;
	int rc;

	if (b->n_rows > 1) /* qsort(NULL, 0, ...) is undefined */
		qsort(b->rows, b->n_rows, sizeof *b->rows, compare_deal_ts);
	if ((rc = order_ties(b, err)) != SE_OK)
		return rc;
	n_deals = count_deals(b->rows, b->n_rows);
	bytes = sizeof *hdr + n_deals * sizeof *deals + b->n_rows * sizeof *events;
	detail_bytes = sizeof *dhdr + b->n_rows * sizeof *det;
	if (grow((void **)&b->blob, &b->blob_cap, bytes, 1) != SE_OK ||
	    grow((void **)&b->detail, &b->detail_cap, detail_bytes, 1) != SE_OK)
		return se_error_set(err, SE_ENOMEM, "out of memory packing deal histories");
	hdr = (se_chunk_header *)b->blob;
	deals = (se_chunk_deal *)(hdr + 1);
	events = (se_chunk_event *)(deals + n_deals);
	hdr->magic = SE_HISTORY_MAGIC;
	hdr->n_deals = (uint32_t)n_deals;
	hdr->n_events = (uint32_t)b->n_rows;
	hdr->reserved = 0;
	dhdr = (se_detail_header *)b->detail;
	det = (se_detail_event *)(dhdr + 1);
	dhdr->magic = SE_DETAIL_MAGIC;
	dhdr->n_events = (uint32_t)b->n_rows;
	for (size_t i = 1; i <= b->n_rows; i++) {
		if (i < b->n_rows && b->rows[i].row.deal == b->rows[first].row.deal)
			continue;
		pack_deal(b->rows, first, i, &deals[d++], events + first, det + first);
		first = i;
	}
	b->detail_size = detail_bytes;
	*blob = b->blob;
	*size = bytes;
	return SE_OK;
}

void se_history_builder_detail(const se_history_builder *b, const void **blob, size_t *size)
{
	*blob = b->detail;
	*size = b->detail_size;
}

int se_history_builder_add_packed(se_history_builder *b, const void *data, size_t data_size,
                                  const void *detail, size_t detail_size, se_error *err)
{
	const se_detail_header *dhdr = detail;
	const se_detail_event *det;
	se_chunk_view v;
	size_t e = 0;
	int rc;

	if ((rc = se_history_view(data, data_size, &v, err)) != SE_OK)
		return rc;
	if (detail_size < sizeof *dhdr || dhdr->magic != SE_DETAIL_MAGIC || dhdr->n_events != v.n_events ||
	    detail_size != sizeof *dhdr + (size_t)v.n_events * sizeof *det)
		return se_error_set(err, SE_EDB, "cache chunk is corrupt (detail)");
	det = (const se_detail_event *)(dhdr + 1);
	for (uint32_t i = 0; i < v.n_deals; i++) {
		for (uint32_t k = 0; k < v.deals[i].n_events; k++, e++) {
			se_history_row r = {
				.deal = v.deals[i].deal, .ts = v.events[e].ts, .rowid = det[e].rowid,
				.status = v.events[e].status, .pipeline = v.events[e].pipeline,
				.manager = det[e].manager, .source = det[e].source, .amount = det[e].amount,
			};

			if ((rc = se_history_builder_add(b, &r, err)) != SE_OK)
				return rc;
		}
	}
	return SE_OK;
}

int se_history_view(const void *blob, size_t size, se_chunk_view *view, se_error *err)
{
	const se_chunk_header *hdr = blob;
	size_t need;
	uint64_t total = 0;

	if (size < sizeof *hdr || hdr->magic != SE_HISTORY_MAGIC)
		return se_error_set(err, SE_EDB, "cache chunk is corrupt (bad header)");
	need = sizeof *hdr + (size_t)hdr->n_deals * sizeof(se_chunk_deal) +
	       (size_t)hdr->n_events * sizeof(se_chunk_event);
	if (need != size)
		return se_error_set(err, SE_EDB, "cache chunk is corrupt (size %zu, expected %zu)", size, need);
	view->deals = (const se_chunk_deal *)(hdr + 1);
	view->events = (const se_chunk_event *)(view->deals + hdr->n_deals);
	view->n_deals = hdr->n_deals;
	view->n_events = hdr->n_events;
	for (uint32_t i = 0; i < view->n_deals; i++)
		total += view->deals[i].n_events;
	if (total != view->n_events)
		return se_error_set(err, SE_EDB, "cache chunk is corrupt (event counts)");
	return SE_OK;
}
