/*
 * test_history.c: packed per-deal histories (core/history.h), checked
 * against an oracle written here in the plainest way: every row sorted by
 * (deal, time, event id as bytes, a shorter prefix first), and each deal's
 * manager (latest non-empty), source (earliest non-empty) and amount
 * (latest present) found by one loop.  Generated rows crowd a few seconds
 * so ties are common.  Then: the detail blob carries a chunk through
 * unpacking and repacking unchanged (also from the older SED1 layout),
 * ties fetch only the ids they need, the in-memory delta gives back each
 * chunk's rows, and corrupt blobs are refused by name.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "history.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROWS 20000

typedef struct row {
	se_history_row r;
	char key[24];
} row;

typedef struct fixture {
	row rows[MAX_ROWS];
	size_t n;
	se_history_builder *b;
	se_error err;
	int fetches;           /* key_fetch calls */
	uint64_t seed;
} fixture;

static uint64_t next_rand(fixture *f)
{
	f->seed ^= f->seed << 13;
	f->seed ^= f->seed >> 7;
	f->seed ^= f->seed << 17;
	return f->seed;
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);

	if (f == NULL || se_history_builder_new(&f->b, &f->err) != SE_OK) {
		free(f);
		return -1;
	}
	f->seed = 0x9E3779B97F4A7C15ull;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	se_history_builder_free(f->b);
	free(f);
	return 0;
}

/* n rows of deals [first_deal, first_deal + deals), rowids 1.. in order,
 * event ids "e<rowid>" (so "e10" sorts before "e9"), times within ten
 * seconds of a deal's start so ties happen. */
static void generate(fixture *f, size_t n, int64_t first_deal, int64_t deals)
{
	f->n = n;
	for (size_t i = 0; i < n; i++) {
		row *x = &f->rows[i];
		int64_t deal = first_deal + (int64_t)(next_rand(f) % (uint64_t)deals);
		uint64_t r = next_rand(f);

		memset(x, 0, sizeof *x);
		x->r.deal = deal;
		x->r.ts = 1700000000 + deal * 100 + (int64_t)(r % 10);
		x->r.rowid = (int64_t)i + 1;
		snprintf(x->key, sizeof x->key, "e%zu", i + 1);
		x->r.key = x->key;
		x->r.key_len = strlen(x->key);
		x->r.status = (uint32_t)(r >> 8) % 7 + 1;
		x->r.pipeline = (uint32_t)(r >> 16) % 3;
		x->r.manager = (uint32_t)(r >> 24) % 4;
		x->r.source = (uint32_t)(r >> 32) % 4;
		x->r.amount = (r >> 40) % 3 == 0 ? NAN : (double)((r >> 44) % 100000) / 100;
	}
}

static int oracle_order(const void *pa, const void *pb)
{
	const row *a = pa, *b = pb;
	size_t n = a->r.key_len < b->r.key_len ? a->r.key_len : b->r.key_len;
	int c;

	if (a->r.deal != b->r.deal)
		return a->r.deal < b->r.deal ? -1 : 1;
	if (a->r.ts != b->r.ts)
		return a->r.ts < b->r.ts ? -1 : 1;
	if ((c = memcmp(a->key, b->key, n)) != 0)
		return c;
	return (a->r.key_len > b->r.key_len) - (a->r.key_len < b->r.key_len);
}

