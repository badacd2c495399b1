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
#include "vec.h"

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
	held_row *spare;         /* the sort's second array */
	size_t cap_spare;
	size_t *starts;          /* the sort's counts, by deal */
	size_t cap_starts;
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
	free(b->spare);
	free(b->starts);
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

/* The builder's buffers start at 1024 elements: a chunk is thousands of
 * deals. */
#define FIRST_CAP 1024

/* ---- variable-length numbers (the detail blobs and the kept rows) -------- */

static unsigned char *put_varint(unsigned char *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	*p++ = (unsigned char)v;
	return p;
}

static const unsigned char *get_varint(const unsigned char *p, uint64_t *v)
{
	uint64_t x = 0;
	unsigned shift = 0;

	while (*p & 0x80) {
		x |= (uint64_t)(*p++ & 0x7f) << shift;
		shift += 7;
	}
	*v = x | (uint64_t)*p++ << shift;
	return p;
}

/* Times within a chunk wander back and forth: zigzag keeps small steps
 * either way small. */
static uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static int keep_key(se_history_builder *b, const char *key, size_t len, size_t *off)
{
	if (SE_VEC_RESERVE(b->arena, b->arena_cap, b->arena_len + len + 1, FIRST_CAP) != SE_OK)
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

	if (SE_VEC_RESERVE(b->rows, b->cap_rows, b->n_rows + 1, FIRST_CAP) != SE_OK)
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

/* Sorts a run of rows of one deal: a deal has a handful of events, so
 * insertion sort; qsort for a long history. */
static void sort_deal(held_row *rows, size_t n)
{
	if (n > 24) {
		qsort(rows, n, sizeof *rows, compare_deal_ts);
		return;
	}
	for (size_t i = 1; i < n; i++) {
		held_row h = rows[i];
		size_t j = i;

		while (j > 0 && compare_deal_ts(&rows[j - 1], &h) > 0) {
			rows[j] = rows[j - 1];
			j--;
		}
		rows[j] = h;
	}
}

/* Orders the rows by compare_deal_ts.  A chunk's rows span a few thousand
 * deal numbers, so a counting sort on the deal (linear) and then a sort of
 * each deal's few rows costs a fraction of one qsort over them all.  Deals
 * spread wider than that (not one chunk) get the qsort. */
static int sort_rows(se_history_builder *b)
{
	size_t n = b->n_rows, range;
	int64_t lo, hi;
	held_row *t;
	size_t tcap;

	if (n < 2)
		return SE_OK;
	lo = hi = b->rows[0].row.deal;
	for (size_t i = 1; i < n; i++) {
		if (b->rows[i].row.deal < lo)
			lo = b->rows[i].row.deal;
		if (b->rows[i].row.deal > hi)
			hi = b->rows[i].row.deal;
	}
	if ((uint64_t)(hi - lo) >= 4 * (uint64_t)n + SE_CHUNK_DEALS) {
		qsort(b->rows, n, sizeof *b->rows, compare_deal_ts);
		return SE_OK;
	}
	range = (size_t)(hi - lo) + 1;
	if (SE_VEC_RESERVE(b->spare, b->cap_spare, n, FIRST_CAP) != SE_OK ||
	    SE_VEC_RESERVE(b->starts, b->cap_starts, range + 1, FIRST_CAP) != SE_OK)
		return SE_ENOMEM;
	memset(b->starts, 0, (range + 1) * sizeof *b->starts);
	for (size_t i = 0; i < n; i++)
		b->starts[b->rows[i].row.deal - lo + 1]++;
	for (size_t d = 0; d < range; d++)
		b->starts[d + 1] += b->starts[d];
	for (size_t i = 0; i < n; i++)
		b->spare[b->starts[b->rows[i].row.deal - lo]++] = b->rows[i];
	t = b->rows;
	b->rows = b->spare;
	b->spare = t;
	tcap = b->cap_rows;
	b->cap_rows = b->cap_spare;
	b->cap_spare = tcap;
	/* starts[d] is now the end of deal lo + d's rows. */
	for (size_t d = 0, first = 0; d < range; d++) {
		if (b->starts[d] - first > 1)
			sort_deal(b->rows + first, b->starts[d] - first);
		first = b->starts[d];
	}
	return SE_OK;
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
                      se_chunk_event *ev)
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

/* The detail blob (SED2): per event, in the data blob's order, the rowid
 * as a zigzag difference to the previous one, manager << 1 | has amount,
 * source, all as varints, then the amount's 8 bytes if it has one.  A
 * third of the fixed 24-byte layout (SED1, still read): the cache is
 * written once into the WAL and once more into the database. */
#define DETAIL_EVENT_MAX (10 + 6 + 5 + 8)

static size_t pack_detail(const held_row *rows, size_t n, unsigned char *out)
{
	se_detail_header *dhdr = (se_detail_header *)out;
	unsigned char *p = out + sizeof *dhdr;
	int64_t prev = 0;

	dhdr->magic = SE_DETAIL_MAGIC2;
	dhdr->n_events = (uint32_t)n;
	for (size_t i = 0; i < n; i++) {
		const se_history_row *r = &rows[i].row;
		int has_amount = !isnan(r->amount);

		p = put_varint(p, zigzag(r->rowid - prev));
		prev = r->rowid;
		p = put_varint(p, (uint64_t)r->manager << 1 | (uint64_t)has_amount);
		p = put_varint(p, r->source);
		if (has_amount) {
			memcpy(p, &r->amount, sizeof r->amount);
			p += sizeof r->amount;
		}
	}
	return (size_t)(p - out);
}

/* A row given twice (the same event row: its rowid; 0 is no rowid) is
 * kept once.  A refresh killed between two commits of its merge leaves
 * chunks holding rows above the cache's mark; the next refresh merges
 * those rows again, and this makes that a no-op.  Sorted, the copies are
 * neighbours. */
static void drop_repeats(se_history_builder *b)
{
	size_t out = 1;

	for (size_t i = 1; i < b->n_rows; i++) {
		const se_history_row *r = &b->rows[i].row, *kept = &b->rows[out - 1].row;

		if (r->rowid != 0 && r->rowid == kept->rowid && r->deal == kept->deal && r->ts == kept->ts)
			continue;
		if (out != i)
			b->rows[out] = b->rows[i];
		out++;
	}
	if (b->n_rows > 0)
		b->n_rows = out;
}

int se_history_builder_pack(se_history_builder *b, const void **blob, size_t *size, se_error *err)
{
	size_t n_deals, bytes, detail_bytes;
	se_chunk_header *hdr;
	se_chunk_deal *deals;
	se_chunk_event *events;
	size_t first = 0, d = 0;
	int rc;

	if (sort_rows(b) != SE_OK)
		return se_error_set(err, SE_ENOMEM, "out of memory packing deal histories");
	drop_repeats(b);
	if ((rc = order_ties(b, err)) != SE_OK)
		return rc;
	n_deals = count_deals(b->rows, b->n_rows);
	bytes = sizeof *hdr + n_deals * sizeof *deals + b->n_rows * sizeof *events;
	detail_bytes = sizeof(se_detail_header) + b->n_rows * DETAIL_EVENT_MAX;
	if (SE_VEC_RESERVE(b->blob, b->blob_cap, bytes, FIRST_CAP) != SE_OK ||
	    SE_VEC_RESERVE(b->detail, b->detail_cap, detail_bytes, FIRST_CAP) != SE_OK)
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
	b->detail_size = pack_detail(b->rows, b->n_rows, b->detail);
	*blob = b->blob;
	*size = bytes;
	return SE_OK;
}

void se_history_builder_detail(const se_history_builder *b, const void **blob, size_t *size)
{
	*blob = b->detail;
	*size = b->detail_size;
}

/* Reads a varint no further than end; NULL if it runs past (a corrupt blob). */
static const unsigned char *get_varint_in(const unsigned char *p, const unsigned char *end, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned shift = 0; p < end && shift < 64; shift += 7) {
		unsigned char c = *p++;

		x |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*v = x;
			return p;
		}
	}
	return NULL;
}

