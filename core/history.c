/*
 * history.c: packing one chunk of deal histories.
 *
 * The builder collects the chunk's event rows (a few thousand deals, so a
 * few tens of thousands of rows), sorts them into the documented order
 * (deal, ts, event_id byte-wise) and writes the packed layout of history.h.
 * Event ids are only needed to break timestamp ties, so they live in a
 * scratch arena that is reused chunk after chunk and never stored.
 */
#include "history.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct held_row {
	se_history_row row;
	size_t key_off; /* offset of the key in the arena; row.key is set at sort time */
} held_row;

struct se_history_builder {
	held_row *rows;
	size_t n_rows, cap_rows;
	char *arena;
	size_t arena_len, arena_cap;
	unsigned char *blob;
	size_t blob_cap;
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
	free(b);
}

void se_history_builder_reset(se_history_builder *b)
{
	b->n_rows = 0;
	b->arena_len = 0;
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

int se_history_builder_add(se_history_builder *b, const se_history_row *row, se_error *err)
{
	held_row *h;

	if (grow((void **)&b->rows, &b->cap_rows, b->n_rows + 1, sizeof *b->rows) != SE_OK ||
	    grow((void **)&b->arena, &b->arena_cap, b->arena_len + row->key_len + 1, 1) != SE_OK)
		return se_error_set(err, SE_ENOMEM, "out of memory packing deal histories");
	h = &b->rows[b->n_rows++];
	h->row = *row;
	h->key_off = b->arena_len;
	memcpy(b->arena + b->arena_len, row->key, row->key_len);
	b->arena[b->arena_len + row->key_len] = '\0';
	b->arena_len += row->key_len + 1;
	return SE_OK;
}

/* Byte-wise comparison of event ids, a shorter prefix first: the order
 * docs/METRICS.md promises for timestamp ties. */
static int compare_keys(const se_history_row *a, const se_history_row *b)
{
	size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
	int c = memcmp(a->key, b->key, n);

	if (c != 0)
		return c;
	return (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

static int compare_rows(const void *pa, const void *pb)
{
	const se_history_row *a = &((const held_row *)pa)->row;
	const se_history_row *b = &((const held_row *)pb)->row;

	if (a->deal != b->deal)
		return a->deal < b->deal ? -1 : 1;
	if (a->ts != b->ts)
		return a->ts < b->ts ? -1 : 1;
	return compare_keys(a, b);
}

static size_t count_deals(const held_row *rows, size_t n)
{
	size_t deals = 0;

	for (size_t i = 0; i < n; i++)
		if (i == 0 || rows[i].row.deal != rows[i - 1].row.deal)
			deals++;
	return deals;
}

/* Resolves one deal's attributes from its sorted rows [first, end). */
static void pack_deal(const held_row *rows, size_t first, size_t end,
                      se_chunk_deal *d, se_chunk_event *ev)
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
	}
}

int se_history_builder_pack(se_history_builder *b, const void **blob, size_t *size, se_error *err)
{
	size_t n_deals, bytes;
	se_chunk_header *hdr;
	se_chunk_deal *deals;
	se_chunk_event *events;
	size_t first = 0, d = 0;

	for (size_t i = 0; i < b->n_rows; i++)
		b->rows[i].row.key = b->arena + b->rows[i].key_off;
	if (b->n_rows > 1) /* qsort(NULL, 0, ...) is undefined */
		qsort(b->rows, b->n_rows, sizeof *b->rows, compare_rows);
	n_deals = count_deals(b->rows, b->n_rows);
	bytes = sizeof *hdr + n_deals * sizeof *deals + b->n_rows * sizeof *events;
	if (grow((void **)&b->blob, &b->blob_cap, bytes, 1) != SE_OK)
		return se_error_set(err, SE_ENOMEM, "out of memory packing deal histories");
	hdr = (se_chunk_header *)b->blob;
	deals = (se_chunk_deal *)(hdr + 1);
	events = (se_chunk_event *)(deals + n_deals);
	hdr->magic = SE_HISTORY_MAGIC;
	hdr->n_deals = (uint32_t)n_deals;
	hdr->n_events = (uint32_t)b->n_rows;
	hdr->reserved = 0;
	for (size_t i = 1; i <= b->n_rows; i++) {
		if (i < b->n_rows && b->rows[i].row.deal == b->rows[first].row.deal)
			continue;
		pack_deal(b->rows, first, i, &deals[d++], events + first);
		first = i;
	}
	*blob = b->blob;
	*size = bytes;
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