/* Compares a packed chunk with the oracle over rows[0..n). */
static void check_chunk(const row *given, size_t n, const void *blob, size_t size)
{
	row *sorted = malloc(n * sizeof *sorted);
	se_chunk_view v;
	se_error err = { 0 };
	size_t i = 0, d = 0;

	assert_non_null(sorted);
	memcpy(sorted, given, n * sizeof *sorted);
	qsort(sorted, n, sizeof *sorted, oracle_order);
	assert_int_equal(se_history_view(blob, size, &v, &err), SE_OK);
	assert_int_equal(v.n_events, n);
	while (i < n) {
		size_t j = i;
		uint32_t manager = 0, source = 0;
		double amount = NAN;

		while (j < n && sorted[j].r.deal == sorted[i].r.deal) {
			if (sorted[j].r.manager != 0)
				manager = sorted[j].r.manager;
			if (source == 0)
				source = sorted[j].r.source;
			if (!isnan(sorted[j].r.amount))
				amount = sorted[j].r.amount;
			j++;
		}
		assert_true(d < v.n_deals);
		assert_int_equal(v.deals[d].deal, sorted[i].r.deal);
		assert_int_equal(v.deals[d].n_events, j - i);
		assert_int_equal(v.deals[d].manager, manager);
		assert_int_equal(v.deals[d].source, source);
		assert_true(isnan(amount) ? isnan(v.deals[d].amount) : v.deals[d].amount == amount);
		for (size_t k = i; k < j; k++) {
			if (v.events[k].ts != sorted[k].r.ts || v.events[k].status != sorted[k].r.status ||
			    v.events[k].pipeline != sorted[k].r.pipeline)
				fail_msg("event %zu (deal %lld): got ts %lld status %u, want %s at %lld status %u", k,
				         (long long)sorted[k].r.deal, (long long)v.events[k].ts, v.events[k].status,
				         sorted[k].key, (long long)sorted[k].r.ts, sorted[k].r.status);
		}
		d++;
		i = j;
	}
	assert_int_equal(d, v.n_deals);
	free(sorted);
}

static void add_all(fixture *f, int with_keys)
{
	/* In a shuffled order: the builder must not rely on the caller's. */
	size_t *order = malloc(f->n * sizeof *order);

	assert_non_null(order);
	for (size_t i = 0; i < f->n; i++)
		order[i] = i;
	for (size_t i = f->n; i > 1; i--) {
		size_t j = (size_t)(next_rand(f) % i), t = order[i - 1];

		order[i - 1] = order[j];
		order[j] = t;
	}
	for (size_t i = 0; i < f->n; i++) {
		se_history_row r = f->rows[order[i]].r;

		if (!with_keys) {
			r.key = NULL;
			r.key_len = 0;
		}
		assert_int_equal(se_history_builder_add(f->b, &r, &f->err), SE_OK);
	}
	free(order);
}

static int fetch_key(void *ud, int64_t rowid, const char **key, size_t *len, se_error *err)
{
	fixture *f = ud;

	(void)err;
	assert_true(rowid >= 1 && (size_t)rowid <= f->n);
	f->fetches++;
	*key = f->rows[rowid - 1].key;
	*len = strlen(*key);
	return SE_OK;
}

/* The same, for rowids moved up by 100000. */
static int fetch_key_shifted(void *ud, int64_t rowid, const char **key, size_t *len, se_error *err)
{
	return fetch_key(ud, rowid > 100000 ? rowid - 100000 : rowid, key, len, err);
}

static void test_pack_matches_oracle(void **state)
{
	fixture *f = *state;
	const void *blob;
	size_t size;

	generate(f, 5000, 1, 600);
	add_all(f, 1);
	assert_int_equal(se_history_builder_pack(f->b, &blob, &size, &f->err), SE_OK);
	check_chunk(f->rows, f->n, blob, size);
}

/* Deals spread wider than a chunk take the other sort; the same order. */
static void test_pack_sparse_deals(void **state)
{
	fixture *f = *state;
	const void *blob;
	size_t size;

	generate(f, 300, 5, 1000000);
	add_all(f, 1);
	assert_int_equal(se_history_builder_pack(f->b, &blob, &size, &f->err), SE_OK);
	check_chunk(f->rows, f->n, blob, size);
}

/* A deal with a long history (more than the insertion sort takes). */
static void test_pack_long_history(void **state)
{
	fixture *f = *state;
	const void *blob;
	size_t size;

	generate(f, 400, 7, 2);
	add_all(f, 1);
	assert_int_equal(se_history_builder_pack(f->b, &blob, &size, &f->err), SE_OK);
	check_chunk(f->rows, f->n, blob, size);
}

static void test_empty_pack(void **state)
{
	fixture *f = *state;
	const void *blob;
	size_t size;
	se_chunk_view v;

	assert_int_equal(se_history_builder_pack(f->b, &blob, &size, &f->err), SE_OK);
	assert_int_equal(se_history_view(blob, size, &v, &f->err), SE_OK);
	assert_int_equal(v.n_deals, 0);
	assert_int_equal(v.n_events, 0);
}