/* The detail of event e (SED1 fixed records or SED2 varints, see
 * pack_detail); *pos and *prev carry the SED2 stream's place. */
static int read_detail(const se_detail_header *dhdr, size_t detail_size, uint32_t e, size_t *pos,
                       int64_t *prev, se_history_row *r)
{
	const unsigned char *base = (const unsigned char *)dhdr;
	const unsigned char *p = base + *pos, *end = base + detail_size;
	uint64_t v, mv;

	if (dhdr->magic == SE_DETAIL_MAGIC) {
		se_detail_event det;

		memcpy(&det, base + sizeof *dhdr + (size_t)e * sizeof det, sizeof det);
		r->rowid = det.rowid;
		r->manager = det.manager;
		r->source = det.source;
		r->amount = det.amount;
		return SE_OK;
	}
	if ((p = get_varint_in(p, end, &v)) == NULL || (p = get_varint_in(p, end, &mv)) == NULL)
		return SE_EDB;
	*prev += unzigzag(v);
	r->rowid = *prev;
	r->manager = (uint32_t)(mv >> 1);
	if ((p = get_varint_in(p, end, &v)) == NULL)
		return SE_EDB;
	r->source = (uint32_t)v;
	r->amount = NAN;
	if (mv & 1) {
		if ((size_t)(end - p) < sizeof r->amount)
			return SE_EDB;
		memcpy(&r->amount, p, sizeof r->amount);
		p += sizeof r->amount;
	}
	*pos = (size_t)(p - base);
	return SE_OK;
}