/* Without ids, only rows in a tie are looked up; with no way to look them
 * up, a tie is an error, not a guess. */
static void test_ties_fetch_only_what_they_need(void **state)
{
	fixture *f = *state;
	const void *blob;
	size_t size, tied = 0;
	row *sorted;

	generate(f, 3000, 1, 400);
	sorted = malloc(f->n * sizeof *sorted);
	assert_non_null(sorted);
	memcpy(sorted, f->rows, f->n * sizeof *sorted);
	qsort(sorted, f->n, sizeof *sorted, oracle_order);
	for (size_t i = 0; i < f->n; i++)
		tied += (i > 0 && sorted[i - 1].r.deal == sorted[i].r.deal && sorted[i - 1].r.ts == sorted[i].r.ts) ||
		        (i + 1 < f->n && sorted[i + 1].r.deal == sorted[i].r.deal && sorted[i + 1].r.ts == sorted[i].r.ts);
	free(sorted);
	assert_true(tied > 100 && tied < f->n);

	add_all(f, 0);
	assert_int_equal(se_history_builder_pack(f->b, &blob, &size, &f->err), SE_EDB);
	assert_string_equal(f->err.msg, "event id needed to order a tie, and none known");

	se_history_builder_reset(f->b);
	se_history_builder_key_fetch(f->b, fetch_key, f);
	add_all(f, 0);
	assert_int_equal(se_history_builder_pack(f->b, &blob, &size, &f->err), SE_OK);
	check_chunk(f->rows, f->n, blob, size);
	assert_int_equal(f->fetches, tied);
}

/* Unpacking a chunk with its detail and packing it again gives the same
 * bytes; the SED1 layout of older stores reads the same. */
static void test_detail_round_trip(void **state)
{
	fixture *f = *state;
	const void *blob, *detail, *blob2, *detail2;
	size_t size, dsize, size2, dsize2;
	void *data_copy, *detail_copy, *sed1;
	se_detail_header *h1;
	se_history_builder *b2;
	size_t sed1_size;
	row *sorted;

	generate(f, 4000, 1, 500);
	add_all(f, 1);
	assert_int_equal(se_history_builder_pack(f->b, &blob, &size, &f->err), SE_OK);
	se_history_builder_detail(f->b, &detail, &dsize);
	assert_true(dsize < 4000 * sizeof(se_detail_event)); /* smaller than SED1 */
	data_copy = malloc(size);
	detail_copy = malloc(dsize);
	assert_non_null(data_copy);
	assert_non_null(detail_copy);
	memcpy(data_copy, blob, size);
	memcpy(detail_copy, detail, dsize);

	assert_int_equal(se_history_builder_new(&b2, &f->err), SE_OK);
	se_history_builder_key_fetch(b2, fetch_key, f);
	assert_int_equal(se_history_builder_add_packed(b2, data_copy, size, detail_copy, dsize, &f->err), SE_OK);
	assert_int_equal(se_history_builder_pack(b2, &blob2, &size2, &f->err), SE_OK);
	se_history_builder_detail(b2, &detail2, &dsize2);
	assert_int_equal(size2, size);
	assert_memory_equal(blob2, data_copy, size);
	assert_int_equal(dsize2, dsize);
	assert_memory_equal(detail2, detail_copy, dsize);

	/* The same chunk's detail written the old way, by hand. */
	sorted = malloc(f->n * sizeof *sorted);
	assert_non_null(sorted);
	memcpy(sorted, f->rows, f->n * sizeof *sorted);
	qsort(sorted, f->n, sizeof *sorted, oracle_order);
	sed1_size = sizeof *h1 + f->n * sizeof(se_detail_event);
	sed1 = calloc(1, sed1_size);
	assert_non_null(sed1);
	h1 = sed1;
	h1->magic = SE_DETAIL_MAGIC;
	h1->n_events = (uint32_t)f->n;
	for (size_t i = 0; i < f->n; i++) {
		se_detail_event e = { .rowid = sorted[i].r.rowid, .manager = sorted[i].r.manager,
			              .source = sorted[i].r.source, .amount = sorted[i].r.amount };

		memcpy((char *)sed1 + sizeof *h1 + i * sizeof e, &e, sizeof e);
	}
	se_history_builder_reset(b2);
	assert_int_equal(se_history_builder_add_packed(b2, data_copy, size, sed1, sed1_size, &f->err), SE_OK);
	assert_int_equal(se_history_builder_pack(b2, &blob2, &size2, &f->err), SE_OK);
	se_history_builder_detail(b2, &detail2, &dsize2);
	assert_memory_equal(blob2, data_copy, size);
	assert_int_equal(dsize2, dsize);
	assert_memory_equal(detail2, detail_copy, dsize); /* rewritten as SED2 */

	/* A detail cut short, with bytes left over, or for another number of
	 * events, is refused. */
	se_history_builder_reset(b2);
	assert_int_equal(se_history_builder_add_packed(b2, data_copy, size, detail_copy, dsize - 1, &f->err),
	                 SE_EDB);
	assert_string_equal(f->err.msg, "cache chunk is corrupt (detail)");
	detail_copy = realloc(detail_copy, dsize + 1);
	assert_non_null(detail_copy);
	((unsigned char *)detail_copy)[dsize] = 0;
	se_history_builder_reset(b2);
	assert_int_equal(se_history_builder_add_packed(b2, data_copy, size, detail_copy, dsize + 1, &f->err),
	                 SE_EDB);
	assert_string_equal(f->err.msg, "cache chunk is corrupt (detail)");
	se_history_builder_reset(b2);
	h1->n_events--;
	assert_int_equal(se_history_builder_add_packed(b2, data_copy, size, sed1, sed1_size, &f->err), SE_EDB);
	assert_string_equal(f->err.msg, "cache chunk is corrupt (detail)");

	se_history_builder_free(b2);
	free(sorted);
	free(sed1);
	free(data_copy);
	free(detail_copy);
}

static void test_view_refuses_corrupt_blobs(void **state)
{
	fixture *f = *state;
	const void *blob;
	size_t size;
	unsigned char *copy;
	se_chunk_view v;
	se_chunk_header *h;
	se_chunk_deal *deals;
	char want[128];

	generate(f, 50, 1, 10);
	add_all(f, 1);
	assert_int_equal(se_history_builder_pack(f->b, &blob, &size, &f->err), SE_OK);
	copy = malloc(size);
	assert_non_null(copy);
	memcpy(copy, blob, size);
	h = (se_chunk_header *)copy;
	deals = (se_chunk_deal *)(h + 1);

	assert_int_equal(se_history_view(copy, sizeof *h - 1, &v, &f->err), SE_EDB);
	assert_string_equal(f->err.msg, "cache chunk is corrupt (bad header)");
	assert_int_equal(se_history_view(copy, size - 1, &v, &f->err), SE_EDB);
	snprintf(want, sizeof want, "cache chunk is corrupt (size %zu, expected %zu)", size - 1, size);
	assert_string_equal(f->err.msg, want);
	deals[0].n_events++;
	assert_int_equal(se_history_view(copy, size, &v, &f->err), SE_EDB);
	assert_string_equal(f->err.msg, "cache chunk is corrupt (event counts)");
	deals[0].n_events--;
	h->magic ^= 0xFF000000u; /* what a foreign byte order looks like */
	assert_int_equal(se_history_view(copy, size, &v, &f->err), SE_EDB);
	assert_string_equal(f->err.msg, "cache chunk is corrupt (bad header)");
	h->magic ^= 0xFF000000u;
	assert_int_equal(se_history_view(copy, size, &v, &f->err), SE_OK);
	free(copy);
}

/* Rows kept in memory, grouped by chunk: each chunk gives back exactly its
 * rows (through the same packing), the others stay until taken. */