int se_history_builder_add_packed(se_history_builder *b, const void *data, size_t data_size,
                                  const void *detail, size_t detail_size, se_error *err)
{
	const se_detail_header *dhdr = detail;
	se_chunk_view v;
	size_t e = 0, pos = sizeof *dhdr;
	int64_t prev = 0;
	int rc;

	if ((rc = se_history_view(data, data_size, &v, err)) != SE_OK)
		return rc;
	if (detail_size < sizeof *dhdr || dhdr->n_events != v.n_events ||
	    (dhdr->magic == SE_DETAIL_MAGIC
	         ? detail_size != sizeof *dhdr + (size_t)v.n_events * sizeof(se_detail_event)
	         : dhdr->magic != SE_DETAIL_MAGIC2))
		return se_error_set(err, SE_EDB, "cache chunk is corrupt (detail)");
	for (uint32_t i = 0; i < v.n_deals; i++) {
		for (uint32_t k = 0; k < v.deals[i].n_events; k++, e++) {
			se_history_row r = {
				.deal = v.deals[i].deal, .ts = v.events[e].ts,
				.status = v.events[e].status, .pipeline = v.events[e].pipeline,
			};

			if (read_detail(dhdr, detail_size, (uint32_t)e, &pos, &prev, &r) != SE_OK)
				return se_error_set(err, SE_EDB, "cache chunk is corrupt (detail)");
			if ((rc = se_history_builder_add(b, &r, err)) != SE_OK)
				return rc;
		}
	}
	if (dhdr->magic == SE_DETAIL_MAGIC2 && pos != detail_size)
		return se_error_set(err, SE_EDB, "cache chunk is corrupt (detail)");
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

/* ---- rows kept in memory -------------------------------------------------- */

/* Each chunk's rows go into a list of blocks that double from DELTA_BLOCK_MIN
 * up to DELTA_BLOCK_MAX bytes: a small import touching many chunks takes
 * little, a large one wastes at most one block a chunk (at 10M deals a few
 * hundred chunks are open at once: 16 KiB blocks waste a few MiB of the
 * budget, 64 KiB ones a third of it). */
#define DELTA_BLOCK_MIN 256
#define DELTA_BLOCK_MAX (16u << 10)
/* The longest encoded row: seven varints of at most 10 bytes and a double. */
#define DELTA_ROW_MAX (7 * 10 + 8)

typedef struct delta_block {
	struct delta_block *next;
	size_t used, cap;
	unsigned char data[];
} delta_block;

typedef struct delta_bucket {
	delta_block *head, *tail;
	int64_t last_rowid, last_ts;  /* rows are coded as differences to these */
} delta_bucket;

struct se_history_delta {
	delta_bucket *buckets;  /* by chunk id */
	size_t n_buckets;
	size_t bytes;
	int64_t rows;
};

int se_history_delta_new(se_history_delta **out, se_error *err)
{
	se_history_delta *d = calloc(1, sizeof *d);

	if (d == NULL)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	*out = d;
	return SE_OK;
}

static void free_blocks(delta_bucket *bk)
{
	delta_block *blk = bk->head;

	while (blk != NULL) {
		delta_block *next = blk->next;

		free(blk);
		blk = next;
	}
	bk->head = bk->tail = NULL;
}

void se_history_delta_free(se_history_delta *d)
{
	if (d == NULL)
		return;
	for (size_t c = 0; c < d->n_buckets; c++)
		free_blocks(&d->buckets[c]);
	free(d->buckets);
	free(d);
}

size_t se_history_delta_bytes(const se_history_delta *d)
{
	return d->bytes;
}

int64_t se_history_delta_rows(const se_history_delta *d)
{
	return d->rows;
}

static int delta_bucket_of(se_history_delta *d, size_t chunk, delta_bucket **out)
{
	if (chunk >= d->n_buckets) {
		size_t old = d->n_buckets;

		if (SE_VEC_RESERVE(d->buckets, d->n_buckets, chunk + 1, 64) != SE_OK)
			return SE_ENOMEM;
		memset(d->buckets + old, 0, (d->n_buckets - old) * sizeof *d->buckets);
	}
	*out = &d->buckets[chunk];
	return SE_OK;
}

int se_history_delta_add(se_history_delta *d, const se_history_row *row, se_error *err)
{
	size_t chunk = (size_t)((uint64_t)row->deal >> SE_CHUNK_SHIFT);
	unsigned char buf[DELTA_ROW_MAX], *p = buf;
	int has_amount = !isnan(row->amount);
	delta_bucket *bk;
	delta_block *blk;
	size_t n;

	if (delta_bucket_of(d, chunk, &bk) != SE_OK)
		return se_error_set(err, SE_ENOMEM, "out of memory keeping imported rows");
	p = put_varint(p, (uint64_t)(row->rowid - bk->last_rowid));
	p = put_varint(p, (uint64_t)row->deal & (SE_CHUNK_DEALS - 1));
	p = put_varint(p, zigzag(row->ts - bk->last_ts));
	p = put_varint(p, (uint64_t)row->status << 1 | (uint64_t)has_amount);
	p = put_varint(p, row->pipeline);
	p = put_varint(p, row->manager);
	p = put_varint(p, row->source);
	if (has_amount) {
		memcpy(p, &row->amount, sizeof row->amount);
		p += sizeof row->amount;
	}
	n = (size_t)(p - buf);
	blk = bk->tail;
	if (blk == NULL || blk->cap - blk->used < n) {
		size_t cap = blk == NULL ? DELTA_BLOCK_MIN : blk->cap * 2;
		delta_block *nb;

		if (cap > DELTA_BLOCK_MAX)
			cap = DELTA_BLOCK_MAX;
		if ((nb = malloc(sizeof *nb + cap)) == NULL)
			return se_error_set(err, SE_ENOMEM, "out of memory keeping imported rows");
		nb->next = NULL;
		nb->used = 0;
		nb->cap = cap;
		if (blk == NULL)
			bk->head = nb;
		else
			blk->next = nb;
		bk->tail = blk = nb;
		d->bytes += sizeof *nb + cap;
	}
	memcpy(blk->data + blk->used, buf, n);
	blk->used += n;
	bk->last_rowid = row->rowid;
	bk->last_ts = row->ts;
	d->rows++;
	return SE_OK;
}

int64_t se_history_delta_next_chunk(const se_history_delta *d, int64_t after)
{
	for (size_t c = after < 0 ? 0 : (size_t)after + 1; c < d->n_buckets; c++)
		if (d->buckets[c].head != NULL)
			return (int64_t)c;
	return -1;
}

int se_history_delta_take(se_history_delta *d, int64_t chunk, se_history_builder *b, se_error *err)
{
	delta_bucket *bk;
	int64_t rowid = 0, ts = 0;
	int rc = SE_OK;

	if (chunk < 0 || (size_t)chunk >= d->n_buckets)
		return SE_OK;
	bk = &d->buckets[chunk];
	for (delta_block *blk = bk->head; blk != NULL && rc == SE_OK; blk = blk->next) {
		const unsigned char *p = blk->data, *end = blk->data + blk->used;

		while (p < end && rc == SE_OK) {
			se_history_row r = { .key = NULL };
			uint64_t v;
			int has_amount;

			p = get_varint(p, &v);
			rowid += (int64_t)v;
			p = get_varint(p, &v);
			r.deal = (int64_t)((uint64_t)chunk << SE_CHUNK_SHIFT | v);
			p = get_varint(p, &v);
			ts += unzigzag(v);
			r.rowid = rowid;
			r.ts = ts;
			p = get_varint(p, &v);
			r.status = (uint32_t)(v >> 1);
			has_amount = (int)(v & 1);
			p = get_varint(p, &v);
			r.pipeline = (uint32_t)v;
			p = get_varint(p, &v);
			r.manager = (uint32_t)v;
			p = get_varint(p, &v);
			r.source = (uint32_t)v;
			r.amount = NAN;
			if (has_amount) {
				memcpy(&r.amount, p, sizeof r.amount);
				p += sizeof r.amount;
			}
			d->rows--;
			rc = se_history_builder_add(b, &r, err);
		}
	}
	for (delta_block *blk = bk->head; blk != NULL; blk = blk->next)
		d->bytes -= sizeof *blk + blk->cap;
	free_blocks(bk);
	bk->last_rowid = bk->last_ts = 0;
	return rc;
}