static void test_delta_by_chunk(void **state)
{
	fixture *f = *state;
	se_history_delta *d;
	static const int64_t chunks[] = { 0, 2, 5 };
	row *per[3];
	size_t n_per[3] = { 0 };
	const void *blob;
	size_t size, bytes;

	/* 15000 rows over three chunks: one chunk's rows span many blocks. */
	assert_int_equal(se_history_delta_new(&d, &f->err), SE_OK);
	generate(f, 15000, 1, SE_CHUNK_DEALS - 1);
	for (int c = 0; c < 3; c++) {
		per[c] = malloc(f->n * sizeof *per[c]);
		assert_non_null(per[c]);
	}
	for (size_t i = 0; i < f->n; i++) {
		int c = (int)(i % 3);
		row *x = &f->rows[i];

		x->r.deal += chunks[c] << SE_CHUNK_SHIFT;
		per[c][n_per[c]++] = *x;
		assert_int_equal(se_history_delta_add(d, &x->r, &f->err), SE_OK);
	}
	assert_int_equal(se_history_delta_rows(d), 15000);
	bytes = se_history_delta_bytes(d);
	assert_true(bytes > 15000 * 8 && bytes < 15000 * 40);
	assert_int_equal(se_history_delta_next_chunk(d, -1), 0);
	assert_int_equal(se_history_delta_next_chunk(d, 0), 2);
	assert_int_equal(se_history_delta_next_chunk(d, 2), 5);
	assert_int_equal(se_history_delta_next_chunk(d, 5), -1);

	se_history_builder_key_fetch(f->b, fetch_key, f);
	assert_int_equal(se_history_delta_take(d, 2, f->b, &f->err), SE_OK);
	assert_int_equal(se_history_delta_rows(d), 10000);
	assert_true(se_history_delta_bytes(d) < bytes);
	assert_int_equal(se_history_builder_pack(f->b, &blob, &size, &f->err), SE_OK);
	check_chunk(per[1], n_per[1], blob, size);
	assert_int_equal(se_history_delta_next_chunk(d, 0), 5);

	/* A taken chunk starts afresh: a later import's rows for it (higher
	 * rowids, other times) come back right on their own. */
	{
		size_t half = n_per[1] / 2;

		for (size_t i = 0; i < half; i++) {
			per[1][i].r.rowid += 100000;
			per[1][i].r.ts -= 50;
			assert_int_equal(se_history_delta_add(d, &per[1][i].r, &f->err), SE_OK);
		}
		se_history_builder_reset(f->b);
		se_history_builder_key_fetch(f->b, fetch_key_shifted, f);
		assert_int_equal(se_history_delta_take(d, 2, f->b, &f->err), SE_OK);
		assert_int_equal(se_history_builder_pack(f->b, &blob, &size, &f->err), SE_OK);
		check_chunk(per[1], half, blob, size);
	}

	for (int c = 0; c < 3; c += 2) {
		se_history_builder_reset(f->b);
		assert_int_equal(se_history_delta_take(d, chunks[c], f->b, &f->err), SE_OK);
		assert_int_equal(se_history_builder_pack(f->b, &blob, &size, &f->err), SE_OK);
		check_chunk(per[c], n_per[c], blob, size);
	}
	assert_int_equal(se_history_delta_rows(d), 0);
	assert_int_equal(se_history_delta_bytes(d), 0);
	assert_int_equal(se_history_delta_next_chunk(d, -1), -1);
	/* Taking a chunk never added, or one past the end, adds nothing. */
	se_history_builder_reset(f->b);
	assert_int_equal(se_history_delta_take(d, 1, f->b, &f->err), SE_OK);
	assert_int_equal(se_history_delta_take(d, 999, f->b, &f->err), SE_OK);
	assert_int_equal(se_history_builder_pack(f->b, &blob, &size, &f->err), SE_OK);
	assert_int_equal(((const se_chunk_header *)blob)->n_events, 0);
	for (int c = 0; c < 3; c++)
		free(per[c]);
	se_history_delta_free(d);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_pack_matches_oracle),
		T(test_pack_sparse_deals),
		T(test_pack_long_history),
		T(test_empty_pack),
		T(test_ties_fetch_only_what_they_need),
		T(test_detail_round_trip),
		T(test_view_refuses_corrupt_blobs),
		T(test_delta_by_chunk),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
